"""Networks asked for by mail and not yet started: the request behind each preview.

Stored in ``organiser_requests``.

A request is written when its preview is queued and carries the preview's reply
token: a random 130-bit capability that only the organiser's mailbox receives.
``claim`` marks a request used in the same statement that checks it was not, so
a confirmation replayed, or two in one batch, start nothing twice.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from leernet.mailer.tokens import TOKEN_LENGTH
from leernet.store import schema as t

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class Request:
    """One previewed request: who asked, the network file as understood, and its state."""

    id: int
    token: str
    organiser_email: str
    slug: str
    source: str
    created_at: datetime
    used: bool
    calendar: bytes | None = None  # the organiser's meeting series, when they sent one
    network_id: int | None = None  # set for a change to a running network (else a start)


def new_token() -> str:
    """A fresh preview token, shaped like a participant's (26 lower-case base32 characters)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower()[:TOKEN_LENGTH]


async def save(
    conn: AsyncConnection,
    *,
    token: str,
    organiser_email: str,
    slug: str,
    source: str,
    calendar: bytes | None,
    now: datetime,
    inbox_id: int,
    network_id: int | None = None,
) -> int:
    """Keep a previewed request; return its id."""
    result = await conn.execute(
        t.organiser_requests.insert().values(
            token=token,
            organiser_email=organiser_email.lower(),
            slug=slug,
            source=source,
            calendar=calendar,
            network_id=network_id,
            created_at=now,
            inbox_id=inbox_id,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def by_tokens(conn: AsyncConnection, tokens: Iterable[str]) -> list[Request]:
    """The requests whose preview token is among ``tokens``."""
    wanted = sorted({tok.lower() for tok in tokens})
    if not wanted:
        return []
    r = t.organiser_requests
    rows = await conn.execute(select(r).where(r.c.token.in_(wanted)))
    return [
        Request(
            x.id,
            x.token,
            x.organiser_email,
            x.slug,
            x.source,
            x.created_at,
            x.used_at is not None,
            bytes(x.calendar) if x.calendar is not None else None,
            x.network_id,
        )
        for x in rows
    ]


async def claim(
    conn: AsyncConnection, request_id: int, now: datetime, network_id: int | None
) -> bool:
    """Mark a request used; False when it already was (a replay: do nothing)."""
    r = t.organiser_requests
    done = await conn.execute(
        update(r)
        .where(r.c.id == request_id, r.c.used_at.is_(None))
        .values(used_at=now, network_id=network_id)
    )
    return bool(done.rowcount)


async def recent_count(conn: AsyncConnection, organiser_email: str, since: datetime) -> int:
    """How many previews this sender was sent since ``since`` (the rate limit)."""
    r = t.organiser_requests
    return int(
        (
            await conn.execute(
                select(func.count()).where(
                    r.c.organiser_email == organiser_email.lower(), r.c.created_at >= since
                )
            )
        ).scalar_one()
    )
