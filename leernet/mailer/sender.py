"""The sender: claimed outbox rows over several SMTP connections, their outcomes written back.

One drain claims due rows from the queue (``mailer/queue.py``), hands every
network's rows to one connection (so they arrive in order), and writes the
outcomes in batches while the connections go on sending: 250 -> ``sent``,
4xx/timeout/drop -> ``deferred`` with backoff, 5xx or too old -> ``failed`` (the
organiser told once). Rows a crash left in flight are settled first
(``mailer/recovery.py``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leernet.errors import SendDeferred, SendError
from leernet.mailer import queue
from leernet.mailer.attempts import AttemptLog
from leernet.mailer.oauth import TokenSource
from leernet.mailer.queue import Claimed, FailedMessage, OnFailure
from leernet.mailer.recovery import recover
from leernet.mailer.smtp import send_stream
from leernet.store.engine import store_errors

if TYPE_CHECKING:
    from leernet.settings import Settings

log = logging.getLogger("leernet.outbox")

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
class DrainResult:
    """What one drain did."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0


def backoff(attempts: int, jitter: float) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1, 2, 4 … minutes, capped at 60, plus jitter.

    ``jitter`` in [0, 1) adds up to 10% so that many deferred rows do not return at once.
    """
    minutes = min(60.0, 2.0 ** max(0, attempts - 1))
    return timedelta(minutes=minutes * (1 + 0.1 * jitter))


@dataclass(frozen=True, slots=True)
class _Outcome:
    row: Claimed
    error: SendError | None  # None: the server said 250


class _Lane:
    """The rows handed to one SMTP connection, in the order claimed."""

    def __init__(self, on_taken: Callable[[], None]) -> None:
        self.queue: asyncio.Queue[Claimed | None] = asyncio.Queue()
        self._on_taken = on_taken

    def put(self, row: Claimed) -> None:
        self.queue.put_nowait(row)

    def close(self) -> None:
        self.queue.put_nowait(None)

    async def rows(self) -> AsyncIterator[Claimed]:
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

    def put(self, rows: list[Claimed]) -> None:
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

    async def claim(self, limit: int) -> list[Claimed]:
        async with self.db, self.engine.begin() as conn:
            rows, skipped = await queue.claim(conn, self.now(), limit)
        for key in skipped:
            self.totals["skipped"] += 1
            log.info(
                "not sending %s: its moment has passed",
                key,
                extra={"event": "outbox.skipped", "key": key},
            )
        return rows

    async def record(self, row: Claimed, error: SendError | None) -> None:
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

    async def _sent(self, conn: AsyncConnection, rows: list[Claimed]) -> None:
        # One statement for every 250 of this flush: the same values _apply wrote one by one.
        await queue.mark_sent(conn, [r.id for r in rows], self.now())
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
        extra = {"key": row.key, "kind": row.kind}
        assert error is not None  # 250s are written together by _sent
        give_up = now - row.created_at > timedelta(hours=self.settings.send_give_up_hours)
        if isinstance(error, SendDeferred) and not give_up:
            later = now + backoff(row.attempts + 1, random.random())  # noqa: S311
            await queue.defer(conn, row, later, str(error), error.code)
            self.totals["deferred"] += 1
            log.debug(
                "deferred %s: %s", row.key, error, extra={"event": "outbox.deferred", **extra}
            )
            return
        reason = str(error)
        if give_up:
            reason = f"gave up after {self.settings.send_give_up_hours:g} hours: {reason}"
        moved = await queue.fail(conn, row, reason, error.code)
        self.totals["failed"] += 1
        log.warning(
            "message %s to %s failed: %s",
            row.key,
            row.recipient,
            reason,
            extra={"event": "outbox.failed", **extra},
        )
        # Only the drain that moved the row to failed reports it: exactly once.
        if moved and self.on_failure is not None:
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

    def reached_data(row: Claimed) -> None:
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
        return await queue.any_in_flight(conn)


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
        """Send what is due; the first drain of the process settles rows a crash left in flight."""
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
