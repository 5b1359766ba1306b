"""A whole network's life over real SMTP (aiosmtpd) and IMAP (pymap) with an injected clock.

Four participants answer like real clients (``leernet.demo.people``): RSVPs to
the series and to single sessions, evaluations, an "afwezig", silence. The
clock moves from one due moment to the next. The tests compare, per recipient,
the kinds of messages received and their order with what issue 4 requires,
and count Message-IDs at the SMTP server to prove nothing is ever sent twice
across repeated passes, restarts and clock jumps.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import select

from leernet.daemon import Service
from leernet.demo.people import absent_reply, calendar_reply, evaluation_reply
from leernet.organiser.commands import start_network, update_network
from leernet.records import facts, networks
from leernet.settings import Security
from leernet.store import open_store
from leernet.store import schema as t
from tests.dovecot import ImapAccount, append
from tests.imapserver import pymap_server
from tests.smtpserver import SmtpTestServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine

    from leernet.network.model import Network
    from leernet.records.networks import Registered

SLUG = "hr-ovl-2027"
ORGANISER = "an.peeters@example.org"
BERT, SOFIE, JAN, ELS = (
    "bert.claes@example.com",
    "sofie.maes@example.com",
    "jan.peeters@example.be",
    "els.wouters@example.net",
)
CARLA, DIRK, HILDE = (
    "carla.dewit@example.com",
    "dirk.vandenbroeck@example.be",
    "hilde.jacobs@example.net",
)
START = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
END = datetime(2027, 5, 15, 8, 0, tzinfo=UTC)

NETWORK = """\
[network]
slug = "hr-ovl-2027"
name = "Lerend netwerk werkbaar werk"
goal = "Van elkaar leren hoe we werkbaar werk concreet maken in onze organisaties."
language = "nl"
timezone = "Europe/Brussels"
location = "Wetstraat 34, Brussel"

[organiser]
name = "An Peeters"
email = "an.peeters@example.org"

[schedule]
first = 2027-01-14T09:30:00
every_weeks = 4
count = 4
minutes = 150

[[sessions]]
number = 1
kind = "kickoff"
title = "Kennismaking en verwachtingen"
work_form = "Speeddate"

[[sessions]]
number = 2
title = "Werkbaar werk meten"
work_form = "Intervisie"
speaker = "Dr. Lieve Martens"

[[sessions]]
number = 3
title = "Werkdruk bespreekbaar maken"
work_form = "Casusbespreking"
SESSION3

[[sessions]]
number = 4
kind = "closing"
title = "Terugblik en nazorg"
work_form = "Evaluatiecirkel"

[[participants]]
name = "Bert Claes"
email = "bert.claes@example.com"
manager_name = "Carla Dewit"
manager_email = "carla.dewit@example.com"
growth_conversation = 2027-03-01

[[participants]]
name = "Sofie Maes"
email = "sofie.maes@example.com"
manager_name = "Carla Dewit"
manager_email = "carla.dewit@example.com"

[[participants]]
name = "Jan Peeters"
email = "jan.peeters@example.be"
manager_name = "Dirk Van den Broeck"
manager_email = "dirk.vandenbroeck@example.be"

[[participants]]
name = "Els Wouters"
email = "els.wouters@example.net"
manager_name = "Hilde Jacobs"
manager_email = "hilde.jacobs@example.net"
"""


def network_source(session3: str = "") -> str:
    return NETWORK.replace("SESSION3", session3)


class Clock:
    """The injected clock: tests move it, the service reads it."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t


@dataclass(frozen=True, slots=True)
class Sent:
    """One message the SMTP server accepted, with the outbox row it came from."""

    recipient: str
    kind: str
    key: str
    message_id: str
    raw: bytes
    at: datetime

    @property
    def session(self) -> int | None:
        m = re.match(r"[a-z-]+/hr-ovl-2027/(\d+)", self.key)
        return int(m.group(1)) if m else None

    @property
    def label(self) -> str:
        """The kind and, where it has one, the session: "reminder 2", "digest 4"."""
        n = self.session
        return self.kind if n is None or self.kind.startswith("manager") else f"{self.kind} {n}"

    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def text(self) -> str:
        """Every text part, decoded (quoted-printable and base64 undone)."""
        parts = self.message().walk()
        return "\n".join(p.get_content() for p in parts if p.get_content_maintype() == "text")


Reaction = list[tuple[timedelta, bytes]]


@dataclass
class World:
    """One network, the servers it talks to, the store, the service and the clock."""

    smtp: SmtpTestServer
    imap: ImapAccount
    engine: AsyncEngine
    settings: Any
    clock: Clock
    path: Path
    service: Service = field(init=False)
    seen: int = 0
    pending: list[tuple[datetime, bytes]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    counter: int = 0

    def __post_init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """A new service on the same database, as after a crash or a deploy."""
        self.service = Service(self.engine, self.settings, self.clock.now)

    def mid(self) -> str:
        self.counter += 1
        return f"<reply.{self.counter}@client.example.com>"

    async def registered(self) -> Registered:
        async with self.engine.connect() as conn:
            reg = await networks.get(conn, SLUG)
        assert reg is not None
        return reg

    async def collect(self) -> list[Sent]:
        """The messages that reached the SMTP server since the last call."""
        fresh = self.smtp.received[self.seen :]
        self.seen += len(fresh)
        out = []
        async with self.engine.connect() as conn:
            for r in fresh:
                mid = r.message_id
                row = (
                    await conn.execute(
                        select(t.outbox.c.kind, t.outbox.c.key).where(t.outbox.c.message_id == mid)
                    )
                ).one()
                out.append(
                    Sent(r.rcpt_tos[0].lower(), row.kind, row.key, mid, r.data, self.clock.t)
                )
        self.sent += out
        return out

    async def deliver(self, raws: list[bytes]) -> None:
        await append(self.imap, *raws)
        await self.service.inbox.run_once()

    async def tick(self, react: Callable[[Sent], Awaitable[Reaction]] | None = None) -> None:
        """One round at the current time: plan, send, read what came in, answer, process."""
        await self.service.plan_once()
        await self.service.plan_once()  # a second pass at the same instant adds nothing
        await self.service.send_once()
        for s in await self.collect():
            if react is not None:
                for delay, raw in await react(s):
                    self.pending.append((self.clock.t + delay, raw))
        due = [raw for at, raw in self.pending if at <= self.clock.t]
        if due:
            self.pending = [(at, raw) for at, raw in self.pending if at > self.clock.t]
            await self.deliver(due)
            await self.service.plan_once()
            await self.service.send_once()
            await self.collect()

    async def next_moment(self, limit: datetime) -> datetime:
        next_due = await self.service.plan_once()
        candidates = [next_due, await self.service.next_retry(), *(at for at, _ in self.pending)]
        future = [c for c in candidates if c is not None and c > self.clock.t]
        return min([*future, limit])

    async def run_until(
        self,
        limit: datetime,
        react: Callable[[Sent], Awaitable[Reaction]] | None = None,
        *,
        between: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Move the clock from one due moment to the next until ``limit``."""
        for _ in range(500):
            await self.tick(react)
            if between is not None:
                await between()
            if self.clock.t >= limit:
                return
            self.clock.t = await self.next_moment(limit)
        pytest.fail("the network's life did not end")

    def to(self, address: str) -> list[Sent]:
        return [s for s in self.sent if s.recipient == address.lower()]

    def labels(self, address: str) -> list[str]:
        return [s.label for s in self.to(address)]


def settings_for(smtp: SmtpTestServer, imap: ImapAccount, db: Path) -> Any:
    return smtp.settings(
        imap_host=imap.host,
        imap_port=imap.port,
        imap_security=Security.NONE,
        imap_user=imap.user,
        imap_password=SecretStr(imap.password),
        imap_timeout=10.0,
        database_url=f"sqlite+aiosqlite:///{db}",
    )


async def open_world(
    tmp: Path, smtp: SmtpTestServer, imap: ImapAccount, source: str | None = None
) -> World:
    path = tmp / "network.toml"
    path.write_text(source or network_source(), encoding="utf-8")
    settings = settings_for(smtp, imap, tmp / "leernet.db")
    clock = Clock(START)
    quiet = Console(file=(tmp / "start.log").open("w", encoding="utf-8"))
    await start_network(path, settings, clock.now(), quiet, dry_run=False, out_dir=None)
    quiet.file.close()
    engine = await open_store(settings.database_url)
    return World(smtp, imap, engine, settings, clock, path)


# -- how the four participants and the organiser behave ------------------------------------

RSVPS = {  # who answers the invite how: (series, {session: partstat})
    BERT: ("outlook", {4: "DECLINED"}),
    SOFIE: ("gmail", {2: "DECLINED", 4: "DECLINED"}),
    JAN: ("apple", {4: "DECLINED"}),
    ELS: ("thunderbird", {}),
}
# Evaluations: who answers which session's request (the rest stay silent).
ANSWERS = {
    BERT: {1: True, 2: True, 3: True},  # session -> consent
    SOFIE: {1: False},  # says no to sharing
    JAN: {1: True, 3: True},  # and "afwezig" for session 2
}
SOFIE_AFTER_REMINDER = 3  # Sofie answers session 3 only after the reminder


def marker(email_: str, session: int, question: int) -> str:
    # Underscores, not hyphens: "2. X-S1-Q2" is read as compact pairs ("1-Q2"), see the report.
    return f"MARK_{email_.split('.', maxsplit=1)[0].upper()}_S{session}_Q{question}"


def answers_for(email_: str, session: int, consent: bool) -> dict[int, str]:
    out = {
        1: "4",
        2: marker(email_, session, 2),
        3: marker(email_, session, 3),
        4: "ja" if consent else "nee",
    }
    if session == 1:
        out[5] = marker(email_, session, 5)
    return out


def make_react(world: World, network: Network) -> Callable[[Sent], Awaitable[Reaction]]:
    async def react(s: Sent) -> Reaction:
        now = world.clock.t
        if s.kind == "invite":
            client, singles = RSVPS[s.recipient]
            out: Reaction = [
                (
                    timedelta(hours=2),
                    calendar_reply(
                        s.raw, partstat="ACCEPTED", client=client, date=now, message_id=world.mid()
                    ),
                )
            ]
            for n, partstat in singles.items():
                slot = network.session(n).slot
                raw = calendar_reply(
                    s.raw,
                    partstat=partstat,
                    client=client,
                    session_slot=slot,
                    date=now + timedelta(hours=3),
                    message_id=world.mid(),
                )
                out.append((timedelta(hours=3), raw))
            return out
        n = s.session
        assert n is not None or s.kind != "eval-request"
        if s.kind == "eval-request" and n is not None:
            if s.recipient == JAN and n == 2:
                return [(timedelta(hours=5), absent_reply(s.raw, date=now, message_id=world.mid()))]
            consent = ANSWERS.get(s.recipient, {}).get(n)
            if consent is not None:
                answers = answers_for(s.recipient, n, consent)
                raw = evaluation_reply(
                    s.raw, answers=answers, style="gmail_top", date=now, message_id=world.mid()
                )
                return [(timedelta(hours=5), raw)]
        if s.kind == "eval-reminder" and s.recipient == SOFIE and n == SOFIE_AFTER_REMINDER:
            answers = answers_for(SOFIE, n, consent=False)
            raw = evaluation_reply(
                s.raw, answers=answers, style="outlook_inline", date=now, message_id=world.mid()
            )
            return [(timedelta(hours=1), raw)]
        if s.kind == "digest" and n == 1:
            return [(timedelta(hours=1), rollcall_reply(s, "afwezig: 4", now, world.mid()))]
        return []

    return react


def rollcall_reply(digest: Sent, line: str, date: datetime, message_id: str) -> bytes:
    """The organiser answers the digest: From the organiser, To its Reply-To, threaded."""
    msg = digest.message()
    reply_to = parseaddr(str(msg["Reply-To"]))[1]
    assert reply_to.startswith("netwerk+"), reply_to
    return (
        f"From: An Peeters <{ORGANISER}>\r\n"
        f"To: {reply_to}\r\n"
        f"Subject: Re: {msg['Subject']}\r\n"
        f"Date: {format_datetime(date)}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"In-Reply-To: {digest.message_id}\r\n"
        f"References: {digest.message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{line}\r\n\r\nGroeten,\r\nAn\r\n"
    ).encode()


# -- one whole life, shared by the tests that read it ---------------------------------------


@dataclass
class Life:
    world: World
    presence: dict[tuple[str, int], bool]
    duplicates: Counter[str]
    queued_keys: Counter[str]


async def _live(tmp: Path) -> Life:
    with SmtpTestServer() as smtp:
        async with pymap_server() as imap:
            world = await open_world(tmp, smtp, imap)
            try:
                network = (await world.registered()).network
                react = make_react(world, network)
                rounds = 0

                async def disturb() -> None:
                    # Every few rounds: a restart, and a clock jump backwards and back.
                    nonlocal rounds
                    rounds += 1
                    if rounds % 3 == 0:
                        world.restart()
                    if rounds % 4 == 0:
                        here = world.clock.t
                        world.clock.t = here - timedelta(days=9)
                        await world.tick()
                        world.clock.t = here
                        await world.tick()

                await world.run_until(END, react, between=disturb)
                presence = await _presence(world)
                mids = Counter(r.message_id for r in smtp.received)
                dup = Counter({k: v for k, v in mids.items() if v > 1})
                keys = Counter(s.key for s in world.sent)
                return Life(world, presence, dup, keys)
            finally:
                await world.engine.dispose()


async def _presence(world: World) -> dict[tuple[str, int], bool]:
    reg = await world.registered()
    async with world.engine.connect() as conn:
        att = await facts.attendance(conn, reg.id)
    return {
        (m.email, n): v
        for m in reg.members
        for n in range(1, 5)
        if (v := att.present(m.id, n)) is not None
    }


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Life:
    return asyncio.run(_live(tmp_path_factory.mktemp("life")))


class TestWholeLife:
    def test_nothing_is_sent_twice(self, life: Life) -> None:
        """Repeated passes, restarts and clock jumps never deliver a Message-ID or key twice."""
        assert life.duplicates == Counter()
        assert [k for k, n in life.queued_keys.items() if n > 1] == []

    def test_bert_receives_his_messages_in_order(self, life: Life) -> None:
        """Bert answers every evaluation: no evaluation reminders; no reminder for the session he
        declined; his manager's summary is shown to him first, before his growth conversation.
        """
        assert life.world.labels(BERT) == [
            "invite",
            "reminder 1",
            "eval-request 1",
            "confirmation 1",
            "reminder 2",
            "eval-request 2",
            "confirmation 2",
            "summary-preview",
            "reminder 3",
            "eval-request 3",
            "confirmation 3",
            "closing",
        ]

    def test_sofie_skips_declined_sessions_and_is_reminded_once(self, life: Life) -> None:
        """Sofie declined sessions 2 and 4: nothing about them; she answers 3 after its reminder."""
        assert life.world.labels(SOFIE) == [
            "invite",
            "reminder 1",
            "eval-request 1",
            "confirmation 1",
            "reminder 3",
            "eval-request 3",
            "eval-reminder 3",
            "confirmation 3",
            "closing",
            "summary-preview",
        ]

    def test_jan_answering_absent_gets_no_reminder(self, life: Life) -> None:
        """Jan's "afwezig" counts as an answer: no evaluation reminder for session 2."""
        assert life.world.labels(JAN) == [
            "invite",
            "reminder 1",
            "eval-request 1",
            "confirmation 1",
            "reminder 2",
            "eval-request 2",
            "confirmation 2",
            "reminder 3",
            "eval-request 3",
            "confirmation 3",
            "closing",
            "summary-preview",
        ]

    def test_silent_participant_gets_one_reminder_per_session(self, life: Life) -> None:
        """Els never evaluates: one evaluation reminder after each session, never more."""
        assert life.world.labels(ELS) == [
            "invite",
            *(
                label
                for n in range(1, 5)
                for label in (f"reminder {n}", f"eval-request {n}", f"eval-reminder {n}")
            ),
            "closing",
            "summary-preview",
        ]

    def test_managers_get_start_note_and_one_summary(self, life: Life) -> None:
        """Carla gets one start note for her two people, Bert's summary before his date, Sofie's after the closing."""
        carla = life.world.to(CARLA)
        assert [(s.kind, s.key.split("/")[2:]) for s in carla] == [
            ("manager-start", [CARLA]),
            ("manager-summary", [BERT, "2027-03-01"]),
            ("manager-summary", ["closing", SOFIE]),
        ]
        growth_summary = carla[1]
        assert growth_summary.at < datetime(2027, 3, 1, tzinfo=UTC)
        assert growth_summary.at >= datetime(2027, 2, 22, tzinfo=UTC)
        for manager, employee in ((DIRK, JAN), (HILDE, ELS)):
            got = life.world.to(manager)
            assert [(s.kind, s.key.split("/")[-1]) for s in got] == [
                ("manager-start", manager),
                ("manager-summary", employee),
            ]

    def test_closing_summaries_come_after_the_closing(self, life: Life) -> None:
        """Summaries without a growth-conversation date go out after the closing session's evaluation."""
        closing_end = datetime(2027, 4, 8, 9, 30, tzinfo=UTC)
        for s in life.world.sent:
            if s.key.startswith("manager-summary/hr-ovl-2027/closing/"):
                assert s.at > closing_end

    def test_organiser_gets_digests_warning_and_roll_call_confirmation(self, life: Life) -> None:
        """One digest per session, a low-acceptance warning only for session 4, the roll call confirmed."""
        assert life.world.labels(ORGANISER) == [
            "digest 1",
            "rollcall-recorded",
            "digest 2",
            "digest 3",
            "low-acceptance 4",
            "digest 4",
        ]

    def test_roll_call_is_recorded_as_presence(self, life: Life) -> None:
        """“afwezig: 4” in reply to the first digest marks Els absent from session 1."""
        assert life.presence[(ELS, 1)] is False
        assert life.presence[(BERT, 1)] is True

    def test_bert_summary_shares_only_consented_answers_so_far(self, life: Life) -> None:
        """Bert said yes: his takeaways of sessions 1 and 2 are in; what can be better never is."""
        summary = next(s for s in life.world.to(CARLA) if BERT in s.key)
        text = summary.text()
        assert marker(BERT, 1, 2) in text
        assert marker(BERT, 2, 2) in text
        assert marker(BERT, 3, 2) not in text  # session 3 had not happened yet
        assert marker(BERT, 1, 3) not in text
        assert marker(BERT, 1, 5) not in text

    def test_sofie_summary_shares_nothing(self, life: Life) -> None:
        """Sofie said no: not one of her answers reaches Carla."""
        for s in life.world.to(CARLA):
            assert "MARK_SOFIE" not in s.text()

    def test_els_summary_counts_the_roll_call(self, life: Life) -> None:
        """Els was marked absent from session 1 by roll call: her manager reads 3 of 4."""
        (summary,) = [s for s in life.world.to(HILDE) if s.kind == "manager-summary"]
        assert "Aanwezig op 3 van de 4 sessies" in summary.text()

    def test_closing_reflection_shows_own_learning_goals(self, life: Life) -> None:
        """Bert's closing mail shows the learning goals he wrote at the kick-off and his takeaways."""
        (closing,) = [s for s in life.world.to(BERT) if s.kind == "closing"]
        text = closing.text()
        assert marker(BERT, 1, 5) in text
        assert marker(BERT, 2, 2) in text
        assert "MARK_SOFIE" not in text


# -- outages, moves ---------------------------------------------------------------------------


@pytest.fixture
async def world(tmp_path: Path) -> Any:
    with SmtpTestServer() as smtp:
        async with pymap_server() as imap:
            w = await open_world(tmp_path, smtp, imap)
            try:
                yield w
            finally:
                await w.engine.dispose()


async def _marks(world: World) -> dict[str, str]:
    async with world.engine.connect() as conn:
        rows = await conn.execute(select(t.plan_marks.c.key, t.plan_marks.c.outcome))
        return {r.key: r.outcome for r in rows}


class TestOutage:
    async def test_steps_whose_moment_passed_are_skipped_not_sent_late(self, world: World) -> None:
        """After an outage past session 2, its reminder and evaluation request are skipped, never sent."""
        await world.run_until(datetime(2027, 2, 1, tzinfo=UTC))
        # Down from before session 2's reminder until eight days after its evaluation request.
        world.clock.t = datetime(2027, 2, 19, 13, 0, tzinfo=UTC)
        await world.tick()
        labels = [s.label for s in world.sent]
        assert "reminder 2" not in labels
        assert "eval-request 2" not in labels
        marks = await _marks(world)
        assert marks["reminder/hr-ovl-2027/2"] == "skipped"
        assert marks["eval-request/hr-ovl-2027/2"] == "skipped"

    async def test_no_evaluation_reminder_without_its_request(self, world: World) -> None:
        """When the evaluation request was skipped, nobody is reminded of a request they never got."""
        await world.run_until(datetime(2027, 2, 1, tzinfo=UTC))
        world.clock.t = datetime(2027, 2, 19, 13, 0, tzinfo=UTC)
        await world.tick()
        assert [s.label for s in world.sent if s.kind == "eval-reminder"] == ["eval-reminder 1"] * 4

    async def test_restart_mid_life_sends_nothing_again(self, world: World) -> None:
        """A new service on the same database re-derives the plan and sends nothing twice."""
        await world.run_until(datetime(2027, 1, 20, tzinfo=UTC))
        before = len(world.smtp.received)
        world.restart()
        await world.tick()
        world.clock.t = datetime(2027, 1, 2, tzinfo=UTC)  # and a clock set back by weeks
        await world.tick()
        world.clock.t = datetime(2027, 1, 20, tzinfo=UTC)
        await world.tick()
        assert len(world.smtp.received) == before


class TestMovedSession:
    async def test_a_moved_session_gets_a_new_reminder_round(self, world: World) -> None:
        """Session 3 moved a week after its reminder went out: a fresh reminder, one evaluation request."""
        await world.run_until(datetime(2027, 3, 10, 8, 0, tzinfo=UTC))
        assert [s.label for s in world.to(BERT)][-1] == "reminder 3"
        world.path.write_text(network_source("start = 2027-03-18T09:30:00"), encoding="utf-8")
        quiet = Console(file=(world.path.parent / "update.log").open("w", encoding="utf-8"))
        await update_network(
            world.path, world.settings, world.clock.t, quiet, dry_run=False, out_dir=None
        )
        quiet.file.close()
        await world.run_until(datetime(2027, 3, 26, tzinfo=UTC))
        after_move = [s for s in world.to(BERT) if s.at >= datetime(2027, 3, 10, tzinfo=UTC)]
        assert [s.label for s in after_move] == [
            "invite-update",
            "reminder 3",
            "eval-request 3",
            "eval-reminder 3",
        ]
        reminder = after_move[1]
        assert reminder.key == f"reminder/hr-ovl-2027/3/v1/{BERT}"
        assert reminder.at == datetime(2027, 3, 16, 8, 30, tzinfo=UTC)
        assert after_move[2].at == datetime(2027, 3, 18, 12, 0, tzinfo=UTC)


class TestParticipantChanges:
    async def test_a_new_manager_gets_the_summary_not_the_old_one(self, world: World) -> None:
        """Bert moves to another team: his summary goes to his new manager, never to Carla."""
        await world.run_until(datetime(2027, 2, 1, tzinfo=UTC))
        world.path.write_text(
            network_source().replace(
                'manager_name = "Carla Dewit"\nmanager_email = "carla.dewit@example.com"\n'
                "growth_conversation",
                'manager_name = "Nora Nieuw"\nmanager_email = "nora.nieuw@example.com"\n'
                "growth_conversation",
            ),
            encoding="utf-8",
        )
        quiet = Console(file=(world.path.parent / "update.log").open("w", encoding="utf-8"))
        await update_network(
            world.path, world.settings, world.clock.t, quiet, dry_run=False, out_dir=None
        )
        quiet.file.close()
        await world.run_until(datetime(2027, 3, 1, tzinfo=UTC))
        assert [s.kind for s in world.to(CARLA)] == ["manager-start"]
        assert "manager-summary" in [s.kind for s in world.to("nora.nieuw@example.com")]

    async def test_a_moved_growth_conversation_moves_the_summary(self, world: World) -> None:
        """Bert's conversation moves from 1 to 29 March: the summary comes the week before the new date."""
        await world.run_until(datetime(2027, 2, 1, tzinfo=UTC))
        world.path.write_text(
            network_source().replace("2027-03-01", "2027-03-29"), encoding="utf-8"
        )
        quiet = Console(file=(world.path.parent / "update.log").open("w", encoding="utf-8"))
        await update_network(
            world.path, world.settings, world.clock.t, quiet, dry_run=False, out_dir=None
        )
        quiet.file.close()
        await world.run_until(datetime(2027, 3, 29, tzinfo=UTC))
        (summary,) = [s for s in world.to(CARLA) if s.kind == "manager-summary"]
        assert summary.at >= datetime(2027, 3, 22, tzinfo=UTC)


class TestNotices:
    async def test_a_refused_address_is_reported_to_the_organiser_once(self, world: World) -> None:
        """Els's server refuses the first reminder (550): An gets one notice, and Els the rest of her mail."""
        await world.run_until(datetime(2027, 1, 11, tzinfo=UTC))
        world.smtp.fail_rcpt(550, recipient=ELS)
        await world.run_until(datetime(2027, 1, 13, tzinfo=UTC))
        notices = [s for s in world.to(ORGANISER) if s.kind == "notice"]
        assert len(notices) == 1
        text = notices[0].text()
        assert ELS in text
        assert "'herinnering'" in text  # the kind in the organiser's words, not our key
        assert "reminder 1" not in world.labels(ELS)
        assert [s.label for s in world.to(BERT)] == ["invite", "reminder 1"]
