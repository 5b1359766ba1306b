"""The durable outbox: queued rows in the store -> SMTP, with retries and final failures.

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

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leernet.errors import SendDeferred, SendError
from leernet.mailer.attempts import AttemptLog
from leernet.mailer.oauth import TokenSource
from leernet.mailer.smtp import send_stream
from leernet.store.engine import store_errors
from leernet.store.schema import outbox, outbox_body

if TYPE_CHECKING:
    from leernet.settings import Settings

log = logging.getLogger("leernet.outbox")

STATES = (
    "queued",
    "sending",
    "sent",
    "deferred",
    "failed",
    "skipped",
    "cancelled",
    "resend",
    "resending",
)
# "resend": a crash cut an attempt that had reached DATA (``attempts``), so perhaps
# delivered already; "resending": such a row being sent again. If a crash cuts it after
# DATA too it is not sent a third time: at least once, at most twice.
IN_FLIGHT = ("sending", "resending")
_DUE_STATES = ("queued", "deferred", "resend")
PENDING_STATES = _DUE_STATES  # waiting to be sent: what erase and update cancel
CLAIM_BATCH = 500  # rows claimed at a time; at most 1.5x this many are held with their bytes
# The first claim of a drain is small: reading 500 rows' bytes takes tens of milliseconds
# during which no connection has anything to send yet.
FIRST_CLAIM = 50
# Outcomes written per commit. Without an attempt log a crash re-sends up to about twice
# this many accepted messages; with one (SQLite) their 250s are in the log, so the batch
# can be larger and the store does less work per message.
FLUSH_EVERY = 20
FLUSH_EVERY_LOGGED = 100


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


@dataclass(frozen=True, slots=True)
class FailedMessage:
    """A message that will never be delivered, as told to ``on_failure``."""

    key: str
    kind: str
    recipient: str
    network_id: int | None
    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class DrainResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0


OnFailure = Callable[[AsyncConnection, FailedMessage], Awaitable[None]]


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
            "state": "queued",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": it.not_before or now,
            "not_after": it.not_after,
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
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), 500):
        chunk = unique[i : i + 500]
        result = await conn.execute(select(outbox.c.key).where(outbox.c.key.in_(chunk)))
        found.update(result.scalars())
    return found


async def counts(conn: AsyncConnection, network_id: int | None = None) -> dict[str, int]:
    """How many rows are in each state (every state present, zero if none)."""
    query = select(outbox.c.state, func.count()).group_by(outbox.c.state)
    if network_id is not None:
        query = query.where(outbox.c.network_id == network_id)
    out = dict.fromkeys(STATES, 0)
    for state, n in (await conn.execute(query)).all():
        out[state] = n
    return out


async def recover(
    engine: AsyncEngine, now: Callable[[], datetime], attempts: AttemptLog | None = None
) -> int:
    """Settle rows a crash left in flight; return how many were in flight.

    With the attempt log (``leernet.mailer.attempts``): a row whose attempt
    never reached DATA goes back to ``queued`` (the server cannot have it); one
    that did becomes ``resend``; a ``resending`` row that reached DATA again is
    marked ``sent`` without a 250 (the server may hold it twice already; a third
    copy is worse than none). Without the log every row in flight is ``resend``.

    Only safe while no other sender works on the database (one daemon per
    database holds the lock in ``leernet.store.engine.daemon_lock``).
    """
    attempts = attempts or AttemptLog.beside(engine.url)
    log_says = attempts.read()
    moment = now()
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.id, outbox.c.state, outbox.c.attempts, outbox.c.key).where(
                    outbox.c.state.in_(IN_FLIGHT)
                )
            )
        ).all()
        settle: dict[str, list[int]] = defaultdict(list)
        delivered: list[tuple[int, datetime]] = []
        for row_id, state, tries, key in rows:
            when = log_says.delivered_at(row_id, tries) if log_says is not None else None
            went = log_says is None or log_says.reached(row_id, tries)
            if when is not None:
                delivered.append((row_id, when))  # the 250 came; only its commit was missing
            elif state == "sending":
                settle["resend" if went else "queued"].append(row_id)
            elif went:
                settle["unconfirmed"].append(row_id)
                log.warning(
                    "not sending %s a third time: two attempts were cut off after DATA",
                    key,
                    extra={"event": "outbox.unconfirmed", "key": key},
                )
            else:
                settle["resend"].append(row_id)
        for row_id, when in delivered:
            await conn.execute(_MARK_SENT, {"ids": [row_id], "at": when})
        for state, ids in settle.items():
            values: dict[str, Any] = {"state": state}
            if state == "unconfirmed":
                values = {
                    "state": "sent",
                    "sent_at": moment,
                    "attempts": outbox.c.attempts + 1,
                    "smtp_code": None,
                    "last_error": _UNCONFIRMED,
                }
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                await conn.execute(update(outbox).where(outbox.c.id.in_(chunk)).values(values))
    attempts.clear()  # every row in flight is settled
    n = len(rows)
    if n:
        log.warning(
            "%d message(s) were in flight when leernet stopped: %d had been delivered, %d go"
            " out again, %d were perhaps delivered and are sent again, %d are not sent a third"
            " time",
            n,
            len(delivered),
            len(settle["queued"]),
            len(settle["resend"]),
            len(settle["unconfirmed"]),
            extra={"event": "outbox.recovered", "count": n},
        )
    return n


_UNCONFIRMED = (
    "no 250 seen: two attempts were cut off after DATA by a stop of leernet;"
    " the recipient may have it twice, so it is not sent a third time"
)


def backoff(attempts: int, jitter: float) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1, 2, 4 … minutes, capped at 60, plus jitter.

    ``jitter`` in [0, 1) adds up to 10% so that many deferred rows do not return at once.
    """
    minutes = min(60.0, 2.0 ** max(0, attempts - 1))
    return timedelta(minutes=minutes * (1 + 0.1 * jitter))


def is_organiser_notice(kind: str) -> bool:
    """A notice to the organiser: its failure is recorded, never reported (no loops)."""
    return kind == "notice" or kind.startswith(("notice-", "notice/", "notice."))


# Built once: compiling a statement costs more than SQLite takes to run it, and these
# run while the connections wait.
_MARK_SENDING = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(state=case((outbox.c.state == "resend", "resending"), else_="sending"))
)
_MARK_SENT = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)) & outbox.c.state.in_(IN_FLIGHT))
    .values(
        state="sent",
        sent_at=bindparam("at"),
        attempts=outbox.c.attempts + 1,
        smtp_code=250,
        last_error=None,
    )
)


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    key: str
    kind: str
    recipient: str
    raw: bytes
    network_id: int | None
    created_at: datetime
    attempts: int
    resend: bool = False


@dataclass(frozen=True, slots=True)
class _Outcome:
    row: _Row
    error: SendError | None  # None: the server said 250


class _Lane:
    """The rows handed to one SMTP connection, in the order claimed."""

    def __init__(self, on_taken: Callable[[], None]) -> None:
        self.queue: asyncio.Queue[_Row | None] = asyncio.Queue()
        self._on_taken = on_taken

    def put(self, row: _Row) -> None:
        self.queue.put_nowait(row)

    def close(self) -> None:
        self.queue.put_nowait(None)

    async def rows(self) -> AsyncIterator[_Row]:
        while (row := await self.queue.get()) is not None:
            self._on_taken()
            yield row


class _Lanes:
    """Every network's rows go to one connection for the whole drain, so they arrive in order.

    A network seen for the first time goes to the connection with the fewest rows waiting.
    """

    def __init__(self, workers: int) -> None:
        self.room = asyncio.Event()  # fewer than CLAIM_BATCH / 2 rows wait: claim more
        self.lanes = [_Lane(self._taken) for _ in range(workers)]
        self._of: dict[object, _Lane] = {}
        self.unreachable = False

    @property
    def waiting(self) -> int:
        return sum(lane.queue.qsize() for lane in self.lanes)

    def _taken(self) -> None:
        if self.waiting < CLAIM_BATCH // 2:
            self.room.set()

    def put(self, rows: list[_Row]) -> None:
        for row in rows:
            group = row.network_id if row.network_id is not None else ("row", row.id)
            lane = self._of.get(group)
            if lane is None:
                lane = min(self.lanes, key=lambda ln: ln.queue.qsize())
                self._of[group] = lane
            lane.put(row)

    def stop(self) -> None:
        self.unreachable = True
        self.room.set()

    def close(self) -> None:
        for lane in self.lanes:
            lane.close()


class _Drain:
    """The state of one drain: the claimed rows, their outcomes, the counts."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        now: Callable[[], datetime],
        on_failure: OnFailure | None,
        attempts: AttemptLog,
    ) -> None:
        self.engine = engine
        self.attempts = attempts
        self.settings = settings
        self.now = now
        self.on_failure = on_failure
        self.db = asyncio.Lock()  # one writer at a time: SQLite has one anyway
        self.pending: list[_Outcome] = []
        self._flushing: asyncio.Future[None] | None = None
        self.totals: dict[str, int] = defaultdict(int)

    async def claim(self, limit: int) -> list[_Row]:
        now = self.now()
        async with self.db, self.engine.begin() as conn:
            due = outbox.c.state.in_(_DUE_STATES) & (outbox.c.next_attempt_at <= now)
            stale = await conn.execute(
                select(outbox.c.id, outbox.c.key).where(due & (outbox.c.not_after < now))
            )
            for row_id, key in stale.all():
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id)
                    .values(state="skipped", last_error="not sent: its moment had passed")
                )
                self.totals["skipped"] += 1
                log.info(
                    "not sending %s: its moment has passed",
                    key,
                    extra={"event": "outbox.skipped", "key": key},
                )
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
                    outbox.c.state == "resend",
                )
                .select_from(outbox.join(outbox_body))
                .where(due)
                .order_by(outbox.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=outbox)
            rows = [_Row(*r) for r in (await conn.execute(query)).all()]
            if rows:
                await conn.execute(_MARK_SENDING, {"ids": [r.id for r in rows]})
        return rows

    async def record(self, row: _Row, error: SendError | None) -> None:
        """Note one outcome; written by a flush in the background so sending goes on meanwhile."""
        if error is None:
            self.attempts.delivered(row.id, row.attempts, self.now())
        self.pending.append(_Outcome(row, error))
        if row.resend and not self.attempts.enabled:
            # No log to hold its 250: committed at once, so a crash cannot send it again.
            running, self._flushing = self._flushing, None
            if running is not None:
                await asyncio.shield(running)
            await self.flush()
            return
        every = FLUSH_EVERY_LOGGED if self.attempts.enabled else FLUSH_EVERY
        if len(self.pending) < every:
            return
        running = self._flushing
        if running is None or running.done():
            if running is not None:
                running.result()  # a failed flush stops the drain here
            self._flushing = asyncio.ensure_future(self.flush())
        elif len(self.pending) >= 2 * every:
            # The store is slower than the server: wait, so that a crash re-sends few.
            await asyncio.shield(running)

    async def close(self) -> None:
        """Wait for the flush in flight, then write what is left."""
        running, self._flushing = self._flushing, None
        if running is not None:
            await running
        await self.flush()

    async def flush(self) -> None:
        async with self.db:
            batch, self.pending = self.pending, []
            if not batch:
                return
            async with self.engine.begin() as conn:
                sent = [o.row for o in batch if o.error is None]
                if sent:
                    await self._sent(conn, sent)
                for outcome in batch:
                    if outcome.error is not None:
                        await self._apply(conn, outcome)

    async def _sent(self, conn: AsyncConnection, rows: list[_Row]) -> None:
        # One statement for every 250 of this flush: the same values _apply wrote one by one.
        await conn.execute(_MARK_SENT, {"ids": [r.id for r in rows], "at": self.now()})
        self.totals["sent"] += len(rows)
        if log.isEnabledFor(logging.DEBUG):
            for row in rows:
                log.debug(
                    "sent %s",
                    row.key,
                    extra={"event": "outbox.sent", "key": row.key, "kind": row.kind},
                )

    async def _apply(self, conn: AsyncConnection, outcome: _Outcome) -> None:
        row, error, now = outcome.row, outcome.error, self.now()
        mine = update(outbox).where((outbox.c.id == row.id) & outbox.c.state.in_(IN_FLIGHT))
        extra = {"key": row.key, "kind": row.kind}
        assert error is not None  # 250s are written together by _sent
        give_up = now - row.created_at > timedelta(hours=self.settings.send_give_up_hours)
        if isinstance(error, SendDeferred) and not give_up:
            attempts = row.attempts + 1
            await conn.execute(
                mine.values(
                    state="deferred",
                    attempts=attempts,
                    next_attempt_at=now + backoff(attempts, random.random()),  # noqa: S311
                    last_error=str(error),
                    smtp_code=error.code,
                )
            )
            self.totals["deferred"] += 1
            log.debug(
                "deferred %s: %s", row.key, error, extra={"event": "outbox.deferred", **extra}
            )
            return
        reason = str(error)
        if give_up:
            reason = f"gave up after {self.settings.send_give_up_hours:g} hours: {reason}"
        result = await conn.execute(
            mine.values(
                state="failed",
                attempts=outbox.c.attempts + 1,
                last_error=reason,
                smtp_code=error.code,
            )
        )
        self.totals["failed"] += 1
        log.warning(
            "message %s to %s failed: %s",
            row.key,
            row.recipient,
            reason,
            extra={"event": "outbox.failed", **extra},
        )
        # Only the drain that moved the row to failed reports it: exactly once.
        report = result.rowcount == 1 and not is_organiser_notice(row.kind)
        if report and self.on_failure is not None:
            failed = FailedMessage(
                row.key, row.kind, row.recipient, row.network_id, error.code, reason
            )
            await self.on_failure(conn, failed)


async def drain(
    engine: AsyncEngine,
    settings: Settings,
    now: Callable[[], datetime],
    *,
    on_failure: OnFailure | None = None,
    limit: int | None = None,
    recover_orphans: bool = False,
    tokens: TokenSource | None = None,
) -> DrainResult:
    """Send every due row (up to ``limit``) over ``settings.smtp_connections`` connections.

    ``recover_orphans=True`` first re-queues rows a crash left in ``sending``
    (call it once when the daemon starts, or for ``run --once``).
    """
    with store_errors("sending"):
        return await _drain(
            engine, settings, now, on_failure, limit, recover_orphans=recover_orphans, tokens=tokens
        )


async def _drain(
    engine: AsyncEngine,
    settings: Settings,
    now: Callable[[], datetime],
    on_failure: OnFailure | None,
    limit: int | None,
    *,
    recover_orphans: bool,
    tokens: TokenSource | None = None,
) -> DrainResult:
    attempts = AttemptLog.beside(engine.url)
    if recover_orphans:
        await recover(engine, now, attempts)
    elif attempts.enabled and not await _in_flight(engine):
        attempts.clear()  # its lines are about rows long settled

    def reached_data(row: _Row) -> None:
        attempts.note(row.id, row.attempts)

    state = _Drain(engine, settings, now, on_failure, attempts)
    lanes = _Lanes(settings.smtp_connections)
    try:
        async with asyncio.TaskGroup() as tg:
            for lane in lanes.lanes:
                stream = send_stream(
                    settings,
                    lane.rows(),
                    state.record,
                    now,
                    on_unreachable=lanes.stop,
                    on_data=reached_data,
                    tokens=tokens,
                )
                tg.create_task(stream)
            try:
                await _feed(state, lanes, limit)
            finally:
                lanes.close()
    finally:
        try:
            await state.close()
        finally:
            attempts.close()
    t = state.totals
    return DrainResult(t["sent"], t["deferred"], t["failed"], t["skipped"])


async def _in_flight(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        query = select(outbox.c.id).where(outbox.c.state.in_(IN_FLIGHT)).limit(1)
        return (await conn.execute(query)).first() is not None


async def _feed(state: _Drain, lanes: _Lanes, limit: int | None) -> None:
    """Claim due rows and hand them to the connections, claiming again while they send.

    Stops when nothing is due, at ``limit``, or when the server cannot be
    reached (the rest stays queued for the next drain).
    """
    remaining = limit if limit is not None else -1
    batch = FIRST_CLAIM
    while remaining != 0 and not lanes.unreachable:
        size = batch if remaining < 0 else min(batch, remaining)
        batch = CLAIM_BATCH
        rows = await state.claim(size)
        if not rows:
            return
        remaining = remaining - len(rows) if remaining > 0 else remaining
        lanes.put(rows)
        # Bounded: every row taken by a connection either sets ``room`` or leaves
        # fewer waiting; ``stop`` sets it too.
        while lanes.waiting >= CLAIM_BATCH // 2 and not lanes.unreachable:
            lanes.room.clear()
            await lanes.room.wait()


class Outbox:
    """The sender loop's handle: drains with one clock and callback, recovering once."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        now: Callable[[], datetime],
        *,
        on_failure: OnFailure | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._now = now
        self._on_failure = on_failure
        self._tokens = tokens  # OAuth2: one token source for every drain of the process
        self._recovered = False

    async def drain(self, limit: int | None = None) -> DrainResult:
        first, self._recovered = not self._recovered, True
        return await drain(
            self._engine,
            self._settings,
            self._now,
            on_failure=self._on_failure,
            limit=limit,
            recover_orphans=first,
            tokens=self._tokens,
        )


async def rewrite_queued(conn: AsyncConnection, item: Outgoing) -> bool:
    """Replace the bytes of ``item.key``'s row while it waits untried; False once it is not.

    For a notice that counts (the daily digest of unverified mail): the row is locked
    first, so a sender that claims it sees the old bytes or the new, never half.
    """
    row_id = (
        await conn.execute(
            select(outbox.c.id)
            .where(outbox.c.key == item.key, outbox.c.state == "queued", outbox.c.attempts == 0)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row_id is None:
        return False
    await conn.execute(
        outbox_body.update().where(outbox_body.c.outbox_id == row_id).values(raw=item.raw)
    )
    return True
