"""Two daemons on one PostgreSQL: the second waits as a hot standby and takes over.

Both are real ``leernet run`` processes against a throw-away PostgreSQL
cluster, Dovecot and an SMTP sink. While the active one sends 500 messages and
replies arrive, it is killed with SIGKILL (or its database connections go
silent); the standby must take over within 30 seconds, deliver everything,
each message at most twice and never altered, and record every reply once.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from leernet.daemon import LOCK_LOST
from leernet.mailer.tokens import participant_token, reply_address
from tests.dovecot import ImapAccount, append, uids
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.harness import (
    SECRET,
    SERVICE,
    SLUG,
    Sink,
    daemon_env,
    kill9,
    network_toml,
    people,
    settings_for,
    spawn,
    start_network,
    stop,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.dovecot, pytest.mark.slow]

_MID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
_COUNTER = itertools.count(1)
TAKEOVER_LIMIT = 30.0  # seconds: the promise for a dead active daemon


async def _fresh_database(base_url: str) -> str:
    import asyncpg  # noqa: PLC0415 - only PostgreSQL tests need the driver

    name = f"standby_{next(_COUNTER)}"
    dsn = base_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    conn = await asyncpg.connect(f"{dsn}/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return f"{base_url.rsplit('/', 1)[0]}/{name}"


async def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    import asyncpg  # noqa: PLC0415

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    return asyncio.run(_query(url, sql))


def unfinished(url: str) -> int:
    waiting = "('queued', 'sending', 'deferred', 'resend', 'resending')"
    (row,) = query(url, f"SELECT count(*) FROM outbox WHERE state IN {waiting}")
    return int(str(row[0]))


def logged(folder: Path, text: str) -> bool:
    log = folder / "daemon.log"
    return log.exists() and text.encode() in log.read_bytes()


@contextmanager
def proxy_to(url: str) -> Iterator[tuple[str, FaultProxy, asyncio.AbstractEventLoop]]:
    """A loopback FaultProxy to the database of ``url`` on a thread of its own; the proxied URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    parts = urlsplit(url)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    proxied = url.replace(f":{parts.port}/", f":{proxy.port}/")
    try:
        yield proxied, proxy, loop
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@dataclass(frozen=True, slots=True)
class Outcome:
    takeover: float
    sent_before: int
    copies: Counter[str]
    altered: int
    rows: int
    active_exit: int | None

    def line(self, how: str) -> str:
        twice = sum(1 for n in self.copies.values() if n == 2)
        return (
            f"{how} after {self.sent_before} of {self.rows} sends: standby took over in "
            f"{self.takeover:.1f} s; {self.rows - len(self.copies)} lost, {twice} twice, "
            f"max {max(self.copies.values())} copies, {self.altered} altered"
        )


def reply(n: int) -> bytes:
    """Participant ``n`` writes to their reply address (a message for the organiser)."""
    sender = f"p{n}@example.com"
    to = reply_address(SERVICE, participant_token(SECRET, SLUG, sender))
    return (
        f"From: Deelnemer {n} <{sender}>\r\nTo: {to}\r\nSubject: Vraag {n}\r\n"
        f"Message-ID: <reply-{n}@example.com>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nIs er parking?\r\n"
    ).encode()


REPLIES = 30  # 10 while the active daemon runs, 20 once it is broken


def scenario(
    tmp_path: Path, url: str, *, active_url: str, fail: object, account: ImapAccount
) -> Outcome:
    """Two daemons, 500 messages and 30 replies; ``fail(active)`` breaks the active one
    after 100 sends.
    """
    start_network(
        tmp_path, network_toml(people(250)), settings_for(tmp_path / "x.db", database_url=url)
    )
    active_dir, standby_dir = tmp_path / "active", tmp_path / "standby"
    active_dir.mkdir()
    standby_dir.mkdir()
    with Sink() as sink:
        env = daemon_env(
            tmp_path / "x.db",
            smtp_port=sink.port,
            database_url=url,
            smtp_timeout=120,
            imap_port=account.port,
            imap_user=account.user,
            imap_password=account.password,
            imap_poll_seconds=0.5,
            imap_idle_seconds=2,
        )
        # The sink holds the active daemon's first message until the standby waits, then
        # breaks the active daemon at the 100th message (after the dot, before the 250:
        # the worst moment for duplicates).
        standby_waits = threading.Event()
        broken_at: list[float] = []

        def hold() -> None:
            standby_waits.wait(90)

        def fail_active() -> None:
            broken_at.append(time.monotonic())
            fail(active)  # type: ignore[operator]

        sink.trap("rcpt", 1, hold)
        asyncio.run(append(account, *[reply(n) for n in range(1, 11)]))
        active = spawn(active_dir, {**env, "LEERNET_DATABASE_URL": active_url}, "run")
        standby = None
        try:
            assert wait_until(lambda: logged(active_dir, "leernet runs"), 60), (
                active_dir / "daemon.log"
            ).read_text()
            standby = spawn(standby_dir, env, "run")
            assert wait_until(lambda: logged(standby_dir, "hot standby"), 60), (
                standby_dir / "daemon.log"
            ).read_text()
            assert not logged(standby_dir, "leernet runs")  # it holds nothing, sends nothing
            sink.trap("data", 100, fail_active)
            standby_waits.set()
            assert wait_until(lambda: bool(broken_at), 120)
            sent_before = 100
            assert wait_until(lambda: logged(standby_dir, "leernet runs"), 2 * TAKEOVER_LIMIT), (
                standby_dir / "daemon.log"
            ).read_text()[-3000:]
            takeover = time.monotonic() - broken_at[0]
            asyncio.run(append(account, *[reply(n) for n in range(11, REPLIES + 1)]))
            assert wait_until(lambda: unfinished(url) == 0, 180), unfinished(url)
            assert wait_until(lambda: not asyncio.run(uids(account)), 120)
            active_exit = active.wait(60)
        finally:
            standby_waits.set()
            kill9(active)
            active.wait(20)
            if standby is not None:
                assert stop(standby) == 0
        deliveries = sink.deliveries
    rows = dict(
        query(url, "SELECT message_id, raw FROM outbox JOIN outbox_body ON outbox_id = outbox.id")
    )
    copies = Counter[str]()
    altered = 0
    for d in deliveries:
        found = _MID.search(d.data)
        mid = found.group(1).decode() if found else ""
        copies[mid] += 1
        altered += mid not in rows or bytes(rows[mid]) != d.data  # type: ignore[arg-type]
    assert set(copies) == set(rows), "a message was lost"
    # Every reply archived and processed exactly once (the archive is unique by content).
    archived = query(url, "SELECT message_id, outcome FROM inbox")
    assert sorted(str(m) for m, _ in archived) == sorted(
        f"<reply-{n}@example.com>" for n in range(1, REPLIES + 1)
    )
    assert all(outcome == "message" for _, outcome in archived), archived
    return Outcome(takeover, sent_before, copies, altered, len(rows), active_exit)


class TestHotStandby:
    def test_the_standby_takes_over_a_killed_daemon(
        self, postgres_url: str, tmp_path: Path, figure: list[str], dovecot: ImapAccount
    ) -> None:
        """SIGKILL of the active daemon mid-send: the standby takes over within 30 s, nothing is lost or altered."""
        url = asyncio.run(_fresh_database(postgres_url))
        outcome = scenario(tmp_path, url, active_url=url, fail=kill9, account=dovecot)
        figure.append(outcome.line("SIGKILL of the active daemon"))
        assert outcome.takeover < TAKEOVER_LIMIT
        assert outcome.rows == 500 + REPLIES  # each reply is forwarded to the organiser once
        assert max(outcome.copies.values()) <= 2
        assert outcome.altered == 0

    def test_the_standby_takes_over_when_the_active_daemon_is_cut_off(
        self, postgres_url: str, tmp_path: Path, figure: list[str], dovecot: ImapAccount
    ) -> None:
        """The active daemon's database connections go silent (a proxy stops forwarding): the
        server ends its lease, the standby takes over within 30 s, the cut-off daemon stops itself.
        """
        url = asyncio.run(_fresh_database(postgres_url))
        with proxy_to(url) as (proxied, proxy, loop):
            outcome = scenario(
                tmp_path,
                url,
                active_url=proxied,
                fail=lambda _: loop.call_soon_threadsafe(proxy.stall),
                account=dovecot,
            )
        figure.append(outcome.line("The active daemon's database cut off"))
        assert outcome.takeover < TAKEOVER_LIMIT
        assert outcome.rows == 500 + REPLIES  # each reply is forwarded to the organiser once
        assert max(outcome.copies.values()) <= 2
        assert outcome.altered == 0
        assert outcome.active_exit == LOCK_LOST  # it noticed and stopped by itself
