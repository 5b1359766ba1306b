"""The service: planner, sender and receiver as three loops in one ``asyncio.TaskGroup``.

SIGTERM/SIGINT set a stop event; every loop finishes the step it is in (an SMTP
transaction in flight completes or stays queued, an inbox mail commits or rolls
back) and the process exits 0. All timing is derived from the store, never from
in-memory timers, so a restart picks up exactly where the last run stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leernet.errors import LeernetError, MailboxError
from leernet.mailer.budget import headline
from leernet.mailer.disposition import Disposition
from leernet.mailer.imap import ImapSession
from leernet.mailer.inbox import Inbox
from leernet.mailer.oauth import TokenSource
from leernet.mailer.oauth_keep import keep_rotated_refresh_token
from leernet.mailer.sender import DrainResult, Outbox
from leernet.mailer.tokens import token_from_address
from leernet.messages import keys, notices
from leernet.messages.factory import Factory
from leernet.messages.notices import failure_notifier
from leernet.ops.watchdog import Notifier
from leernet.organiser.desk import inbox_processor
from leernet.planning.followups import step_builder
from leernet.planning.planner import planner_pass
from leernet.records import service as stored
from leernet.replies.strangers import stranger_of
from leernet.settings import Settings
from leernet.store import daemon_lock, open_store, state

log = logging.getLogger("leernet.daemon")
PLANNER_MAX_SLEEP = 60.0  # the planner wakes at least every minute
SENDER_MAX_SLEEP = 30.0
HEARTBEAT_SECONDS = 60.0


def system_now() -> datetime:
    """The wall clock in UTC: the only place the service reads it."""
    return datetime.now(UTC)


@dataclass
class Service:
    """The parts of a running service, wired together."""

    engine: AsyncEngine
    settings: Settings
    now: Callable[[], datetime] = system_now
    # The longest the planner and sender sleep; tests with a moved clock make it short.
    planner_sleep: float = PLANNER_MAX_SLEEP
    sender_sleep: float = SENDER_MAX_SLEEP
    heartbeat_sleep: float = HEARTBEAT_SECONDS

    def __post_init__(self) -> None:
        self.factory = Factory(self.settings)
        self.kick = asyncio.Event()  # something was queued: the sender should look
        # One OAuth2 token for every IMAP and SMTP connection of this process (None: passwords).
        self.tokens = TokenSource.from_settings(self.settings)
        self.outbox = Outbox(
            self.engine,
            self.settings,
            self.now,
            on_failure=failure_notifier(self.factory, self.now),
            tokens=self.tokens,
        )
        self.processor = inbox_processor(self.factory, self.now, on_queued=self.kick.set)
        self.inbox = Inbox(
            self.engine,
            self.settings,
            self.processor,
            self.now,
            on_login_refused=self.login_refused,
            on_set_aside=self.set_aside,
            tokens=self.tokens,
        )
        self.build = step_builder(self.factory)

    async def login_refused(self, exc: Exception) -> None:
        """Tell the organisers (or the admin) once per outage that the mailbox refuses us."""
        now = self.now()
        async with self.engine.begin() as conn:
            await notices.notify(
                conn,
                self.factory,
                key=keys.notice("mailbox", f"{now:%Y%m%dT%H%M%S}"),
                network_id=None,
                topic="mailbox",
                now=now,
                values={"mailbox": self.inbox.mailbox, "reason": str(exc)[:300]},
            )
        self.kick.set()

    async def set_aside(
        self, conn: AsyncConnection, inbox_id: int, raw: bytes, disposition: Disposition
    ) -> None:
        """Tell a person about a mail the inbox set aside unprocessed (error, budget, crash).

        The organiser of the network whose reply address the mail was sent to, as
        for other attention mail; else the admin or the organisers (``notify``).
        """
        head = headline(raw)
        tokens = [
            tok
            for a in head.recipients[:20]
            if (tok := token_from_address(self.settings.service_address, a))
        ]
        network_id = await stored.network_of_tokens(conn, tokens)
        if network_id is None:
            # No participant's reply address: a stranger's mail, counted in the day's digest
            # like every other unverified mail (a flood of them is one notice, not many).
            await self.processor.strangers.add(
                conn,
                network_id=None,
                raw=raw,
                stranger=stranger_of(raw, disposition.outcome),
                now=self.now(),
            )
            self.kick.set()
            return
        await notices.set_aside(
            conn,
            self.factory,
            inbox_id=inbox_id,
            network_id=network_id,
            sender=head.sender,
            subject=head.subject,
            reason=disposition.reason,
            now=self.now(),
        )
        self.kick.set()

    async def plan_once(self) -> datetime | None:
        """Run one planner pass now; the moment the next step falls due."""
        result = await planner_pass(self.engine, self.build, self.now())
        if result.queued:
            self.kick.set()
        return result.next_due

    async def send_once(self) -> DrainResult:
        """Send what is due now."""
        return await self.outbox.drain()

    async def next_retry(self) -> datetime | None:
        """When the earliest deferred message may be tried again (None: nothing waits)."""
        async with self.engine.connect() as conn:
            return await stored.next_retry(conn)

    # -- the three loops ------------------------------------------------------------

    async def planner_loop(self, stop: asyncio.Event) -> None:
        """Plan at every due moment, or sooner when woken; until ``stop``."""
        while not stop.is_set():
            try:
                next_due = await self.plan_once()
            except (LeernetError, SQLAlchemyError) as exc:
                log.error("planner pass failed: %s", exc, extra={"event": "planner-failed"})  # noqa: TRY400 - our own error: its text says it all
                next_due = None
            delay = self.planner_sleep
            if next_due is not None:
                delay = max(0.05, min(delay, (next_due - self.now()).total_seconds()))
            await _wait(stop, delay)

    async def sender_loop(self, stop: asyncio.Event) -> None:
        """Send whenever something is queued or a retry falls due; until ``stop``."""
        while not stop.is_set():
            self.kick.clear()
            try:
                await self.send_once()
            except (LeernetError, SQLAlchemyError) as exc:
                # A locked or full database: nothing is lost (rows stay queued); try again.
                log.error("sending failed: %s", exc, extra={"event": "send-failed"})  # noqa: TRY400 - our own error: its text says it all
            delay = self.sender_sleep
            retry = await self.next_retry()
            if retry is not None:
                delay = max(0.05, min(delay, (retry - self.now()).total_seconds()))
            await _wait_any(stop, self.kick, delay)

    async def receiver_loop(self, stop: asyncio.Event) -> None:
        """Read the mailbox until ``stop`` (the inbox reconnects with backoff)."""
        await self.inbox.run_forever(stop)

    async def resume_refresh_token(self) -> None:
        """Continue from the refresh token the endpoint rotated last run (``oauth_keep``)."""
        if self.tokens is not None:
            await keep_rotated_refresh_token(self.engine, self.settings, self.tokens, self.now)

    async def heartbeat(self) -> None:
        """Write and log the queue depth and the inbox lag (what an operator greps for)."""
        now = self.now()
        async with self.engine.begin() as conn:
            queued = await stored.queued(conn)
            seen = self.inbox.last_contact
            if seen is not None:
                await state.mark(conn, state.IMAP_CONTACT, seen)
            await state.mark(conn, state.HEARTBEAT, now, f"queued={queued}")
        lag = round((now - seen).total_seconds()) if seen is not None else None
        log.info(
            "heartbeat: %s queued, last IMAP contact %s s ago",
            queued,
            lag,
            extra={"event": "heartbeat", "queued": queued, "inbox_lag_seconds": lag},
        )

    async def heartbeat_loop(self, stop: asyncio.Event) -> None:
        """A log line and a heartbeat in the store every minute, for ``leernet health``."""
        while not stop.is_set():
            try:
                await self.heartbeat()
            except SQLAlchemyError as exc:
                log.error("heartbeat failed: %s", exc, extra={"event": "heartbeat-failed"})  # noqa: TRY400 - the database's own words
            await _wait(stop, self.heartbeat_sleep)


LOCK_LOST = 3  # exit code: the lock's database connection was lost mid-run


LOST_GRACE = 10.0  # seconds the loops get to stop by themselves after the lock is lost


async def _stop_when_lost(
    lost: asyncio.Event, stop: asyncio.Event, others: list[asyncio.Task[None]]
) -> None:
    """Stop every loop once the lock is lost; exit at once if one is stuck on the database.

    A loop waiting on a database that went silent may not even end when cancelled
    (the driver's clean-up waits on the same dead connection), and another daemon
    may already be active: this process must go, and systemd starts it again.
    """
    await _wait_any(stop, lost, None)
    if not lost.is_set():
        return
    stop.set()
    _, stuck = await asyncio.wait(others, timeout=LOST_GRACE)
    if stuck:
        log.error(
            "leernet exits: the daemon lock was lost and the database does not answer",
            extra={"event": "stopped"},
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(LOCK_LOST)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def _wait_any(stop: asyncio.Event, kick: asyncio.Event, seconds: float | None) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(kick.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def check_mailbox(settings: Settings) -> None:
    """Say plainly what is wrong with the IMAP settings, before anything runs."""
    try:
        session = await ImapSession.open(settings)
    except MailboxError:
        raise
    except (OSError, TimeoutError) as exc:
        msg = f"cannot reach the IMAP server {settings.imap_host}:{settings.imap_port}: {exc}"
        raise MailboxError(msg) from exc
    try:
        await session.select(settings.imap_folder)
    except MailboxError as exc:
        msg = f"the IMAP folder {settings.imap_folder!r} cannot be opened ({exc}): check LEERNET_IMAP_FOLDER"
        raise MailboxError(msg) from exc
    finally:
        await session.logout()


async def run_daemon(
    settings: Settings,
    *,
    once: bool,
    inbox: bool = True,
    console: Console | None = None,
    now: Callable[[], datetime] = system_now,
    stop: asyncio.Event | None = None,
    ready: Callable[[], Awaitable[None]] | None = None,
    tick: float | None = None,
    notifier: Notifier | None = None,
) -> int:
    """Run the service (or one pass with ``once``); return the process exit code."""
    settings.secret_value()
    if warning := settings.authserv_warning():
        log.warning(warning, extra={"event": "authserv-id-missing"})
    engine = await open_store(settings.database_url)
    stop = stop or asyncio.Event()
    notifier = notifier or Notifier()
    alive: asyncio.Task[None] | None = None
    if not once:
        # Started as far as systemd is concerned, also while waiting as a standby: the
        # watchdog then guards the wait too.
        notifier.send("READY=1")
        alive = asyncio.create_task(notifier.keep_alive(stop))
    try:
        # On PostgreSQL a second daemon waits here as a hot standby (``store.lock``).
        async with daemon_lock(engine, settings.database_url, wait=not once) as lock:
            service = Service(engine, settings, now)
            await service.resume_refresh_token()
            if tick is not None:
                service.planner_sleep = service.sender_sleep = service.heartbeat_sleep = tick
            if inbox:
                await check_mailbox(settings)
            if once:
                return await _once(service, inbox=inbox, console=console)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            log.info("leernet runs", extra={"event": "started"})
            if ready is not None:
                await ready()
            async with asyncio.TaskGroup() as tg:
                loops = [
                    tg.create_task(service.planner_loop(stop)),
                    tg.create_task(service.sender_loop(stop)),
                ]
                if inbox:
                    loops.append(tg.create_task(service.receiver_loop(stop)))
                tg.create_task(_stop_when_lost(lock.lost, stop, loops))
                tg.create_task(service.heartbeat_loop(stop))
            notifier.send("STOPPING=1")
            if lock.lost.is_set():
                # Another daemon may hold the lock now: stop, let systemd restart us as standby.
                log.error("leernet stopped: the daemon lock was lost", extra={"event": "stopped"})
                return LOCK_LOST
            log.info("leernet stopped", extra={"event": "stopped"})
            return 0
    finally:
        if alive is not None:
            alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await alive
        # A database that went silent (the lock lost to a network cut) must not hang the exit.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LOST_GRACE):
                await engine.dispose()


async def _once(service: Service, *, inbox: bool, console: Console | None) -> int:
    await service.plan_once()
    first = await service.send_once()
    received = None
    if inbox:
        received = await service.inbox.run_once()
    await service.heartbeat()
    await service.plan_once()  # answers may change what is due (e.g. a reminder)
    second = await service.send_once()
    sent = first.sent + second.sent
    deferred = second.deferred
    failed = first.failed + second.failed
    line = f"sent {sent}, deferred {deferred}, failed {failed}"
    if received is not None:
        line += (
            f"; received {received.fetched}, processed {received.processed}, moved {received.moved}"
        )
    if console is not None:
        console.print(line)
    return 0
