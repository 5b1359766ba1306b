"""The inbox against real IMAP servers: every mail archived and processed exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from leernet.errors import MailboxError, ParseError
from leernet.mailer import inbox as inbox_module
from leernet.mailer.budget import Budget, BudgetExceeded
from leernet.mailer.disposition import Disposition
from leernet.mailer.headers import message_id
from leernet.mailer.imap_responses import (
    parse_delimiter,
    parse_fetch,
    parse_search,
    server_folder,
    uid_set,
)
from leernet.mailer.inbox import Inbox, InboxResult
from leernet.store import imap_state, inbox, open_store
from tests.dovecot import (
    DovecotServer,
    ImapAccount,
    append,
    dovecot,  # noqa: F401 - fixture
    dovecot_server,  # noqa: F401 - fixture
    folders,
    free_port,
    messages,
    running_dovecot,
    uids,
)
from tests.imapserver import pymap  # noqa: F401 - fixture
from tests.reliability.faultproxy import FaultProxy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

NOW = datetime(2027, 1, 14, 12, 0, tzinfo=UTC)
PROCESSED = "leernet.processed"  # Dovecot maildir's hierarchy delimiter is "."
ATTENTION = "leernet.needs-attention"


def mail(n: int, subject: str = "", body: str = "", message_id: str = "") -> bytes:
    subject = subject or f"Bericht {n}"
    mid = message_id or f"<m{n}@example.com>"
    body = body or f"Tekst van bericht {n}.\r\n"
    return (
        f"From: Bert Claes <bert.claes@example.com>\r\nTo: netwerk@example.org\r\n"
        f"Subject: {subject}\r\nMessage-ID: {mid}\r\nDate: Thu, 14 Jan 2027 10:00:00 +0100\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


# Enough pure-Python steps to take seconds: a budget of milliseconds stops it long before.
BURN_STEPS = 30_000_000


def burn(steps: int = BURN_STEPS) -> int:
    """A pure-Python loop of ``steps`` steps; returns how many it completed."""
    done = 0
    for _ in range(steps):
        done += 1
    return done


@dataclass
class Recorder:
    """A processor: 'attention' in the Subject sets the mail aside, 'explode' raises, 'burn' loops."""

    calls: list[bytes] = field(default_factory=list)
    proxy: FaultProxy | None = None  # cut after each success: a crash between commit and MOVE
    burnt: list[int] = field(default_factory=list)  # steps done by each 'burn' that returned

    async def __call__(self, conn: AsyncConnection, row_id: int, raw: bytes) -> Disposition:
        self.calls.append(raw)
        stored = (await conn.execute(select(inbox.c.raw).where(inbox.c.id == row_id))).scalar()
        assert stored == raw  # runs inside the archive transaction
        if b"burn-cpu" in raw:
            self.burnt.append(burn())
        if b"burn-regex" in raw:
            # Catastrophic backtracking: 2**40 steps inside the C regex engine.
            self.burnt.append(bool(re.match(r"(a+)+$", "a" * 40 + "b")))
        if b"burn-swallowed" in raw:
            try:  # a parser that catches everything must not keep the hang going
                self.burnt.append(burn())
            except Exception:
                self.burnt.append(-1)
        if b"explode-leernet" in raw:
            raise ParseError("could not understand this reply")
        if b"explode-bug" in raw:
            raise ZeroDivisionError("division by zero")
        if self.proxy is not None:
            self.proxy.cut()
        if b"attention" in raw:
            return Disposition("unknown", "not from a participant", attention=True)
        return Disposition("evaluation", "ok", attention=False)


@pytest.fixture
async def engine(tmp_path: Any) -> AsyncIterator[AsyncEngine]:
    engine = await open_store(f"sqlite+aiosqlite:///{tmp_path}/leernet.db")
    yield engine
    await engine.dispose()


@pytest.fixture
async def proxy(dovecot: ImapAccount) -> AsyncIterator[FaultProxy]:  # noqa: F811
    proxy = await FaultProxy(dovecot.host, dovecot.port).start()
    yield proxy
    await proxy.close()


# RFC 6851 3.3 fallback: a server without MOVE and without UIDPLUS (RFC 4315).
NO_MOVE = """
protocol imap {
  imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE CHILDREN
}
"""


@pytest.fixture(scope="module")
def dovecot_without_move() -> Iterator[DovecotServer]:
    with running_dovecot(NO_MOVE) as server:
        yield server


def make_inbox(engine: AsyncEngine, account: ImapAccount, processor: Any, **settings: Any) -> Inbox:
    batch = settings.pop("batch_size", 100)
    on_set_aside = settings.pop("on_set_aside", None)
    # The in-flight log lives beside the database: the test's, not one in the working directory.
    settings.setdefault("database_url", engine.url.render_as_string(hide_password=False))
    return Inbox(
        engine,
        account.settings(**settings),
        processor,
        lambda: NOW,
        batch_size=batch,
        on_set_aside=on_set_aside,
    )


def via(proxy: FaultProxy, account: ImapAccount) -> ImapAccount:
    return ImapAccount(proxy.host, proxy.port, account.user, account.password)


async def rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(select(inbox).order_by(inbox.c.id)))


async def until(check: Any, seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


class TestParsers:
    def test_fetch_items_around_the_literal(self) -> None:
        """A UID and size given after the body literal still belong to that message."""
        lines = [
            b"1 FETCH (BODY[] {5}",
            bytearray(b"Hallo"),
            b" UID 7 RFC822.SIZE 5)",
            b"2 FETCH (UID 9 RFC822.SIZE 3 BODY[] {3}",
            bytearray(b"a)("),
            b")",
            b"Fetch completed.",
        ]
        assert [(m.uid, m.size, m.data) for m in parse_fetch(lines)] == [
            (7, 5, b"Hallo"),
            (9, 3, b"a)("),
        ]

    def test_fetch_skips_unsolicited_flag_updates(self) -> None:
        """A FETCH without a UID (another client set a flag) is no message."""
        lines = [b"3 FETCH (FLAGS (\\Seen))", b"4 FETCH (UID 12 RFC822.SIZE 40)", b"done UID 99"]
        assert [(m.uid, m.size, m.data) for m in parse_fetch(lines)] == [(12, 40, b"")]

    def test_search_delimiter_and_sets(self) -> None:
        """Search results, the LIST delimiter and UID sets are read and written as RFC 3501 says."""
        assert parse_search([b"5 3 4", b"Search completed"]) == [3, 4, 5]
        assert parse_search([b"Search completed"]) == []
        assert parse_delimiter([b'(\\Noselect) "." ""', b"List completed"]) == "."
        assert parse_delimiter([b"(\\Noselect) NIL ", b"List completed"]) == ""
        assert uid_set([9, 1, 2, 3, 7, 10]) == "1:3,7,9:10"
        assert server_folder("leernet/processed", ".") == "leernet.processed"
        assert server_folder("leernet/processed", "/") == "leernet/processed"

    def test_message_id_from_headers_only(self) -> None:
        """The Message-ID is read from the header; a body line that looks like one is ignored."""
        assert message_id(mail(1)) == "<m1@example.com>"
        assert message_id(b"Subject: x\r\n\r\nMessage-ID: <body@x>\r\n") is None


@pytest.mark.dovecot
class TestDovecot:
    async def test_five_mails_archived_processed_and_moved(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
    ) -> None:
        """Five mails are stored byte for byte, processed once each and moved out of INBOX."""
        raws = [mail(1), mail(2, "Vraag, attention"), mail(3), mail(4), mail(5, "attention")]
        await append(dovecot, *raws)
        recorder = Recorder()
        box = make_inbox(engine, dovecot, recorder)
        assert await box.run_once() == InboxResult(fetched=5, processed=5, duplicates=0, moved=5)
        stored = await rows(engine)
        assert [r.raw for r in stored] == raws
        assert all(r.sha256 == hashlib.sha256(r.raw).hexdigest() for r in stored)
        assert [r.message_id for r in stored] == [f"<m{n}@example.com>" for n in range(1, 6)]
        assert all(r.moved and r.processed_at == NOW for r in stored)
        assert [r.folder for r in stored] == [PROCESSED, ATTENTION, PROCESSED, PROCESSED, ATTENTION]
        assert recorder.calls == raws
        assert await uids(dovecot) == []
        assert await messages(dovecot, PROCESSED) == [raws[0], raws[2], raws[3]]
        assert await messages(dovecot, ATTENTION) == [raws[1], raws[4]]
        assert {PROCESSED, ATTENTION} <= set(await folders(dovecot))
        assert await box.run_once() == InboxResult()
        assert len(recorder.calls) == 5

    async def test_same_mail_twice_is_processed_once(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
    ) -> None:
        """The same mail delivered twice is processed once, and both copies leave INBOX."""
        await append(dovecot, mail(1), mail(1))
        recorder = Recorder()
        result = await make_inbox(engine, dovecot, recorder).run_once()
        assert result == InboxResult(fetched=2, processed=1, duplicates=1, moved=2)
        assert len(recorder.calls) == 1
        assert len(await rows(engine)) == 1
        assert await uids(dovecot) == []
        assert len(await messages(dovecot, PROCESSED)) == 2

    async def test_uidvalidity_change_applies_nothing_twice(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
        dovecot_server: DovecotServer,  # noqa: F811
    ) -> None:
        """After the server renumbers its mailbox, mails seen before are not processed again."""
        raws = [mail(1), mail(2)]
        await append(dovecot, *raws)
        recorder = Recorder()
        await make_inbox(engine, dovecot, recorder).run_once()
        await append(dovecot, *raws, mail(3))  # the same mails come back, and one new one
        dovecot_server.reset_uidvalidity(dovecot.user)
        result = await make_inbox(engine, dovecot, recorder).run_once()
        assert result == InboxResult(fetched=3, processed=1, duplicates=2, moved=3)
        assert recorder.calls == [*raws, mail(3)]
        async with engine.connect() as conn:
            state = (await conn.execute(select(imap_state))).one()
        stored = await rows(engine)
        assert stored[2].uidvalidity == state.uidvalidity != stored[0].uidvalidity
        assert await uids(dovecot) == []

    async def test_crash_between_commit_and_move(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
        proxy: FaultProxy,
    ) -> None:
        """A mail committed but never moved is moved by the next run, not processed again."""
        raws = [mail(1), mail(2, "attention")]
        await append(dovecot, *raws)
        recorder = Recorder(proxy=proxy)
        with pytest.raises(MailboxError):
            await make_inbox(engine, via(proxy, dovecot), recorder).run_once()
        assert [r.moved for r in await rows(engine)] == [False, False]
        assert len(await uids(dovecot)) == 2
        recorder.proxy = None
        result = await make_inbox(engine, via(proxy, dovecot), recorder).run_once()
        assert result == InboxResult(moved=2)
        assert recorder.calls == raws
        assert [r.moved for r in await rows(engine)] == [True, True]
        assert await messages(dovecot, PROCESSED) == [raws[0]]
        assert await messages(dovecot, ATTENTION) == [raws[1]]

    async def test_many_mails_left_unmoved_are_moved_in_parts(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
        proxy: FaultProxy,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """1,200 mails committed before a crash that came before any MOVE are all moved by the next run (aioimaplib cannot take 1,200 EXPUNGE lines in one answer)."""
        raws = [mail(n, "last" if n == 1200 else "") for n in range(1, 1201)]
        await append(dovecot, *raws)

        @dataclass
        class CutAtLast(Recorder):
            async def __call__(self, conn: AsyncConnection, row_id: int, raw: bytes) -> Disposition:
                if b"Subject: last" in raw:
                    proxy.cut()  # the crash: after every commit, before any MOVE
                return Disposition("evaluation", "ok", attention=False)

        monkeypatch.setattr(inbox_module, "MOVE_EVERY", 10**6)
        with pytest.raises(MailboxError):
            await make_inbox(engine, via(proxy, dovecot), CutAtLast()).run_once()
        assert sum(not r.moved for r in await rows(engine)) == 1200
        monkeypatch.undo()
        result = await make_inbox(engine, dovecot, Recorder()).run_once()
        assert result == InboxResult(moved=1200)
        assert await uids(dovecot) == []
        assert len(await uids(dovecot, PROCESSED)) == 1200

    async def test_crash_then_uidvalidity_change(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
        dovecot_server: DovecotServer,  # noqa: F811
        proxy: FaultProxy,
    ) -> None:
        """Mails committed before a crash and then renumbered are moved, never processed again."""
        raws = [mail(1), mail(2)]
        await append(dovecot, *raws)
        recorder = Recorder(proxy=proxy)
        with pytest.raises(MailboxError):
            await make_inbox(engine, via(proxy, dovecot), recorder).run_once()
        dovecot_server.reset_uidvalidity(dovecot.user)
        recorder.proxy = None
        result = await make_inbox(engine, dovecot, recorder).run_once()
        assert result == InboxResult(fetched=2, duplicates=2, moved=2)
        assert recorder.calls == raws
        assert await uids(dovecot) == []

    async def test_processor_error_sets_the_mail_aside(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
    ) -> None:
        """A mail the processor fails on is kept as 'error' in needs-attention; the next goes on."""
        raws = [mail(1, "explode-leernet"), mail(2, "explode-bug"), mail(3)]
        await append(dovecot, *raws)
        recorder = Recorder()
        result = await make_inbox(engine, dovecot, recorder).run_once()
        assert result == InboxResult(fetched=3, processed=3, moved=3)
        stored = await rows(engine)
        assert [(r.outcome, r.folder) for r in stored] == [
            ("error", ATTENTION),
            ("error", ATTENTION),
            ("evaluation", PROCESSED),
        ]
        assert stored[0].reason == "could not understand this reply"
        assert stored[1].reason == "ZeroDivisionError: division by zero"
        assert [r.raw for r in stored] == raws
        assert await messages(dovecot, ATTENTION) == raws[:2]

    @pytest.mark.parametrize("marker", ["burn-cpu", "burn-regex", "burn-swallowed"])
    async def test_a_mail_over_its_budget_is_set_aside_and_the_batch_goes_on(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
        marker: str,
    ) -> None:
        """A mail whose processing runs over its CPU budget is archived as 'budget' in needs-attention and reported; the rest of the batch is processed."""
        raws = [mail(1), mail(2), mail(3, marker), mail(4), mail(5, "attention")]
        await append(dovecot, *raws)
        recorder = Recorder()
        told: list[tuple[int, bytes, Disposition]] = []

        async def on_set_aside(
            _conn: AsyncConnection, row_id: int, raw: bytes, disposition: Disposition
        ) -> None:
            told.append((row_id, raw, disposition))

        box = make_inbox(
            engine, dovecot, recorder, mail_budget_seconds=0.05, on_set_aside=on_set_aside
        )
        assert await box.run_once() == InboxResult(fetched=5, processed=5, moved=5)
        stored = await rows(engine)
        assert [(r.raw, r.outcome, r.folder) for r in stored] == [
            (raws[0], "evaluation", PROCESSED),
            (raws[1], "evaluation", PROCESSED),
            (raws[2], "budget", ATTENTION),
            (raws[3], "evaluation", PROCESSED),
            (raws[4], "unknown", ATTENTION),
        ]
        assert "LEERNET_MAIL_BUDGET_SECONDS" in stored[2].reason
        assert recorder.burnt == []  # no burn ran to its end
        assert recorder.calls.count(raws[2]) == 1  # not run again when the batch is redone
        assert [(row_id, raw, d.outcome) for row_id, raw, d in told] == [
            (stored[2].id, raws[2], "budget")
        ]
        assert await messages(dovecot, ATTENTION) == [raws[2], raws[4]]
        assert await messages(dovecot, PROCESSED) == [raws[0], raws[1], raws[3]]

    async def test_a_mail_the_processor_fails_on_is_reported(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
    ) -> None:
        """A mail set aside because the processor raised is reported (a person is told); mails the processor set aside itself are not reported twice."""
        raws = [mail(1, "explode-bug"), mail(2, "attention"), mail(3)]
        await append(dovecot, *raws)
        told: list[tuple[bytes, str]] = []

        async def on_set_aside(
            _conn: AsyncConnection, _row_id: int, raw: bytes, disposition: Disposition
        ) -> None:
            told.append((raw, disposition.outcome))

        box = make_inbox(engine, dovecot, Recorder(), on_set_aside=on_set_aside)
        await box.run_once()
        assert told == [(raws[0], "error")]

    async def test_too_large_mail_is_kept_by_its_header(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
    ) -> None:
        """A mail over max_message_bytes is recorded by its header, set aside, not processed."""
        big = mail(1, body="x" * 5000 + "\r\n")
        await append(dovecot, big, mail(2))
        recorder = Recorder()
        await make_inbox(engine, dovecot, recorder, max_message_bytes=2000).run_once()
        stored = await rows(engine)
        assert (stored[0].outcome, stored[0].folder, stored[0].size) == (
            "too-large",
            ATTENTION,
            len(big),
        )
        assert big.startswith(stored[0].raw)
        assert b"xxx" not in stored[0].raw
        assert stored[0].message_id == "<m1@example.com>"
        assert recorder.calls == [mail(2)]
        assert await messages(dovecot, ATTENTION) == [big]

    async def test_connection_dropped_mid_fetch(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
        proxy: FaultProxy,
    ) -> None:
        """A connection lost in the middle of a FETCH loses and repeats nothing."""
        raws = [mail(n, body=f"{n:04d}" * 1000 + "\r\n") for n in range(1, 31)]
        await append(dovecot, *raws)
        recorder = Recorder()
        proxy.cut_after(70_000)  # about halfway through the second batch of ten
        box = make_inbox(engine, via(proxy, dovecot), recorder, batch_size=10)
        with pytest.raises(MailboxError):
            await box.run_once()
        assert 0 < len(recorder.calls) < 30
        await box.run_once()
        assert sorted(recorder.calls) == sorted(raws)
        assert sorted(r.raw for r in await rows(engine)) == sorted(raws)
        assert await uids(dovecot) == []
        assert len(await messages(dovecot, PROCESSED)) == 30

    async def test_idle_processes_new_mail_and_survives_a_cut(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
        proxy: FaultProxy,
    ) -> None:
        """With IDLE a new mail is handled within seconds, also after the connection was cut."""
        recorder = Recorder()
        box = make_inbox(engine, via(proxy, dovecot), recorder)
        stop = asyncio.Event()
        task = asyncio.create_task(box.run_forever(stop))
        try:
            await until(lambda: _has_folder(dovecot, PROCESSED))
            await asyncio.sleep(0.3)  # let it enter IDLE
            await append(dovecot, mail(1))
            await until(lambda: _count(recorder, 1), seconds=3)
            proxy.cut()
            await asyncio.sleep(0.2)
            await append(dovecot, mail(2))
            await until(lambda: _count(recorder, 2), seconds=5)
            assert proxy.connections >= 2
            await until(lambda: _empty(dovecot))
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        assert recorder.calls == [mail(1), mail(2)]

    async def test_server_without_move(
        self, engine: AsyncEngine, dovecot_without_move: DovecotServer
    ) -> None:
        r"""A server without MOVE gets COPY, \\Deleted and EXPUNGE, with the same result."""
        account = dovecot_without_move.add_user()
        raws = [mail(1), mail(2, "attention")]
        await append(account, *raws)
        box = make_inbox(engine, account, Recorder())
        assert await box.run_once() == InboxResult(fetched=2, processed=2, moved=2)
        assert await uids(account) == []
        assert await messages(account, PROCESSED) == [raws[0]]
        assert await messages(account, ATTENTION) == [raws[1]]

    async def test_xoauth2_is_offered_to_the_server(
        self,
        engine: AsyncEngine,
        dovecot: ImapAccount,  # noqa: F811
    ) -> None:
        """With imap_auth=xoauth2 the token goes in AUTHENTICATE XOAUTH2; a refusal is reported."""
        box = make_inbox(engine, dovecot, Recorder(), imap_auth="xoauth2")
        with pytest.raises(MailboxError, match="AUTHENTICATE XOAUTH2 failed: NO"):
            await box.run_once()


async def _has_folder(account: ImapAccount, name: str) -> bool:
    return name in await folders(account)


async def _count(recorder: Recorder, n: int) -> bool:
    return len(recorder.calls) >= n


async def _empty(account: ImapAccount) -> bool:
    return await uids(account) == []


class TestPymap:
    async def test_five_mails_archived_processed_and_moved(
        self,
        engine: AsyncEngine,
        pymap: ImapAccount,  # noqa: F811
    ) -> None:
        """Against pymap too, mails are stored byte for byte and moved ('/' as delimiter)."""
        raws = [mail(1), mail(2, "attention"), mail(3)]
        await append(pymap, *raws)
        recorder = Recorder()
        box = make_inbox(engine, pymap, recorder)
        assert await box.run_once() == InboxResult(fetched=3, processed=3, moved=3)
        assert [r.raw for r in await rows(engine)] == raws
        assert await uids(pymap) == []
        assert await messages(pymap, "leernet/processed") == [raws[0], raws[2]]
        assert await messages(pymap, "leernet/needs-attention") == [raws[1]]
        assert await box.run_once() == InboxResult()

    async def test_idle(self, engine: AsyncEngine, pymap: ImapAccount) -> None:  # noqa: F811
        """With pymap's IDLE, a mail appended while the daemon waits is handled at once."""
        recorder = Recorder()
        stop = asyncio.Event()
        task = asyncio.create_task(make_inbox(engine, pymap, recorder).run_forever(stop))
        try:
            await until(lambda: _has_folder(pymap, "leernet/processed"))
            await asyncio.sleep(0.2)
            await append(pymap, mail(1))
            await until(lambda: _count(recorder, 1), seconds=2)
            await until(lambda: _empty(pymap))
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


class TestBudget:
    def test_the_budget_stops_a_loop_by_counting_its_steps(self) -> None:
        """A tiny budget stops a loop of 30 million steps long before its end."""
        steps = [0]

        def counted() -> None:
            for _ in range(BURN_STEPS):
                steps[0] += 1

        with pytest.raises(BudgetExceeded), Budget(0.02).limit():
            counted()
        assert 0 < steps[0] < BURN_STEPS

    def test_a_block_within_its_budget_is_untouched_and_leaves_no_timer(self) -> None:
        """A block that finishes in time runs to its end and leaves the CPU timer and handler as found."""
        import signal  # noqa: PLC0415

        before = signal.getsignal(signal.SIGPROF)
        with Budget(5).limit():
            assert burn(1000) == 1000
        assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGPROF) is before

    def test_off_the_main_thread_the_budget_is_off(self) -> None:
        """In a worker thread (no signals there) the block simply runs: it degrades, never breaks."""
        import threading  # noqa: PLC0415

        done: list[int] = []
        thread = threading.Thread(target=lambda: done.append(_limited(Budget(0.001))))
        thread.start()
        thread.join()
        assert done == [200_000]


def _limited(budget: Budget) -> int:
    assert not budget.enabled
    with budget.limit():
        return burn(200_000)


class TestOutage:
    async def test_unreachable_server_is_logged_once(
        self, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A mailbox that stays down is one warning, however often the daemon retries."""
        account = ImapAccount("127.0.0.1", free_port(), "netwerk")
        stop = asyncio.Event()
        with caplog.at_level(logging.DEBUG, logger="leernet.inbox"):
            task = asyncio.create_task(make_inbox(engine, account, Recorder()).run_forever(stop))

            def retried() -> bool:  # tries at 0 s, 1 s, 3 s (backoff 1 s, 2 s, ...)
                return any(
                    r.name == "leernet.inbox" and r.levelno == logging.DEBUG for r in caplog.records
                )

            async with asyncio.timeout(30):
                while not retried():
                    await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 5)
        mine = [r for r in caplog.records if r.name == "leernet.inbox"]
        warnings = [r for r in mine if r.levelno == logging.WARNING]
        retries = [r for r in mine if r.levelno == logging.DEBUG]
        assert len(warnings) == 1
        assert "unavailable" in warnings[0].getMessage()
        assert len(retries) >= 1

    async def test_run_once_raises_mailbox_error(self, engine: AsyncEngine) -> None:
        """One pass against a server that is not there fails with MailboxError, nothing else."""
        account = ImapAccount("127.0.0.1", free_port(), "netwerk")
        with pytest.raises(MailboxError, match="connect"):
            await make_inbox(engine, account, Recorder()).run_once()


@pytest.mark.postgres
class TestPostgres:
    async def test_a_mail_over_budget_on_postgresql_spares_the_other_tasks(
        self,
        postgres_url: str,  # a fixture of tests/conftest.py
        pymap: ImapAccount,  # noqa: F811
        tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """On PostgreSQL, where the processor awaits the server, only the mail over budget is stopped: a busy task beside it is never, and the in-flight log is a file in the working directory."""
        from sqlalchemy import text  # noqa: PLC0415

        from leernet.mailer.inflight import InFlight  # noqa: PLC0415

        monkeypatch.chdir(tmp_path)
        engine = await open_store(postgres_url)
        try:
            async with engine.begin() as conn:  # the session's cluster is shared by tests
                await conn.execute(text("TRUNCATE inbox, imap_state RESTART IDENTITY CASCADE"))
            raws = [mail(1), mail(2, "burn-cpu"), mail(3)]
            await append(pymap, *raws)
            stop = asyncio.Event()
            rounds = [0]

            async def busy() -> None:  # CPU in another task, between the processor's awaits
                while not stop.is_set():
                    burn(20_000)
                    rounds[0] += 1
                    await asyncio.sleep(0)

            beside = asyncio.create_task(busy())
            box = make_inbox(
                engine, pymap, Recorder(), database_url=postgres_url, mail_budget_seconds=0.05
            )
            try:
                assert await box.run_once() == InboxResult(fetched=3, processed=3, moved=3)
            finally:
                stop.set()
                await beside  # raises here if the budget had struck the wrong task
            stored = await rows(engine)
            assert [r.outcome for r in stored] == ["evaluation", "budget", "evaluation"]
            assert rounds[0] > 0
            path = InFlight.for_store(postgres_url).path
            assert path is not None
            assert path.parent == tmp_path
            assert path.name.startswith("leernet-")
            assert not path.exists()  # removed after the commit
        finally:
            await engine.dispose()


class TestInFlightLog:
    def test_a_started_mail_without_its_end_is_the_one_to_blame(self, tmp_path: Any) -> None:
        """Of the lines a killed process left, only a mail started and never ended is named; a cut last line is ignored."""
        from leernet.mailer.inflight import InFlight  # noqa: PLC0415

        path = tmp_path / "leernet.db.inflight"
        done, hung = "a" * 64, "b" * 64
        path.write_bytes(
            b"P 7 1 2 3\n"
            + f"S 7 1 {done}\nE 7 1\nS 7 2 {hung}\nS 7 3 {done[:20]}".encode()  # cut by the kill
        )
        left = InFlight(path).interrupted()
        assert left.started == ((7, 2, hung),)
        assert left.read_ahead == frozenset()

    def test_a_batch_that_died_while_read_ahead_is_processed_one_by_one(
        self, tmp_path: Any
    ) -> None:
        """A read-ahead line with no mail started after it names the batch's mails for one-by-one processing."""
        from leernet.mailer.inflight import InFlight  # noqa: PLC0415

        path = tmp_path / "leernet.db.inflight"
        path.write_bytes(b"S 7 1 " + b"a" * 64 + b"\nE 7 1\nP 7 4 5 6\n")
        left = InFlight(path).interrupted()
        assert left.started == ()
        assert left.read_ahead == {(7, 4), (7, 5), (7, 6)}
        assert left

    def test_no_file_means_nothing_in_flight(self, tmp_path: Any) -> None:
        """Without a log (a clean stop, or an in-memory store) nothing is set aside."""
        from leernet.mailer.inflight import InFlight  # noqa: PLC0415

        assert not InFlight(tmp_path / "none.inflight").interrupted()
        assert InFlight.for_store("sqlite+aiosqlite:///:memory:").path is None
