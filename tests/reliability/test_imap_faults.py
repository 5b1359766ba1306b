"""IMAP faults against a real Dovecot through a fault proxy: every answer recorded exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from leernet.mailer.inbox import Inbox
from leernet.store import schema as t
from tests.dovecot import ImapAccount, append, uids
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.service import answers_to, evaluation_requests, running_service
from tests.smtpserver import SmtpTestServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from leernet.daemon import Service
    from tests.dovecot import DovecotServer
    from tests.reliability.service import Clock

N = 8  # participants, one answer each


@dataclass
class World:
    service: Service
    clock: Clock
    proxy: FaultProxy
    account: ImapAccount
    answers: list[bytes]


@contextlib.asynccontextmanager
async def world(tmp: Path, account: ImapAccount, **settings: Any) -> AsyncIterator[World]:
    proxy = await FaultProxy(account.host, account.port).start()
    values: dict[str, Any] = {
        "imap_port": proxy.port,
        "imap_user": account.user,
        "imap_password": account.password,
        "imap_timeout": 3.0,
        "imap_idle_seconds": 2.0,
        "imap_processed_folder": "leernet/processed",
    }
    values.update(settings)
    try:
        with SmtpTestServer() as smtp:
            async with running_service(tmp, n=N, smtp_port=smtp.port, **values) as (svc, clock, _):
                await svc.send_once()
                requests = await evaluation_requests(svc, clock)
                answers = [answers_to(r, i) for i, r in enumerate(requests, start=1)]
                yield World(svc, clock, proxy, account, answers)
    finally:
        await proxy.close()


@dataclass(frozen=True, slots=True)
class Applied:
    archived: Counter[str]  # inbox rows per Message-ID
    evaluations: Counter[int]  # evaluation rows per participant
    confirmations: int
    moved: int


async def applied(engine: Any) -> Applied:
    async with engine.connect() as conn:
        archived = Counter(m for (m,) in await conn.execute(select(t.inbox.c.message_id)))
        evaluations = Counter(
            p for (p,) in await conn.execute(select(t.evaluations.c.participant_id))
        )
        confirmations = (
            await conn.execute(select(func.count()).where(t.outbox.c.kind == "confirmation"))
        ).scalar_one()
        moved = (
            await conn.execute(select(func.count()).where(t.inbox.c.moved.is_(True)))
        ).scalar_one()
    return Applied(archived, evaluations, confirmations, moved)


def exactly_once(a: Applied, n: int) -> bool:
    return (
        len(a.archived) == n
        and set(a.archived.values()) == {1}
        and len(a.evaluations) == n
        and set(a.evaluations.values()) == {1}
        and a.confirmations == n
    )


async def serve_until(
    service: Service,
    check: Callable[[], Awaitable[bool]],
    timeout: float,
    inbox: Inbox | None = None,
) -> float:
    """Run the receiver loop until ``check`` holds (or ``timeout``); return the seconds it took."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.create_task((inbox or service.inbox).run_forever(stop))
    start = loop.time()
    try:
        while not await check() and loop.time() - start < timeout:
            await asyncio.sleep(0.05)
        return loop.time() - start
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def moved(w: World, n: int) -> bool:
    return (await applied(w.service.engine)).moved >= n


@pytest.mark.dovecot
class TestConnectionFaults:
    async def test_cut_during_fetch(
        self, tmp_path: Path, dovecot: ImapAccount, figure: list[str]
    ) -> None:
        """A connection cut in the middle of a FETCH answer: reconnected, every answer recorded once."""
        async with world(tmp_path, dovecot) as w:
            await append(w.account, *w.answers)
            w.proxy.cut_after(6000)
            took = await serve_until(w.service, lambda: moved(w, N), 30)
            a = await applied(w.service.engine)
        figure.append(
            f"cut after 6000 bytes of FETCH: {len(a.archived)}/{N} recorded once in {took:.1f} s "
            f"over {w.proxy.connections} connections"
        )
        assert exactly_once(a, N)
        assert w.proxy.connections >= 2
        assert await uids(dovecot) == []

    async def test_cut_during_idle(
        self, tmp_path: Path, dovecot: ImapAccount, figure: list[str]
    ) -> None:
        """A connection cut while in IDLE: noticed, reconnected, the next mail recorded once."""
        half = N // 2
        async with world(tmp_path, dovecot, imap_idle_seconds=600) as w:
            stop = asyncio.Event()
            task = asyncio.create_task(w.service.inbox.run_forever(stop))
            try:
                await append(w.account, *w.answers[:half])
                async with asyncio.timeout(20):
                    while not await moved(w, half):
                        await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)  # in IDLE now
                w.proxy.cut()
                loop = asyncio.get_running_loop()
                start = loop.time()
                await append(w.account, *w.answers[half:])
                async with asyncio.timeout(20):
                    while not await moved(w, N):
                        await asyncio.sleep(0.05)
                took = loop.time() - start
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
            a = await applied(w.service.engine)
        figure.append(f"cut during IDLE: next mail recorded {took:.1f} s later; all {N} once")
        assert exactly_once(a, N)  # within the 20 s above: a cut that went unnoticed hangs

    async def test_half_open_connection_noticed_within_the_idle_period(
        self, tmp_path: Path, dovecot: ImapAccount, figure: list[str]
    ) -> None:
        """A connection that goes silent (no FIN) is noticed within the IDLE re-issue period plus the timeout."""
        idle, timeout, half = 2.0, 2.0, N // 2
        async with world(tmp_path, dovecot, imap_idle_seconds=idle, imap_timeout=timeout) as w:
            stop = asyncio.Event()
            task = asyncio.create_task(w.service.inbox.run_forever(stop))
            try:
                await append(w.account, *w.answers[:half])
                async with asyncio.timeout(20):
                    while not await moved(w, half):
                        await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
                w.proxy.stall()
                loop = asyncio.get_running_loop()
                start = loop.time()
                await append(w.account, *w.answers[half:])
                # Unnoticed, a half-open connection waits forever; noticed, it takes the IDLE
                # period + the DONE timeout + the first backoff (~5 s). 60 s tells them apart
                # on the busiest machine.
                async with asyncio.timeout(60):
                    while not await moved(w, N):
                        await asyncio.sleep(0.05)
                took = loop.time() - start
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
            a = await applied(w.service.engine)
        bound = idle + timeout + 1.0 + 2.0  # IDLE period + DONE timeout + first backoff + work
        figure.append(
            f"half-open (stalled) connection, IDLE {idle:g} s, timeout {timeout:g} s: "
            f"new mail recorded after {took:.1f} s (expected about {bound:g} s); all {N} once"
        )
        assert exactly_once(a, N)
        assert w.proxy.connections >= 2  # noticed: a new connection read the rest


@pytest.mark.dovecot
class TestReplays:
    async def test_same_mail_appended_twice_is_recorded_once(
        self, tmp_path: Path, dovecot: ImapAccount, figure: list[str]
    ) -> None:
        """The same answer APPENDed twice is archived, recorded and confirmed once."""
        async with world(tmp_path, dovecot) as w:
            await append(w.account, w.answers[0], w.answers[0])
            result = await w.service.inbox.run_once()
            a = await applied(w.service.engine)
        figure.append(f"duplicate APPEND: {result}; evaluations {sum(a.evaluations.values())}")
        assert result.processed == 1
        assert result.duplicates == 1
        assert exactly_once(a, 1)
        assert await uids(dovecot) == []

    async def test_crash_between_commit_and_move_then_uidvalidity_change(
        self,
        tmp_path: Path,
        dovecot: ImapAccount,
        dovecot_server: DovecotServer,
        figure: list[str],
    ) -> None:
        """Mail committed but never moved, then the folder gets a new UIDVALIDITY: the replays apply nothing twice."""
        async with world(tmp_path, dovecot) as w:
            svc = w.service
            real = svc.processor

            async def then_crash(conn: Any, row_id: int, raw: bytes) -> Any:
                disposition = await real(conn, row_id, raw)
                w.proxy.cut()  # the commit follows; the MOVE never reaches the server
                return disposition

            crashing = Inbox(svc.engine, svc.settings, then_crash, svc.now)
            await append(w.account, *w.answers)
            with contextlib.suppress(Exception):
                await crashing.run_once()
            after_crash = await applied(svc.engine)
            left = len(await uids(dovecot))
            replay = await Inbox(svc.engine, svc.settings, real, svc.now).run_once()
            await append(w.account, *w.answers[:2])  # the server loses its index: same mail again
            dovecot_server.reset_uidvalidity(dovecot.user)
            rescan = await Inbox(svc.engine, svc.settings, real, svc.now).run_once()
            a = await applied(svc.engine)
        figure.append(
            f"crash after commit, before MOVE: {len(after_crash.archived)} committed, {left} left "
            f"in INBOX; replay {replay}; after UIDVALIDITY change {rescan}; "
            f"evaluations per participant {set(a.evaluations.values())}"
        )
        assert len(after_crash.archived) >= 1
        assert left >= 1
        assert replay.processed == N - len(after_crash.archived)
        assert rescan.processed == 0
        assert exactly_once(a, N)
        assert await uids(dovecot) == []


class TestLoginRefused:
    async def test_refused_login_backs_off(
        self, tmp_path: Path, pymap: ImapAccount, figure: list[str]
    ) -> None:
        """A refused login is retried with a growing delay (1, 2, 4 s ...), not in a tight loop."""
        async with world(tmp_path, pymap, imap_password="wrong") as w:

            async def four_attempts() -> bool:
                return w.proxy.connections >= 4

            took = await serve_until(w.service, four_attempts, 60.0)
        at = w.proxy.accepted_at
        gaps = [round(b - a, 1) for a, b in itertools.pairwise(at)]
        figure.append(f"login refused: {len(at)} attempts in {took:.1f} s, gaps {gaps} s")
        assert len(at) >= 4
        # A busy machine only makes a wait longer, never shorter: each gap is at least its
        # step of the backoff (1, 2, 4 s; a little less for jitter and clock granularity).
        for gap, least in zip(gaps, (1.0, 2.0, 4.0), strict=False):
            assert gap >= least * 0.9, gaps

    async def test_refused_login_sends_one_notice(self, tmp_path: Path, pymap: ImapAccount) -> None:
        """A refused login produces exactly one notice to the organiser, however long it lasts."""
        async with world(tmp_path, pymap, imap_password="wrong") as w:
            await serve_until(w.service, _never, 4)
            async with w.service.engine.connect() as conn:
                notices = (
                    await conn.execute(select(func.count()).where(t.outbox.c.kind == "notice"))
                ).scalar_one()
        assert notices == 1


async def _never() -> bool:
    return False
