"""No stranger may silence or impersonate a participant: bounces, Message-IDs, DMARC.

Real processor, real store and the real planner: a forged bounce must leave the
participant's mail flowing, a bounce of our own mail flags only its recipient
until they write again, and a reply citing a Message-ID anyone could compute
records nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import select, update

from leernet.cli import main
from leernet.daemon import run_daemon
from leernet.mailer import headers as h
from leernet.mailer.queue import enqueue
from leernet.mailer.tokens import participant_token
from leernet.messages.factory import Factory
from leernet.network.load import load_network
from leernet.organiser.commands import manager_notes
from leernet.organiser.desk import inbox_processor
from leernet.planning.followups import step_builder
from leernet.planning.planner import planner_pass
from leernet.records import networks, registration
from leernet.replies.classify import read_message
from leernet.settings import Settings
from leernet.store import open_store
from leernet.store import schema as t

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "config" / "network.example.toml"
SECRET = "test-secret-not-for-production"
SLUG = "hr-ovl-2027"
STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BOUNCED_AT = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
# Session 1 starts 2027-01-14 09:30 Brussels: its reminder is due by now, the session not begun.
REMINDER_PASS = datetime(2027, 1, 13, 12, 0, tzinfo=UTC)
AFTER_ALL = datetime(2027, 6, 20, 12, 0, tzinfo=UTC)
BERT = "bert.claes@example.com"
SERVICE = "netwerk@example.org"


def settings(db: Path) -> Settings:
    return Settings(
        _env_file=None,
        service_address=SERVICE,
        secret=SECRET,
        database_url=f"sqlite+aiosqlite:///{db}",
        authserv_id="mx.example.org",
    )


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Factory]]:
    """The example network started, its invites sent."""
    db = tmp_path / "leernet.db"
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    factory = Factory(settings(db))
    network = load_network(EXAMPLE).network
    async with engine.begin() as conn:
        reg = await registration.register(conn, network, EXAMPLE.read_text(), SECRET, STARTED)
        await enqueue(conn, [factory.invite(reg, m, STARTED) for m in reg.members], STARTED)
        await conn.execute(update(t.outbox).values(state="sent", sent_at=STARTED))
    yield engine, factory
    await engine.dispose()


async def deliver(engine: AsyncEngine, factory: Factory, raw: bytes, now: datetime) -> Any:
    """Process one mail as the inbox would, in its own transaction."""
    processor = inbox_processor(factory, lambda: now)
    async with engine.begin() as conn:
        inbox_id = (
            await conn.execute(
                t.inbox.insert().values(
                    mailbox="test",
                    uidvalidity=1,
                    uid=int(time.monotonic_ns() % 1_000_000_000),
                    sha256=hashlib.sha256(raw).hexdigest(),
                    raw=raw,
                    size=len(raw),
                    received_at=now,
                )
            )
        ).inserted_primary_key[0]
        return await processor(conn, int(inbox_id), raw)


async def bounced(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(t.participants.c.email).where(t.participants.c.bounced_at.is_not(None))
        )
        return {r[0] for r in rows}


async def queued(engine: AsyncEngine, where: Callable[[str], bool]) -> set[str]:
    """Recipients of queued mail whose key matches ``where``."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(t.outbox.c.key, t.outbox.c.recipient).where(t.outbox.c.state == "queued")
        )
        return {r.recipient for r in rows if where(r.key)}


async def invite_id(engine: AsyncEngine, email: str) -> str:
    async with engine.connect() as conn:
        return str(
            (
                await conn.execute(
                    select(t.outbox.c.message_id).where(
                        t.outbox.c.recipient == email, t.outbox.c.kind == "invite"
                    )
                )
            ).scalar_one()
        )


FORGED_BOUNCE = (
    "Return-Path: <>\r\nFrom: MAILER-DAEMON@relay.example.net\r\nTo: netwerk@example.org\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <f1@relay.example.net>\r\n"
    f"X-Failed-Recipients: {BERT}\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    f"<{BERT}>: host mx.example.com said: 550 5.1.1 User unknown\r\n"
).encode()


def postfix_dsn(original_recipient: str, final_recipient: str, returned_id: str) -> bytes:
    """A Postfix DSN as it comes back after alias expansion, returning the headers we sent."""
    return (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        "To: netwerk@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {final_recipient}\r\n"
        f"Original-Recipient: rfc822;{original_recipient}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Lerend netwerk <netwerk@example.org>\r\nTo: <{original_recipient}>\r\n"
        f"Message-ID: {returned_id}\r\n\r\n--b--\r\n"
    ).encode()


def reply(sender: str, to: str, body: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Re: Lerend netwerk\r\n"
        f"Message-ID: <r{time.monotonic_ns()}@example.com>\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


class TestForgedBounce:
    async def test_forged_bounce_does_not_silence(self, started: tuple[AsyncEngine, Factory]):
        """A stranger's bounce naming a participant flags nobody and their next mail is queued."""
        engine, factory = started
        disposition = await deliver(engine, factory, FORGED_BOUNCE, BOUNCED_AT)
        assert disposition.outcome == "bounce-unverified"
        assert disposition.attention is False
        assert await bounced(engine) == set()
        assert await queued(engine, lambda key: True) == set()  # nobody is told, nothing answered
        await planner_pass(engine, step_builder(factory), REMINDER_PASS)
        assert BERT in await queued(engine, lambda key: key.startswith("reminder/"))

    async def test_alias_bounce_flags_its_recipient_until_they_write(
        self, started: tuple[AsyncEngine, Factory]
    ):
        """A Postfix DSN of our invite flags its Original-Recipient only; their next verified mail lifts it."""
        engine, factory = started
        dsn = postfix_dsn(BERT, "bclaes@mailhost.example.com", await invite_id(engine, BERT))
        disposition = await deliver(engine, factory, dsn, BOUNCED_AT)
        assert (disposition.outcome, disposition.attention) == ("bounce", False)
        assert await bounced(engine) == {BERT}
        assert await queued(engine, lambda key: key.startswith("notice/")) == {
            "an.peeters@example.org"
        }
        token = participant_token(SECRET, SLUG, BERT)
        mail = reply(BERT, f"netwerk+{token}@example.org", "Ik kom graag!")
        await deliver(engine, factory, mail, BOUNCED_AT)
        assert await bounced(engine) == set()
        await planner_pass(engine, step_builder(factory), REMINDER_PASS)
        assert BERT in await queued(engine, lambda key: key.startswith("reminder/"))

    async def test_bounce_of_one_mail_flags_nobody_else(self, started: tuple[AsyncEngine, Factory]):
        """A DSN returning Bert's invite but naming Sofie flags neither and goes to a person."""
        engine, factory = started
        dsn = postfix_dsn(
            "sofie.maes@example.com", "sofie.maes@example.com", await invite_id(engine, BERT)
        )
        disposition = await deliver(engine, factory, dsn, BOUNCED_AT)
        assert (disposition.outcome, disposition.attention) == ("bounce", True)
        assert await bounced(engine) == set()

    async def test_bounce_of_a_manager_note_goes_to_a_person(
        self, started: tuple[AsyncEngine, Factory]
    ):
        """A DSN returning our note to a manager flags nobody, and a person is told."""
        engine, factory = started
        carla = "carla.dewit@example.com"
        async with engine.begin() as conn:
            reg = await networks.get(conn, SLUG)
            assert reg is not None
            note = manager_notes(factory, reg, reg.network.participants, STARTED)
            await enqueue(conn, [n for n in note if n.recipient == carla], STARTED)
            await conn.execute(update(t.outbox).values(state="sent", sent_at=STARTED))
            sent = (
                await conn.execute(
                    select(t.outbox.c.message_id).where(t.outbox.c.recipient == carla)
                )
            ).scalar_one()
        disposition = await deliver(engine, factory, postfix_dsn(carla, carla, sent), BOUNCED_AT)
        assert (disposition.outcome, disposition.attention) == ("bounce", True)
        assert await bounced(engine) == set()
        assert await queued(engine, lambda key: key.startswith("notice/")) == {
            "an.peeters@example.org"
        }


class TestMessageIds:
    async def test_computed_in_reply_to_records_nothing(self, started: tuple[AsyncEngine, Factory]):
        """A forged answer citing the Message-ID anyone could compute (sha256 of the key) is not recorded."""
        engine, factory = started
        key = f"invite/{SLUG}/{BERT}/0"
        guessed = f"<leernet.{hashlib.sha256(key.encode()).hexdigest()[:32]}@example.org>"
        extra = f"In-Reply-To: {guessed}\r\nReferences: {guessed}\r\n"
        forged = reply(BERT, SERVICE, "1. 5\r\n2. ja\r\n3. Alles delen met mijn baas", extra)
        disposition = await deliver(engine, factory, forged, AFTER_ALL)
        assert disposition.outcome == "unknown"
        async with engine.connect() as conn:
            assert (await conn.execute(select(t.evaluations))).all() == []
            assert (await conn.execute(select(t.rsvps))).all() == []
        assert BERT not in await queued(engine, lambda key: True)

    async def test_old_computable_message_ids_name_nobody(
        self, started: tuple[AsyncEngine, Factory]
    ):
        """Mail queued before the upgrade keeps its sha256 Message-ID, and a reply citing it records nothing."""
        engine, factory = started
        key = f"invite/{SLUG}/{BERT}/0"
        legacy = f"<leernet.{hashlib.sha256(key.encode()).hexdigest()[:32]}@example.org>"
        async with engine.begin() as conn:
            await conn.execute(
                update(t.outbox).where(t.outbox.c.key == key).values(message_id=legacy)
            )
        forged = reply(BERT, SERVICE, "1. 5\r\n2. ja", f"In-Reply-To: {legacy}\r\n")
        disposition = await deliver(engine, factory, forged, AFTER_ALL)
        assert disposition.outcome == "unknown"
        async with engine.connect() as conn:
            assert (await conn.execute(select(t.evaluations))).all() == []

    async def test_removed_participant_is_no_reference(self, started: tuple[AsyncEngine, Factory]):
        """A removed participant cannot answer through an old Message-ID (as through a token)."""
        engine, factory = started
        sent = await invite_id(engine, BERT)
        async with engine.begin() as conn:
            await conn.execute(
                update(t.participants)
                .where(t.participants.c.email == BERT)
                .values(removed_at=STARTED)
            )
        mail = reply(BERT, SERVICE, "1. 5", f"In-Reply-To: {sent}\r\n")
        disposition = await deliver(engine, factory, mail, AFTER_ALL)
        assert disposition.outcome == "unknown"
        assert disposition.participant_id is None

    async def test_message_id_is_secret_and_stable(self, started: tuple[AsyncEngine, Factory]):
        """Our Message-ID is not the sha256 of its key, and the same key always gets the same one."""
        engine, factory = started
        stored = await invite_id(engine, BERT)
        key = f"invite/{SLUG}/{BERT}/0"
        assert hashlib.sha256(key.encode()).hexdigest()[:32] not in stored
        async with engine.connect() as conn:
            reg = await networks.get(conn, SLUG)
        assert reg is not None
        member = reg.member(BERT)
        assert member is not None
        assert factory.invite(reg, member, AFTER_ALL).message_id == stored

    async def test_reply_by_the_secret_message_id_is_recorded(
        self, started: tuple[AsyncEngine, Factory]
    ):
        """Without plus addressing, a reply citing the Message-ID we really sent still finds Bert."""
        engine, factory = started
        sent = await invite_id(engine, BERT)
        mail = reply(BERT, SERVICE, "Tot dan!", f"In-Reply-To: {sent}\r\n")
        disposition = await deliver(engine, factory, mail, AFTER_ALL)
        assert disposition.outcome in ("message", "evaluation")
        assert disposition.participant_id is not None


def _best_of_three(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


class TestAuthenticationResults:
    def test_nested_comments_cost_linear_time(self):
        """8,000 nested comments take about as long as 8,000 flat ones (same-test baseline)."""
        n = 8000
        nested = "mx.example.org " + "(" * n + ")" * n + "; dmarc=fail header.from=example.com"
        flat = "mx.example.org " + "()" * n + "; dmarc=fail header.from=example.com"
        assert h.strip_comments(nested).split() == h.strip_comments(flat).split()
        baseline = _best_of_three(lambda: h.strip_comments(flat))
        cost = _best_of_three(lambda: h.strip_comments(nested))
        assert cost < 30 * baseline + 0.01

    def test_thirty_nested_headers_read_in_linear_time(self):
        """30 own headers of deep nesting cost no more than 30 flat ones of the same length."""

        def message(value: str) -> Any:
            head = "".join(f"Authentication-Results: {value}\r\n" for _ in range(30))
            msg = read_message(f"{head}From: {BERT}\r\n\r\nx\r\n".encode(), 10**8)
            assert isinstance(msg, Message)
            return msg

        n = 8000
        nested = message("mx.example.org; dmarc=pass " + "(" * n + ")" * n)
        flat = message("mx.example.org; dmarc=pass " + "()" * n)
        assert h.dmarc_result(nested, "mx.example.org") == "pass"
        baseline = _best_of_three(lambda: h.dmarc_result(flat, "mx.example.org"))
        cost = _best_of_three(lambda: h.dmarc_result(nested, "mx.example.org"))
        assert cost < 30 * baseline + 0.01

    def test_a_fail_below_a_pass_rejects(self):
        """Every Authentication-Results header of our server counts: the worst verdict wins."""
        raw = (
            "Authentication-Results: mx.example.org; dmarc=pass header.from=example.com\r\n"
            "Authentication-Results: mx.example.org (opendmarc); dmarc=fail header.from=example.com\r\n"
            f"From: {BERT}\r\n\r\nx\r\n"
        ).encode()
        msg = read_message(raw, 10**6)
        assert isinstance(msg, Message)
        assert h.dmarc_result(msg, "mx.example.org") == "fail"


class TestAuthservIdSetting:
    def test_check_warns_without_authserv_id(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        """`leernet check` warns when no authserv-id is set, and not when one is."""
        monkeypatch.chdir(tmp_path)
        runner = CliRunner()
        bare = runner.invoke(main, ["check", str(EXAMPLE)], env={"LEERNET_AUTHSERV_ID": ""})
        assert bare.exit_code == 0, bare.output
        assert "LEERNET_AUTHSERV_ID is not set" in " ".join(bare.output.split())
        env = {"LEERNET_AUTHSERV_ID": "mx.google.com"}
        configured = runner.invoke(main, ["check", str(EXAMPLE)], env=env)
        assert configured.exit_code == 0, configured.output
        assert "AUTHSERV" not in configured.output

    async def test_daemon_warns_at_start_up(self, tmp_path: Path, caplog: pytest.LogCaptureFixture):
        """The daemon logs a warning at start-up when no authserv-id is set (not the IMAP host)."""
        settings = Settings(
            _env_file=None,
            secret=SECRET,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}",
            imap_host="mx.example.org",
        )
        with caplog.at_level(logging.WARNING, logger="leernet.daemon"):
            await run_daemon(settings, once=True, inbox=False, console=Console(file=io.StringIO()))
        assert any("LEERNET_AUTHSERV_ID is not set" in r.getMessage() for r in caplog.records)

    def test_microsoft_365_header_without_authserv_id(self):
        """With authserv-id "microsoft365", Exchange Online's topmost header (which has no id) is read."""

        def verdict(*values: str) -> str | None:
            head = "".join(f"Authentication-Results: {v}\r\n" for v in values)
            msg = read_message(f"{head}From: {BERT}\r\n\r\nx\r\n".encode(), 10**6)
            assert isinstance(msg, Message)
            return h.dmarc_result(msg, "microsoft365")

        ms = (
            "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dkim=pass "
            "(signature was verified) header.d=example.com;dmarc={} action=none "
            "header.from=example.com;compauth={} reason=100"
        )
        assert verdict(ms.format("pass", "pass")) == "pass"
        assert verdict(ms.format("fail", "fail")) == "fail"
        assert verdict(ms.format("pass", "fail")) == "fail"  # Microsoft's own spoof verdict
        assert verdict(ms.format("fail", "fail"), ms.format("pass", "pass")) == "fail"
        assert verdict("mx.evil.example; dmarc=pass header.from=example.com") is None
