"""What the running service reads about itself from the store: its queues, its lock, its database.

``leernet health`` and the daemon's heartbeat ask these questions; so does the
demo, which follows the queues as they drain. Every function is a read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from leernet.mailer.queue import PENDING_STATES, OutboxState
from leernet.store import schema as t
from leernet.store.engine import sqlite_path
from leernet.store.lock import LOCK_KEY, sqlite_lock_free

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncConnection


async def _count(conn: AsyncConnection, *where: ColumnElement[bool]) -> int:
    return int((await conn.execute(select(func.count()).where(*where))).scalar_one())


async def queued(conn: AsyncConnection) -> int:
    """How many messages wait to be sent (queued or deferred)."""
    return await _count(conn, t.outbox.c.state.in_(PENDING_STATES))


async def overdue(conn: AsyncConnection, due_before: datetime) -> int:
    """How many waiting messages were due before ``due_before``."""
    return await _count(
        conn, t.outbox.c.state.in_(PENDING_STATES), t.outbox.c.next_attempt_at < due_before
    )


async def failed_since(conn: AsyncConnection, since: datetime) -> int:
    """How many messages failed for good since ``since``."""
    # A failed row's next_attempt_at is the moment of its last attempt.
    return await _count(
        conn, t.outbox.c.state == OutboxState.FAILED, t.outbox.c.next_attempt_at >= since
    )


async def next_retry(conn: AsyncConnection) -> datetime | None:
    """When the earliest waiting message is due, or None when nothing waits."""
    value = (
        await conn.execute(
            select(func.min(t.outbox.c.next_attempt_at)).where(t.outbox.c.state.in_(PENDING_STATES))
        )
    ).scalar()
    return value if isinstance(value, datetime) else None


async def network_of_tokens(conn: AsyncConnection, tokens: Sequence[str]) -> int | None:
    """The network of a participant whose reply token is among ``tokens``, if any."""
    if not tokens:
        return None
    query = select(t.participants.c.network_id).where(t.participants.c.token.in_(tokens))
    found = (await conn.execute(query.limit(1))).scalar()
    return int(found) if found is not None else None


async def sent_after(conn: AsyncConnection, outbox_id: int) -> list[tuple[int, str]]:
    """The (id, kind) of each message sent whose id is above ``outbox_id``, in order."""
    rows = await conn.execute(
        select(t.outbox.c.id, t.outbox.c.kind)
        .where(t.outbox.c.state == OutboxState.SENT, t.outbox.c.id > outbox_id)
        .order_by(t.outbox.c.id)
    )
    return [(int(i), str(kind)) for i, kind in rows]


async def processed_after(conn: AsyncConnection, inbox_id: int) -> list[tuple[int, str | None]]:
    """The (id, outcome) of each processed incoming mail whose id is above ``inbox_id``, in order."""
    rows = await conn.execute(
        select(t.inbox.c.id, t.inbox.c.outcome)
        .where(t.inbox.c.id > inbox_id, t.inbox.c.processed_at.is_not(None))
        .order_by(t.inbox.c.id)
    )
    return [(int(i), outcome) for i, outcome in rows]


async def daemon_running(conn: AsyncConnection, url: str) -> bool:
    """Whether a daemon holds the store's lock (a file lock for SQLite, an advisory lock else)."""
    path = sqlite_path(url)
    if path is not None:
        return not sqlite_lock_free(path)
    held = await conn.execute(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key AND granted"
        ),
        {"key": LOCK_KEY},
    )
    return bool(held.scalar())


async def database_writable(conn: AsyncConnection) -> bool:
    """False when PostgreSQL is a read-only replica; SQLite's file is checked by its path."""
    if make_url(str(conn.engine.url)).get_backend_name() != "postgresql":
        return True
    return not bool((await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar())
