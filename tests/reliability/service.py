"""An in-process ``leernet.daemon.Service`` on a real store, with a clock the test moves."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from leernet.daemon import Service
from leernet.store import open_store
from leernet.store import schema as t
from tests.reliability.harness import network_toml, people, register, settings_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

    from leernet.settings import Settings

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # ten days before the first session (2027-01-14)
FIRST = "2027-01-14T09:30:00"
PAST_T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # a network that has ended by the real clock
PAST_FIRST = "2025-01-16T09:30:00"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def outbox_rows(engine: AsyncEngine, **where: Any) -> list[Any]:
    # The bytes live in outbox_body (schema v3); the rows read as before, ``raw`` included.
    query = (
        select(t.outbox, t.outbox_body.c.raw)
        .select_from(t.outbox.outerjoin(t.outbox_body))
        .order_by(t.outbox.c.id)
    )
    for column, value in where.items():
        query = query.where(t.outbox.c[column] == value)
    async with engine.connect() as conn:
        return list(await conn.execute(query))


@contextlib.asynccontextmanager
async def running_service(
    tmp: Path, *, n: int = 2, toml: str | None = None, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[tuple[Service, Clock, Settings]]:
    """A registered network (``n`` participants with managers) and a Service over its store."""
    clock = clock or Clock()
    s = settings_for(tmp / "leernet.db", **settings)
    await register(tmp, toml or network_toml(people(n), first=FIRST), s, clock.now)
    engine = await open_store(s.database_url)
    try:
        yield Service(engine, s, clock), clock, s
    finally:
        await engine.dispose()


async def evaluation_requests(service: Service, clock: Clock, year: int = 2027) -> list[Any]:
    """Move the clock past session 1 and let the planner queue its evaluation requests."""
    # Session 1 (the 14th, or the 16th in 2025) ends 12:00; the request is due at 13:00.
    clock.now = datetime(year, 1, 14 if year == 2027 else 16, 13, 5, tzinfo=UTC)
    await service.plan_once()
    await service.send_once()
    return await outbox_rows(service.engine, kind="eval-request")


def answers_to(request: Any, n: int, *, style: str = "gmail_top") -> bytes:
    """Participant ``n``'s answers to an evaluation request, threaded to it."""
    from leernet.demo.people import evaluation_reply  # noqa: PLC0415

    return evaluation_reply(
        request.raw,
        answers={1: "4", 2: f"Ik neem idee {n} mee.", 3: "Meer tijd.", 4: "ja"},
        style=style,
        date=datetime(2027, 1, 14, 15, n % 60, tzinfo=UTC),
        message_id=f"<answer-{n}-{request.recipient}@example.com>",
    )


_UIDS = itertools.count(1)


async def process(service: Service, raw: bytes) -> tuple[Any, list[Any]]:
    """Archive and process one mail as the inbox would; return its disposition and the new outbox rows."""
    import hashlib  # noqa: PLC0415

    before = {r.id for r in await outbox_rows(service.engine)}
    async with service.engine.begin() as conn:
        row = await conn.execute(
            t.inbox.insert().values(
                mailbox="test",
                uidvalidity=1,
                uid=next(_UIDS),
                sha256=hashlib.sha256(raw).hexdigest(),
                raw=raw,
                size=len(raw),
                received_at=service.now(),
            )
        )
        row_id = row.inserted_primary_key[0]
        disposition = await service.processor(conn, row_id, raw)
        await conn.execute(  # what mailer.archive.Archive.store writes back
            t.inbox.update()
            .where(t.inbox.c.id == row_id)
            .values(
                outcome=disposition.outcome,
                reason=disposition.reason,
                network_id=disposition.network_id,
                participant_id=disposition.participant_id,
                processed_at=service.now(),
            )
        )
    return disposition, [r for r in await outbox_rows(service.engine) if r.id not in before]
