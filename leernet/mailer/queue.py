"""The durable outbox queue: its rows, their states, and every statement on them.

Life of a row (``outbox.state``)::

    queued ──claim──► sending ──250──► sent
      ▲                 │  ├──4xx/timeout/drop──► deferred ──(due again)──► sending …
      │                 │  │                        └── older than send_give_up_hours ─► failed
      │                 │  └──5xx──► failed   (on_failure called once, same transaction)
      │◄─ never reached DATA ─┤
      │                 └── crash after DATA ─► resend ──claim──► resending ──250──► sent
      │                                                              └── crash after DATA
      │                                                                  ─► sent (unconfirmed)
      └── not_after passed before sending ──► skipped (never sent late)

A row is marked ``sending`` and committed before any SMTP command, and ``sent``
only after the server's 250 to DATA: delivery is at-least-once (DESIGN.md). A
single daemon runs per database, so every row in flight found when it starts
is an orphan of a crash; ``recover`` (or ``drain(..., recover_orphans=True)``)
settles them with the attempt log (``leernet.mailer.attempts``): back to
``queued`` when the server cannot have them, ``resend`` when it may, so that no
message is delivered more than twice. On PostgreSQL rows are claimed
``FOR UPDATE SKIP LOCKED`` so several senders can share the table (and, without
an attempt log, every row in flight counts as perhaps delivered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.store.chunks import chunked
from leernet.store.schema import outbox, outbox_body


class OutboxState(StrEnum):
    """The state of one outbox row (the values are what the ``state`` column holds)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    # A crash cut an attempt that had reached DATA (``attempts``), so perhaps delivered
    # already; "resending": such a row being sent again. If a crash cuts it after DATA too
    # it is not sent a third time: at least once, at most twice.
    RESEND = "resend"
    RESENDING = "resending"


S = OutboxState
IN_FLIGHT = (S.SENDING, S.RESENDING)
DUE_STATES = (S.QUEUED, S.DEFERRED, S.RESEND)
PENDING_STATES = DUE_STATES  # waiting to be sent: what erase and update cancel


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One composed message to queue; ``key`` makes queuing it twice a no-op."""

    key: str
    kind: str
    recipient: str
    message_id: str
    raw: bytes
    network_id: int | None
    not_after: datetime | None = None
    not_before: datetime | None = None
    about_inbox_id: int | None = None  # the incoming mail it is about (a notice quoting it)


@dataclass(frozen=True, slots=True)
class FailedMessage:
    """A message that will never be delivered, as told to ``on_failure``."""

    key: str
    kind: str
    recipient: str
    network_id: int | None
    code: int | None
    reason: str


OnFailure = Callable[[AsyncConnection, FailedMessage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row claimed for sending, with its bytes."""

    id: int
    key: str
    kind: str
    recipient: str
    raw: bytes
    network_id: int | None
    created_at: datetime
    attempts: int
    resend: bool = False


def _insert_ignoring_key(conn: AsyncConnection) -> Any:
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(outbox).on_conflict_do_nothing(index_elements=["key"])
    if name == "postgresql":
        return postgresql.insert(outbox).on_conflict_do_nothing(index_elements=["key"])
    msg = f"the outbox supports sqlite and postgresql, not {name}"
    raise NotImplementedError(msg)


async def enqueue(conn: AsyncConnection, items: Sequence[Outgoing], now: datetime) -> int:
    """Queue the items whose key is not in the outbox yet; return how many were new.

    An existing row is never touched: its bytes (and Message-ID) stay those first queued.
    """
    if not items:
        return 0
    rows = [
        {
            "key": it.key,
            "kind": it.kind,
            "recipient": it.recipient,
            "message_id": it.message_id,
            "network_id": it.network_id,
            "state": S.QUEUED,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": it.not_before or now,
            "not_after": it.not_after,
            "about_inbox_id": it.about_inbox_id,
        }
        for it in items
    ]
    # RETURNING with many rows: SQLAlchemy batches it ("insertmanyvalues") and
    # returns only the rows that were inserted, so the count is exact on both dialects.
    result = await conn.execute(
        _insert_ignoring_key(conn).returning(outbox.c.id, outbox.c.key), rows
    )
    inserted = result.all()
    if inserted:
        # The bytes of the rows just inserted, in their own table (schema: ``outbox_body``).
        # A key given twice in one call: the first item was inserted, so its bytes go in.
        raw_of: dict[str, bytes] = {}
        for it in items:
            raw_of.setdefault(it.key, it.raw)
        await conn.execute(
            outbox_body.insert(),
            [{"outbox_id": row_id, "raw": raw_of[key]} for row_id, key in inserted],
        )
    return len(inserted)


async def existing_keys(conn: AsyncConnection, keys: Sequence[str]) -> set[str]:
    """The subset of ``keys`` already in the outbox (in any state)."""
    found: set[str] = set()
    for chunk in chunked(list(dict.fromkeys(keys))):
        result = await conn.execute(select(outbox.c.key).where(outbox.c.key.in_(chunk)))
        found.update(result.scalars())
    return found


async def counts(conn: AsyncConnection, network_id: int | None = None) -> dict[str, int]:
    """How many rows are in each state (every state present, zero if none)."""
    query = select(outbox.c.state, func.count()).group_by(outbox.c.state)
    if network_id is not None:
        query = query.where(outbox.c.network_id == network_id)
    out = dict.fromkeys(OutboxState, 0)
    for state, n in (await conn.execute(query)).all():
        out[OutboxState(state)] = n
    return {str(k): v for k, v in out.items()}


# Built once: compiling a statement costs more than SQLite takes to run it, and these
# run while the connections wait.
_MARK_SENDING = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(state=case((outbox.c.state == S.RESEND, S.RESENDING), else_=S.SENDING))
)
MARK_SENT = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)) & outbox.c.state.in_(IN_FLIGHT))
    .values(
        state=S.SENT,
        sent_at=bindparam("at"),
        attempts=outbox.c.attempts + 1,
        smtp_code=250,
        last_error=None,
    )
)
_PASSED = "not sent: its moment had passed"


async def claim(
    conn: AsyncConnection, now: datetime, limit: int
) -> tuple[list[Claimed], list[str]]:
    """Mark up to ``limit`` due rows ``sending`` and return them; and the keys skipped as late.

    A due row whose ``not_after`` has passed is ``skipped``: never sent late.
    """
    due = outbox.c.state.in_(DUE_STATES) & (outbox.c.next_attempt_at <= now)
    stale = await conn.execute(
        select(outbox.c.id, outbox.c.key).where(due & (outbox.c.not_after < now))
    )
    skipped = []
    for row_id, key in stale.all():
        await conn.execute(
            update(outbox).where(outbox.c.id == row_id).values(state=S.SKIPPED, last_error=_PASSED)
        )
        skipped.append(key)
    query = (
        select(
            outbox.c.id,
            outbox.c.key,
            outbox.c.kind,
            outbox.c.recipient,
            outbox_body.c.raw,
            outbox.c.network_id,
            outbox.c.created_at,
            outbox.c.attempts,
            outbox.c.state == S.RESEND,
        )
        .select_from(outbox.join(outbox_body))
        .where(due)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=outbox)
    rows = [Claimed(*r) for r in (await conn.execute(query)).all()]
    if rows:
        await conn.execute(_MARK_SENDING, {"ids": [r.id for r in rows]})
    return rows, skipped


async def mark_sent(conn: AsyncConnection, ids: list[int], at: datetime) -> None:
    """The server said 250 to these rows' DATA."""
    await conn.execute(MARK_SENT, {"ids": ids, "at": at})


def _in_flight(row_id: int) -> Any:
    return update(outbox).where((outbox.c.id == row_id) & outbox.c.state.in_(IN_FLIGHT))


async def defer(
    conn: AsyncConnection, row: Claimed, next_attempt_at: datetime, error: str, code: int | None
) -> None:
    """A 4xx, a timeout or a dropped connection: try again at ``next_attempt_at``."""
    await conn.execute(
        _in_flight(row.id).values(
            state=S.DEFERRED,
            attempts=row.attempts + 1,
            next_attempt_at=next_attempt_at,
            last_error=error,
            smtp_code=code,
        )
    )


async def fail(conn: AsyncConnection, row: Claimed, reason: str, code: int | None) -> bool:
    """A final failure; True only for the call that moved the row to ``failed`` (report once)."""
    result = await conn.execute(
        _in_flight(row.id).values(
            state=S.FAILED, attempts=outbox.c.attempts + 1, last_error=reason, smtp_code=code
        )
    )
    return bool(result.rowcount == 1)


async def any_in_flight(conn: AsyncConnection) -> bool:
    """Whether any row is marked as being sent."""
    query = select(outbox.c.id).where(outbox.c.state.in_(IN_FLIGHT)).limit(1)
    return (await conn.execute(query)).first() is not None


async def rewrite_queued(conn: AsyncConnection, item: Outgoing) -> bool:
    """Replace the bytes of ``item.key``'s row while it waits untried; False once it is not.

    For a notice that counts (the daily digest of unverified mail): the row is locked
    first, so a sender that claims it sees the old bytes or the new, never half.
    """
    row_id = (
        await conn.execute(
            select(outbox.c.id)
            .where(outbox.c.key == item.key, outbox.c.state == S.QUEUED, outbox.c.attempts == 0)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row_id is None:
        return False
    await conn.execute(
        outbox_body.update().where(outbox_body.c.outbox_id == row_id).values(raw=item.raw)
    )
    return True
