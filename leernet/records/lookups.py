"""What an incoming mail names, looked up in batches: reply tokens and Message-IDs we sent.

The inbox runs these for every FETCH batch (``Processor.prepare``) or single mail;
the statements are built once. ``IN (...)`` lists go in chunks well below
SQLite's and asyncpg's limits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.calendar.invite import series_uid
from leernet.store import schema as t
from leernet.store.chunks import chunked


@dataclass(frozen=True, slots=True)
class Candidate:
    """The participant a token or a sent Message-ID points at (not yet verified)."""

    participant_id: int
    network_id: int
    slug: str
    email: str
    name: str
    series_uid: str
    token: str
    sequence: int = 0  # the SEQUENCE of the latest invite sent to this participant


# Built once: the inbox runs these for every batch or mail.
_CAND = (
    t.participants.c.id,
    t.participants.c.network_id,
    t.participants.c.email,
    t.participants.c.name,
    t.participants.c.token,
    t.networks.c.slug,
    t.networks.c.sequence,
)
_BY_TOKENS = (
    select(*_CAND)
    .join(t.networks, t.networks.c.id == t.participants.c.network_id)
    .where(
        t.participants.c.token.in_(bindparam("tokens", expanding=True)),
        t.participants.c.removed_at.is_(None),
    )
)
_BY_MESSAGE_IDS = (
    select(t.outbox.c.message_id, t.outbox.c.key, *_CAND)
    .select_from(
        t.outbox.outerjoin(
            t.participants,
            (t.participants.c.network_id == t.outbox.c.network_id)
            & (t.participants.c.email == t.outbox.c.recipient)
            # As for a token: a removed participant is nobody's reference any more.
            & t.participants.c.removed_at.is_(None),
        )
    )
    .outerjoin(t.networks, t.networks.c.id == t.outbox.c.network_id)
    .where(t.outbox.c.message_id.in_(bindparam("ids", expanding=True)))
)


def _computable(message_id: str, key: str) -> bool:
    """A Message-ID of the old form, sha256 of its key: anyone can compute it, so it names nobody.

    Mail queued before Message-IDs carried the secret keeps its id in the outbox.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return message_id.startswith(f"<leernet.{digest}@")


async def candidates_by_token(
    conn: AsyncConnection, tokens: AbstractSet[str], service: str
) -> dict[str, Candidate]:
    """The participants (of running networks, not removed) whose reply tokens these are."""
    found: dict[str, Candidate] = {}
    for chunk in chunked(sorted(tokens)):
        rows = await conn.execute(_BY_TOKENS, {"tokens": list(chunk)})
        found.update((r.token, _candidate(r, service)) for r in rows)
    return found


def _candidate(r: Any, service: str) -> Candidate:
    return Candidate(
        participant_id=r.id,
        network_id=r.network_id,
        slug=r.slug,
        email=r.email,
        name=r.name,
        series_uid=series_uid(r.slug, service),
        token=r.token,
        sequence=r.sequence,
    )


async def sent_messages(
    conn: AsyncConnection, refs: list[str], service: str
) -> dict[str, tuple[Candidate | None, str]]:
    """Message-IDs we sent that this mail refers to -> (the participant it went to, its key)."""
    found: dict[str, tuple[Candidate | None, str]] = {}
    for chunk in chunked(refs):
        rows = await conn.execute(_BY_MESSAGE_IDS, {"ids": list(chunk)})
        found.update(
            (r.message_id, (_candidate(r, service) if r.id is not None else None, r.key))
            for r in rows
            if not _computable(r.message_id, r.key)
        )
    return found
