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
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from leernet.build import Factory
from leernet.errors import LeernetError, MailboxError
from leernet.followups import step_builder
from leernet.mailer.imap import ImapSession
from leernet.mailer.inbox import Inbox
from leernet.mailer.outbox import PENDING_STATES, DrainResult, Outbox
from leernet.notices import failure_notifier, notify
from leernet.planner import planner_pass
from leernet.process import Processor
from leernet.settings import Settings
from leernet.store import daemon_lock, open_store
from leernet.store import schema as t

log = logging.getLogger("leernet.daemon")
PLANNER_MAX_SLEEP = 60.0  # the planner wakes at least every minute
SENDER_MAX_SLEEP = 30.0


def system_now() -> datetime:
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

    def __post_init__(self) -> None:
        self.factory = Factory(self.settings)
        self.kick = asyncio.Event()  # something was queued: the sender should look
        self.outbox = Outbox(
            self.engine,
            self.settings,
            self.now,
            on_failure=failure_notifier(self.factory, self.now),
        )
        self.processor = Processor(self.factory, self.now, on_queued=self.kick.set)
        self.inbox = Inbox(
            self.engine,
            self.settings,
            self.processor,
            self.now,
            on_login_refused=self.login_refused,
        )
        self.build = step_builder(self.factory)

    async def login_refused(self, exc: Exception) -> None:
        """Tell the organisers (or the admin) once per outage that the mailbox refuses us."""
        now = self.now()
        async with self.engine.begin() as conn:
            await notify(
                conn,
                self.factory,
                key=f"notice/mailbox/{now:%Y%m%dT%H%M%S}",
                network_id=None,
                topic="mailbox",
                now=now,
                values={"mailbox": self.inbox.mailbox, "reason": str(exc)[:300]},
            )
        self.kick.set()

    async def plan_once(self) -> datetime | None:
        result = await planner_pass(self.engine, self.build, self.now())
        if result.queued:
            self.kick.set()
        return result.next_due

    async def send_once(self) -> DrainResult:
        return await self.outbox.drain()

    async def next_retry(self) -> datetime | None:
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(
                    select(func.min(t.outbox.c.next_attempt_at)).where(
                        t.outbox.c.state.in_(PENDING_STATES)
                    )
                )
            ).scalar()
        return value if isinstance(value, datetime) else None

    # -- the three loops ------------------------------------------------------------

    async def planner_loop(self, stop: asyncio.Event) -> None:
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
        await self.inbox.run_forever(stop)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def _wait_any(stop: asyncio.Event, kick: asyncio.Event, seconds: float) -> None:
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
) -> int:
    """Run the service (or one pass with ``once``); return the process exit code."""
    settings.secret_value()
    if warning := settings.authserv_warning():
        log.warning(warning, extra={"event": "authserv-id-missing"})
    engine = await open_store(settings.database_url)
    try:
        async with daemon_lock(engine, settings.database_url):
            service = Service(engine, settings, now)
            if tick is not None:
                service.planner_sleep = service.sender_sleep = tick
            if inbox:
                await check_mailbox(settings)
            if once:
                return await _once(service, inbox=inbox, console=console)
            stop = stop or asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            log.info("leernet runs", extra={"event": "started"})
            if ready is not None:
                await ready()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(service.planner_loop(stop))
                tg.create_task(service.sender_loop(stop))
                if inbox:
                    tg.create_task(service.receiver_loop(stop))
            log.info("leernet stopped", extra={"event": "stopped"})
            return 0
    finally:
        await engine.dispose()


async def _once(service: Service, *, inbox: bool, console: Console | None) -> int:
    await service.plan_once()
    first = await service.send_once()
    received = None
    if inbox:
        received = await service.inbox.run_once()
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
