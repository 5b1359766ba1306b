"""The durable outbox against a real aiosmtpd on port 0 and a SQLite file."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import JSON, Column, select, update

from leernet.mailer.attempts import AttemptLog, Attempts
from leernet.mailer.queue import FailedMessage, Outgoing, counts, enqueue, existing_keys
from leernet.mailer.recovery import recover
from leernet.mailer.sender import DrainResult, Outbox, backoff, drain
from leernet.messages.factory import Factory
from leernet.messages.notices import failure_notifier
from leernet.settings import Settings
from leernet.store.engine import open_store
from leernet.store.schema import UtcDateTime, networks, outbox, outbox_body
from tests.smtpserver import SmtpTestServer, closed_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T0 = datetime(2027, 9, 16, 8, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand (no sleeping for backoff)."""

    def __init__(self, start: datetime = T0) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


class Failures:
    """Records every on_failure call."""

    def __init__(self) -> None:
        self.calls: list[FailedMessage] = []

    async def __call__(self, conn: AsyncConnection, failed: FailedMessage) -> None:
        self.calls.append(failed)


def make_raw(key: str, recipient: str, body: str) -> tuple[str, bytes]:
    msg_id = f"<leernet.{hashlib.sha256(key.encode()).hexdigest()[:32]}@example.org>"
    raw = (
        "From: Lerend netwerk <netwerk@example.org>\r\n"
        f"To: {recipient}\r\n"
        f"Subject: Test {key}\r\n"
        f"Message-ID: {msg_id}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "\r\n"
        f"{body}\r\n"
        ".leading dot line\r\n"
        "--b1\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n'
        "\r\n"
        f"<p>{body}</p>\r\n"
        "--b1--\r\n"
    ).encode()
    return msg_id, raw


def item(
    key: str,
    recipient: str = "an@example.com",
    *,
    network_id: int | None = None,
    kind: str = "invite",
    body: str = "Hallo",
    not_after: datetime | None = None,
) -> Outgoing:
    msg_id, raw = make_raw(key, recipient, body)
    return Outgoing(key, kind, recipient, msg_id, raw, network_id, not_after=not_after)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}")
    yield eng
    await eng.dispose()


@pytest.fixture
def server() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as srv:
        yield srv


async def queue(engine: AsyncEngine, items: list[Outgoing], now: datetime = T0) -> int:
    async with engine.begin() as conn:
        return await enqueue(conn, items, now)


async def rows(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(outbox, outbox_body.c.raw)
            .select_from(outbox.outerjoin(outbox_body))
            .order_by(outbox.c.id)
        )
        return [dict(r._mapping) for r in result]


def _filler(column: Column[object]) -> object:
    """A placeholder value for a required column, so the test survives schema growth."""
    if isinstance(column.type, JSON):
        return {}
    if isinstance(column.type, UtcDateTime):
        return T0
    if column.type.python_type is int:
        return 0
    if column.type.python_type is bool:
        return False
    return "x"


async def add_networks(engine: AsyncEngine, *slugs: str) -> list[int]:
    """Register bare networks (the outbox only needs their ids)."""
    required = [
        c for c in networks.columns if not c.nullable and not c.primary_key and c.default is None
    ]
    ids = []
    async with engine.begin() as conn:
        for slug in slugs:
            values = {c.name: _filler(c) for c in required}
            values["slug"] = slug
            result = await conn.execute(networks.insert().values(**values))
            ids.append(result.inserted_primary_key[0])
    return ids


def events(caplog: pytest.LogCaptureFixture, name: str) -> int:
    return sum(1 for r in caplog.records if getattr(r, "event", None) == name)


class TestEnqueue:
    async def test_same_key_twice_keeps_the_first_bytes(self, engine: AsyncEngine) -> None:
        """Queuing a message again under the same key changes nothing."""
        assert await queue(engine, [item("k1", body="first")]) == 1
        assert await queue(engine, [item("k1", body="second"), item("k2")]) == 1
        stored = await rows(engine)
        assert [r["key"] for r in stored] == ["k1", "k2"]
        assert b"first" in stored[0]["raw"]  # type: ignore[operator]
        assert b"second" not in stored[0]["raw"]  # type: ignore[operator]

    async def test_existing_keys_and_counts(self, engine: AsyncEngine) -> None:
        """Callers can see which keys are queued and how many rows are in each state."""
        await queue(engine, [item("a"), item("b")])
        async with engine.connect() as conn:
            assert await existing_keys(conn, ["a", "c", "b", "a"]) == {"a", "b"}
            assert (await counts(conn))["queued"] == 2
            assert (await counts(conn))["sent"] == 0

    def test_backoff_doubles_up_to_an_hour(self) -> None:
        """Retries wait 1, 2, 4 … minutes, never more than an hour plus 10%."""
        assert backoff(1, 0.0) == timedelta(minutes=1)
        assert backoff(3, 0.0) == timedelta(minutes=4)
        assert backoff(30, 0.0) == timedelta(minutes=60)
        assert backoff(30, 0.999) <= timedelta(minutes=66)


class TestDelivery:
    async def test_twelve_messages_arrive_intact_once(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """Twelve queued messages arrive unchanged and marked sent; a second drain sends none."""
        items = [item(f"k{i}", f"p{i}@example.com", body=f"Body {i}") for i in range(12)]
        await queue(engine, items)
        clock = Clock()
        result = await drain(engine, server.settings(), clock)
        assert result == DrainResult(sent=12)
        got = {r.message_id: r for r in server.received}
        assert len(got) == 12
        for it in items:
            rec = got[it.message_id]
            assert rec.rcpt_tos == (it.recipient,)
            assert rec.mail_from == "netwerk@example.org"
            assert rec.data == it.raw
        assert all(r["state"] == "sent" and r["sent_at"] == T0 for r in await rows(engine))
        assert await drain(engine, server.settings(), clock) == DrainResult()
        assert len(server.received) == 12

    async def test_one_connection_carries_many_messages(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """With one connection configured, all messages go over a single SMTP session."""
        await queue(engine, [item(f"k{i}", network_id=None) for i in range(5)])
        await drain(engine, server.settings(smtp_connections=1), Clock())
        assert len(server.received) == 5
        assert server.connections == 1

    async def test_login_when_a_user_is_set(self, engine: AsyncEngine) -> None:
        """With a user configured the outbox logs in before sending."""
        with SmtpTestServer(credentials={"netwerk": "pw"}) as srv:
            await queue(engine, [item("k")])
            settings = srv.settings(smtp_user="netwerk", smtp_password="pw")
            assert (await drain(engine, settings, Clock())).sent == 1
            assert srv.received[0].login == "netwerk"


class TestRetries:
    async def test_451_after_data_is_deferred_then_sent_once(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """A 451 after DATA defers the message; it is delivered exactly once later."""
        await queue(engine, [item("k")])
        clock = Clock()
        server.fail_data(451)
        assert await drain(engine, server.settings(), clock) == DrainResult(deferred=1)
        (row,) = await rows(engine)
        assert row["state"] == "deferred"
        assert row["attempts"] == 1
        assert row["smtp_code"] == 451
        assert row["next_attempt_at"] > T0  # type: ignore[operator]
        assert await drain(engine, server.settings(), clock) == DrainResult()
        clock.advance(minutes=2)
        assert await drain(engine, server.settings(), clock) == DrainResult(sent=1)
        assert len(server.received) == 1
        assert (await rows(engine))[0]["state"] == "sent"

    @pytest.mark.parametrize("code", [452, 552])
    async def test_full_mailbox_on_rcpt_is_retried(
        self, engine: AsyncEngine, server: SmtpTestServer, code: int
    ) -> None:
        """A 452 or 552 to RCPT is temporary (RFC 5321 4.5.3.1.10): retried, then delivered."""
        await queue(engine, [item("k")])
        clock = Clock()
        server.fail_rcpt(code)
        assert await drain(engine, server.settings(), clock) == DrainResult(deferred=1)
        assert (await rows(engine))[0]["smtp_code"] == code
        clock.advance(minutes=2)
        assert await drain(engine, server.settings(), clock) == DrainResult(sent=1)

    async def test_421_at_connect_is_retried(
        self, engine: AsyncEngine, server: SmtpTestServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A server that greets with 421 gets the message later; the outage is logged once."""
        caplog.set_level(logging.INFO, logger="leernet.outbox")
        await queue(engine, [item(f"k{i}") for i in range(3)])
        clock = Clock()
        server.fail_connect(421, times=4)
        for _ in range(2):
            assert await drain(engine, server.settings(), clock) == DrainResult(deferred=3)
            clock.advance(minutes=3)
        assert {r["smtp_code"] for r in await rows(engine)} == {421}
        assert events(caplog, "smtp.down") == 1
        assert await drain(engine, server.settings(), clock) == DrainResult(sent=3)
        assert events(caplog, "smtp.up") == 1
        assert len(server.received) == 3

    async def test_connection_dropped_mid_data_is_sent_again(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """A connection cut during DATA defers that message; the others still go out."""
        await queue(engine, [item(f"k{i}") for i in range(3)])
        clock = Clock()
        server.drop_in_data()
        settings = server.settings(smtp_connections=1)
        assert await drain(engine, settings, clock) == DrainResult(sent=2, deferred=1)
        assert [r["state"] for r in await rows(engine)] == ["deferred", "sent", "sent"]
        clock.advance(minutes=2)
        assert await drain(engine, settings, clock) == DrainResult(sent=1)
        assert sorted(r.message_id for r in server.received) == sorted(
            str(r["message_id"]) for r in await rows(engine)
        )

    async def test_550_fails_and_is_reported_once(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """A 550 marks the message failed with the server's reply, reported exactly once."""
        [net] = await add_networks(engine, "hr-ovl-2027")
        await queue(engine, [item("k", "gone@example.com", network_id=net)])
        clock, failures = Clock(), Failures()
        server.fail_rcpt(550)
        result = await drain(engine, server.settings(), clock, on_failure=failures)
        assert result == DrainResult(failed=1)
        (row,) = await rows(engine)
        assert row["state"] == "failed"
        assert row["smtp_code"] == 550
        assert "Scripted 550" in str(row["last_error"])
        for _ in range(3):
            clock.advance(hours=2)
            await drain(engine, server.settings(), clock, on_failure=failures)
        assert len(failures.calls) == 1
        assert failures.calls[0].code == 550
        assert failures.calls[0].recipient == "gone@example.com"
        assert failures.calls[0].network_id == net
        assert server.received == []

    @pytest.mark.parametrize(("kind", "notices"), [("notice", 0), ("reminder", 1)])
    async def test_failed_notice_is_not_reported(
        self, engine: AsyncEngine, server: SmtpTestServer, kind: str, notices: int
    ) -> None:
        """A notice to the organiser that fails is recorded but triggers no further notice; any other failure does."""
        await queue(engine, [item("n", kind=kind)])
        server.fail_data(554)
        settings = server.settings().model_copy(update={"admin_address": "admin@example.org"})
        told = failure_notifier(Factory(settings), Clock())
        result = await drain(engine, settings, Clock(), on_failure=told)
        assert result == DrainResult(failed=1)
        queued = [r for r in await rows(engine) if r["state"] == "queued"]
        assert [r["recipient"] for r in queued] == ["admin@example.org"] * notices

    async def test_past_not_after_is_skipped(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """A message whose moment has passed is skipped, never sent late."""
        await queue(engine, [item("late", not_after=T0 - timedelta(minutes=1)), item("ok")])
        result = await drain(engine, server.settings(), Clock())
        assert result == DrainResult(sent=1, skipped=1)
        assert [r["state"] for r in await rows(engine)] == ["skipped", "sent"]
        assert [r.message_id for r in server.received] == [item("ok").message_id]

    async def test_server_down_past_give_up_fails_once(
        self, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With nothing listening for longer than the give-up period, the message fails once."""
        await queue(engine, [item("k")])
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            smtp_host="127.0.0.1",
            smtp_port=closed_port(),
            smtp_security="none",
            smtp_timeout=2,
            send_give_up_hours=5,
        )
        clock, failures = Clock(), Failures()
        caplog.set_level(logging.WARNING, logger="leernet.outbox")
        for _ in range(4):
            result = await drain(engine, settings, clock, on_failure=failures)
            assert result == DrainResult(deferred=1)
            clock.advance(minutes=61)
        assert events(caplog, "smtp.down") == 1
        clock.advance(hours=1)
        assert await drain(engine, settings, clock, on_failure=failures) == DrainResult(failed=1)
        (row,) = await rows(engine)
        assert row["state"] == "failed"
        assert "gave up" in str(row["last_error"])
        clock.advance(hours=3)
        await drain(engine, settings, clock, on_failure=failures)
        assert len(failures.calls) == 1


class TestCrashRecovery:
    async def test_rows_left_sending_are_sent_again(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """Rows a crash left in 'sending' go out at the next start with the same bytes."""
        await queue(engine, [item("a"), item("b")])
        async with engine.begin() as conn:
            await conn.execute(update(outbox).values(state="sending"))
        clock = Clock()
        assert await drain(engine, server.settings(), clock) == DrainResult()
        assert await recover(engine, clock) == 2
        assert await Outbox(engine, server.settings(), clock).drain() == DrainResult(sent=2)
        assert [r.data for r in server.received] == [item("a").raw, item("b").raw]

    async def test_outbox_recovers_on_its_first_drain(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """The daemon's Outbox re-queues orphans when it starts, without a separate call."""
        await queue(engine, [item("a")])
        async with engine.begin() as conn:
            await conn.execute(update(outbox).values(state="sending"))
        assert (await Outbox(engine, server.settings(), Clock()).drain()).sent == 1


class TestAttemptLog:
    """Which interrupted messages may already be with the server (``leernet.mailer.attempts``)."""

    async def test_a_drain_notes_only_messages_that_reached_data(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """A message refused at RCPT never reaches DATA and is not in the log; the ones sent are."""
        await queue(engine, [item("a"), item("b", "refused@example.com"), item("c")])
        server.fail_rcpt(550, recipient="refused@example.com")
        await drain(engine, server.settings(), Clock())
        ids = {r["key"]: r["id"] for r in await rows(engine)}
        said = AttemptLog.beside(engine.url).read()
        assert said is not None
        assert set(said.seen) == {(ids["a"], 0), (ids["c"], 0)}
        assert all(when == T0 for when in said.seen.values())  # each 250 noted too

    async def test_a_250_not_yet_committed_is_not_sent_again(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """A kill after the server's 250 but before its batch was committed: the row ends sent, with no second copy."""
        await queue(engine, [item("a")])
        (first,) = [int(str(r["id"])) for r in await rows(engine)]
        async with engine.begin() as conn:
            await conn.execute(update(outbox).values(state="sending"))
        log = AttemptLog.beside(engine.url)
        log.note(first, 0)
        log.delivered(first, 0, T0 + timedelta(minutes=3))
        log.close()
        await recover(engine, Clock())
        (row,) = await rows(engine)
        assert (row["state"], row["smtp_code"], row["sent_at"]) == (
            "sent",
            250,
            T0 + timedelta(minutes=3),
        )
        assert await drain(engine, server.settings(), Clock()) == DrainResult()
        assert server.received == []

    async def test_a_row_that_never_reached_data_is_queued_not_resent(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """A row claimed but never started (no log line) goes back to plain 'queued' and is sent once."""
        await queue(engine, [item("a"), item("b")])
        first, second = [int(str(r["id"])) for r in await rows(engine)]
        async with engine.begin() as conn:
            await conn.execute(update(outbox).values(state="sending"))
        log = AttemptLog.beside(engine.url)
        log.note(first, 0)
        log.close()
        assert await recover(engine, Clock()) == 2
        assert {r["key"]: r["state"] for r in await rows(engine)} == {"a": "resend", "b": "queued"}
        assert log.read() == Attempts({})  # settled rows need no lines
        assert await drain(engine, server.settings(), Clock()) == DrainResult(sent=2)
        assert second != first

    async def test_a_resent_row_cut_after_data_again_is_not_sent_a_third_time(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """A 'resending' row whose second attempt also reached DATA is marked sent, unconfirmed, and not sent again."""
        await queue(engine, [item("a"), item("b")])
        first, second = [int(str(r["id"])) for r in await rows(engine)]
        async with engine.begin() as conn:
            await conn.execute(update(outbox).values(state="resending"))
        log = AttemptLog.beside(engine.url)
        log.note(first, 0)
        log.close()
        await recover(engine, Clock())
        states = {r["key"]: (r["state"], r["last_error"]) for r in await rows(engine)}
        assert states["a"][0] == "sent"
        assert "not sent a third time" in str(states["a"][1])
        assert states["b"] == ("resend", None)
        assert await drain(engine, server.settings(), Clock()) == DrainResult(sent=1)
        assert [r.data for r in server.received] == [item("b").raw]
        assert second != first


class TestConcurrency:
    async def test_each_network_arrives_in_order(
        self, engine: AsyncEngine, server: SmtpTestServer
    ) -> None:
        """Over two connections, each network's 20 messages arrive in the order queued."""
        net_a, net_b = await add_networks(engine, "net-a", "net-b")
        items = [
            item(f"{'ab'[i % 2]}{i:02d}", f"p{i}@example.com", network_id=(net_a, net_b)[i % 2])
            for i in range(40)
        ]
        await queue(engine, items)
        result = await drain(engine, server.settings(smtp_connections=2), Clock())
        assert result == DrainResult(sent=40)
        assert server.connections == 2
        order = [r.message_id for r in server.received]
        for net in (net_a, net_b):
            expected = [it.message_id for it in items if it.network_id == net]
            assert [m for m in order if m in expected] == expected

    async def test_limit_caps_one_drain(self, engine: AsyncEngine, server: SmtpTestServer) -> None:
        """A drain with a limit sends at most that many; the next drain sends the rest."""
        await queue(engine, [item(f"k{i}") for i in range(5)])
        assert (await drain(engine, server.settings(), Clock(), limit=3)).sent == 3
        assert (await drain(engine, server.settings(), Clock())).sent == 2
