"""One active daemon per database; on PostgreSQL a second one waits as a hot standby.

SQLite: an exclusive ``flock`` on ``<db>.lock``, released by the kernel when the
process dies. A second daemon refuses to start: SQLite lives on one machine, so
a standby there would only guard against a crash that systemd restarts anyway.

PostgreSQL: a session advisory lock. A second daemon (``wait=True``) holds no
lock, sends and reads nothing, and polls until the lock is free: PostgreSQL
releases it when the active daemon's connection ends, also when its machine or
network is gone, because the server's TCP keepalives and ``tcp_user_timeout``
(``engine.KEEPALIVE``, set on every connection) make
it notice a dead peer within seconds, and because the lock connection is a lease
(``LEASE``: the server ends a session that says nothing for that long). The
active daemon checks its own lock connection every few seconds: once that fails,
PostgreSQL may already have handed the lock to the standby, so ``HeldLock.lost``
is set and the daemon must stop at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leernet.errors import AlreadyRunning
from leernet.store.engine import safe_url, sqlite_path

log = logging.getLogger("leernet.lock")

LOCK_KEY = 7261001  # pg_advisory_lock key: "leernet daemon"
# The lock connection is a lease: the server ends the session (and so releases the lock)
# after this long without a statement, and the active daemon checks it every CHECK_SECONDS.
# That also covers a cut the server's TCP cannot see (a proxy or NAT box that keeps the
# connection open but forwards nothing). PostgreSQL 14+; older servers rely on keepalives.
LEASE = "10s"
POLL_SECONDS = 1.0  # how often a standby asks for the lock
CHECK_SECONDS = 2.0  # how often the active daemon checks its lock connection
CHECK_TIMEOUT = 5.0  # a check that takes longer counts as a lost connection


@dataclass
class HeldLock:
    """The lock this daemon holds; ``lost`` is set when it can no longer be sure it does."""

    lost: asyncio.Event = field(default_factory=asyncio.Event)
    standby_waited: bool = False  # this daemon waited as a standby before it took over


@contextlib.asynccontextmanager
async def daemon_lock(
    engine: AsyncEngine, url: str, *, wait: bool = False
) -> AsyncIterator[HeldLock]:
    """Hold the one-daemon-per-database lock.

    Without ``wait``, or on SQLite, a lock held elsewhere raises ``AlreadyRunning``;
    with ``wait`` on PostgreSQL this waits (as a hot standby) until it is free.
    """
    path = sqlite_path(url)
    if path is not None:
        async with _sqlite_lock(path, wait=wait) as held:
            yield held
        return
    async with _postgres_lock(engine, url, wait=wait) as held:
        yield held


@contextlib.asynccontextmanager
async def _sqlite_lock(path: Path, *, wait: bool) -> AsyncIterator[HeldLock]:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        msg = f"another leernet daemon is already running on {path} (lock {lock_path})"
        if wait:
            msg += (
                "; a standby that takes over needs PostgreSQL (LEERNET_DATABASE_URL="
                "postgresql+asyncpg://...): SQLite lives on one machine"
            )
        raise AlreadyRunning(msg) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield HeldLock()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def sqlite_lock_free(path: Path) -> bool:
    """Whether no daemon holds the lock of the SQLite database at ``path`` (for ``health``)."""
    lock_path = path.with_name(path.name + ".lock")
    if not lock_path.exists():
        return True
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


async def _try(conn: AsyncConnection) -> bool:
    got = (await conn.execute(text(f"SELECT pg_try_advisory_lock({LOCK_KEY})"))).scalar()
    await conn.commit()  # no transaction stays open while we hold or wait
    return bool(got)


@contextlib.asynccontextmanager
async def _postgres_lock(engine: AsyncEngine, url: str, *, wait: bool) -> AsyncIterator[HeldLock]:
    held = HeldLock()
    conn = await _acquire(engine, url, wait=wait, held=held)
    watcher = asyncio.create_task(_watch(conn, held))
    try:
        yield held
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        with contextlib.suppress(SQLAlchemyError, OSError, TimeoutError):
            async with asyncio.timeout(CHECK_TIMEOUT):
                await conn.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
        await _close(conn)


async def _acquire(engine: AsyncEngine, url: str, *, wait: bool, held: HeldLock) -> AsyncConnection:
    """A connection that holds the lock; as a standby, wait (reconnecting as needed) for it."""
    while True:
        conn: AsyncConnection | None = None
        try:
            conn = await engine.connect()
            await _lease(conn)
            await _wait_for(conn, url, wait=wait, held=held)
        except (SQLAlchemyError, OSError):
            # The database went away under the standby: connect again and keep waiting.
            await _close(conn)
            if not wait:
                raise
            await asyncio.sleep(POLL_SECONDS)
        except BaseException:
            await _close(conn)
            raise
        else:
            return conn


async def _lease(conn: AsyncConnection) -> None:
    try:
        await conn.execute(text(f"SET idle_session_timeout = '{LEASE}'"))
    except SQLAlchemyError:
        await conn.rollback()  # before PostgreSQL 14: the server's TCP keepalives only
        log.warning(
            "PostgreSQL has no idle_session_timeout: a silent network cut is noticed by TCP keepalives only"
        )
    else:
        await conn.commit()


async def _wait_for(conn: AsyncConnection, url: str, *, wait: bool, held: HeldLock) -> None:
    while not await _try(conn):
        if not wait:
            msg = f"another leernet daemon is already running on {safe_url(url)}"
            raise AlreadyRunning(msg)
        if not held.standby_waited:
            log.info(
                "another daemon is active: waiting as a hot standby", extra={"event": "standby"}
            )
            held.standby_waited = True
        await asyncio.sleep(POLL_SECONDS)
    if held.standby_waited:
        log.warning(
            "the active daemon is gone: this standby takes over",
            extra={"event": "standby-takeover"},
        )


async def _close(conn: AsyncConnection | None) -> None:
    if conn is not None:
        with contextlib.suppress(SQLAlchemyError, OSError, TimeoutError):
            async with asyncio.timeout(CHECK_TIMEOUT):
                await conn.close()


async def _watch(conn: AsyncConnection, held: HeldLock) -> None:
    """Check the lock connection; a failed or slow check means the lock may be gone."""
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                mine = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND objid = :key AND pid = pg_backend_pid() AND granted"
                        ),
                        {"key": LOCK_KEY},
                    )
                ).scalar()
                await conn.commit()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.error(  # noqa: TRY400 - the reason is one line; a traceback says no more
                "the database connection that holds the daemon lock is lost: stopping",
                extra={"event": "lock-lost", "error": str(exc)[:200]},
            )
            held.lost.set()
            return
        if not mine:
            log.error("the daemon lock is no longer held: stopping", extra={"event": "lock-lost"})
            held.lost.set()
            return
