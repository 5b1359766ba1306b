"""The manager summary is shown to the participant first, and a participant can hold it back.

Everything runs on the real path: the store, the planner pass with the
follow-up steps, and the inbox processor for the participants' replies (with
their reply token, their own From and our mail server's DMARC pass). Between
planner passes everything queued is marked sent, as the sender would.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from leernet.mailer.tokens import participant_token, reply_address
from leernet.messages.factory import Factory
from leernet.network.load import parse_network
from leernet.organiser.desk import inbox_processor
from leernet.planning.followups import step_builder
from leernet.planning.planner import planner_pass
from leernet.records import registration
from leernet.records.networks import Registered
from leernet.settings import Settings
from leernet.store import open_store
from leernet.store import schema as t
from tests.test_consent import MANAGERS, MEANS_NO_EXAMPLES, SOURCE

SECRET = "test-secret-not-for-production"
SERVICE = "netwerk@example.org"
REGISTERED = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
SESSION2_REPLY = datetime(2027, 2, 11, 15, 0, tzinfo=UTC)  # after session 2 (2027-02-11)
BERT_PREVIEW = datetime(2027, 4, 10, 12, 0, tzinfo=UTC)  # growth 04-20: preview from 04-10
BERT_REPLIES = datetime(2027, 4, 11, 9, 0, tzinfo=UTC)
BERT_SUMMARY = datetime(2027, 4, 14, 12, 0, tzinfo=UTC)  # summary due from 04-13
BERT = "bert.claes@example.com"
CARLA = "carla.dewit@example.com"
ORGANISER = "an.peeters@example.org"
MARK = "GEDEELDE-LES-42"


@dataclass
class Mail:
    key: str
    kind: str
    recipient: str
    state: str
    message_id: str
    text: str


def decoded(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    parts = [f"{k}: {v}" for k, v in msg.items()]
    parts += [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
    return "\n".join(parts)


class World:
    def __init__(self, engine: AsyncEngine, reg: Registered, settings: Settings) -> None:
        self.engine, self.reg, self.factory = engine, reg, Factory(settings)
        self.uid = 0

    async def pass_at(self, moment: datetime, *, send: bool = True) -> None:
        await planner_pass(self.engine, step_builder(self.factory), moment)
        if send:
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.state == "queued")
                    .values(state="sent", sent_at=moment)
                )

    async def mails(self) -> list[Mail]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        t.outbox.c.key,
                        t.outbox.c.kind,
                        t.outbox.c.recipient,
                        t.outbox.c.state,
                        t.outbox.c.message_id,
                        t.outbox_body.c.raw,
                    )
                    .select_from(t.outbox.join(t.outbox_body))
                    .order_by(t.outbox.c.id)
                )
            ).all()
        return [
            Mail(r.key, r.kind, r.recipient, r.state, r.message_id, decoded(r.raw)) for r in rows
        ]

    async def reply(
        self,
        body: str,
        at: datetime,
        *,
        subject: str,
        in_reply_to: str = "",
        sender: str = BERT,
        to: str = "",
        dmarc: str = "pass",
    ) -> str:
        """A reply from ``sender`` as their mail client sends it; returns the disposition."""
        token = participant_token(SECRET, self.reg.slug, sender)
        headers = [
            f"Authentication-Results: mx.example.org; dmarc={dmarc} header.from=example.com",
            f"From: Bert Claes <{sender}>",
            f"To: Lerend netwerk <{to or reply_address(SERVICE, token)}>",
            f"Subject: {subject}",
            f"Date: {format_datetime(at)}",
            f"Message-ID: {make_msgid(domain='example.com')}",
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: 8bit",
        ]
        if in_reply_to:
            headers += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
        raw = ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()
        return await self.receive(raw, at)

    async def receive(self, raw: bytes, at: datetime) -> str:
        """One mail through the real processor, archived as the inbox does; its outcome."""
        self.uid += 1
        async with self.engine.begin() as conn:
            inbox_id = (
                await conn.execute(
                    t.inbox.insert().values(
                        mailbox="test",
                        uidvalidity=1,
                        uid=self.uid,
                        sha256=f"{self.uid:064d}",
                        raw=raw,
                        size=len(raw),
                        received_at=at,
                    )
                )
            ).inserted_primary_key[0]
            disposition = await inbox_processor(self.factory, lambda: at)(conn, int(inbox_id), raw)
        return disposition.outcome

    async def evaluation(self, consent: str, at: datetime = SESSION2_REPLY) -> None:
        outcome = await self.reply(
            f"1. 4\n2. {MARK}\n3. Meer tijd\n4. {consent}\n",
            at,
            subject="Re: Hoe was sessie 2?",
        )
        assert outcome == "evaluation"

    async def preview(self) -> Mail:
        (preview,) = [
            m for m in await self.mails() if m.kind == "summary-preview" and m.recipient == BERT
        ]
        return preview


@asynccontextmanager
async def open_world(tmp_path: Path, **overrides: object) -> AsyncIterator[World]:
    """The lifecycle network registered in a fresh store, with the service's settings."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        service_address=SERVICE,
        secret=SECRET,
        database_url=url,
        authserv_id="mx.example.org",
        **overrides,
    )
    engine = await open_store(url)
    async with engine.begin() as conn:
        reg = await registration.register(
            conn, parse_network(SOURCE).network, SOURCE, SECRET, REGISTERED
        )
    try:
        yield World(engine, reg, settings)
    finally:
        await engine.dispose()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(tmp_path) as w:
        yield w


def to_carla(mails: list[Mail]) -> list[Mail]:
    return [m for m in mails if m.recipient == CARLA and BERT in m.key]


class TestPreview:
    async def test_the_participant_sees_the_exact_summary_first(self, world: World) -> None:
        """Three days ahead Bert gets the summary Carla will get, word for word, with how to stop it."""
        await world.evaluation("ja")
        await world.pass_at(BERT_PREVIEW)
        preview = await world.preview()
        assert preview.recipient == BERT
        assert MARK in preview.text
        assert '"nee" of "stop"' in preview.text
        assert not to_carla(await world.mails())  # nothing to Carla yet
        await world.pass_at(BERT_SUMMARY)
        (summary,) = to_carla(await world.mails())
        assert MARK in summary.text
        body = summary.text.split("Dag Carla", 1)[1].strip()
        shown = preview.text.split("Dag Carla", 1)[1]
        for line in body.splitlines()[:12]:
            assert line.strip() in shown  # the preview shows the manager's own text

    @pytest.mark.parametrize("answer", ["nee", "Nee, liever niet.", "stop", "No thanks"])
    async def test_a_no_to_the_preview_holds_the_summary_back(
        self, world: World, answer: str
    ) -> None:
        """A reply "nee", "stop" or "no" to the preview: Carla gets no summary, Bert a confirmation."""
        await world.evaluation("ja")
        await world.pass_at(BERT_PREVIEW)
        preview = await world.preview()
        outcome = await world.reply(
            answer, BERT_REPLIES, subject="Re: preview", in_reply_to=preview.message_id
        )
        assert outcome == "summary-hold"
        await world.pass_at(BERT_SUMMARY)
        mails = await world.mails()
        assert not to_carla(mails)
        (held,) = [m for m in mails if m.kind == "summary-held"]
        assert held.recipient == BERT
        assert "geen samenvatting" in held.text

    async def test_a_question_also_holds_it_and_reaches_the_organiser(self, world: World) -> None:
        """Anything but a plain yes holds the summary (fail safe); the organiser reads the question."""
        await world.evaluation("ja")
        await world.pass_at(BERT_PREVIEW)
        preview = await world.preview()
        await world.reply(
            "Kan het antwoord over sessie 2 eruit?",
            BERT_REPLIES,
            subject="Re: preview",
            in_reply_to=preview.message_id,
        )
        await world.pass_at(BERT_SUMMARY)
        mails = await world.mails()
        assert not to_carla(mails)
        notices = [m for m in mails if m.recipient == ORGANISER and "Kan het antwoord" in m.text]
        assert len(notices) == 1

    async def test_a_plain_yes_lets_it_go(self, world: World) -> None:
        """“ok” to the preview changes nothing: the summary goes as shown."""
        await world.evaluation("ja")
        await world.pass_at(BERT_PREVIEW)
        preview = await world.preview()
        outcome = await world.reply(
            "ok", BERT_REPLIES, subject="Re: preview", in_reply_to=preview.message_id
        )
        assert outcome == "summary-ok"
        await world.pass_at(BERT_SUMMARY)
        (summary,) = to_carla(await world.mails())
        assert MARK in summary.text

    async def test_a_hold_after_the_summary_went_is_told_to_the_organiser(
        self, world: World
    ) -> None:
        """Too late to hold: Bert is told it had gone, and the organiser hears of it."""
        await world.evaluation("ja")
        await world.pass_at(BERT_PREVIEW)
        preview = await world.preview()
        await world.pass_at(BERT_SUMMARY)
        await world.reply(
            "stop", BERT_SUMMARY, subject="Re: preview", in_reply_to=preview.message_id
        )
        mails = await world.mails()
        (held,) = [m for m in mails if m.kind == "summary-held"]
        assert "al naar Carla" in held.text
        assert any(m.recipient == ORGANISER and "al verstuurd" in m.text for m in mails)

    async def test_without_a_sent_preview_no_answer_is_shared(self, world: World) -> None:
        """A preview that never went out (an outage, a bounce): the summary shares no answers."""
        await world.evaluation("ja")
        await world.pass_at(BERT_PREVIEW, send=False)
        async with world.engine.begin() as conn:
            await conn.execute(
                update(t.outbox).where(t.outbox.c.state == "queued").values(state="failed")
            )
        await world.pass_at(BERT_SUMMARY)
        (summary,) = to_carla(await world.mails())
        assert MARK not in summary.text

    async def test_a_preview_sent_late_shares_nothing(self, world: World) -> None:
        """A preview that went out less than a day before the summary (an outage): no answers."""
        await world.evaluation("ja")
        await world.pass_at(BERT_SUMMARY.replace(hour=1))  # preview and summary in one go
        await world.pass_at(BERT_SUMMARY)
        (summary,) = to_carla(await world.mails())
        assert MARK not in summary.text

    async def test_a_withdrawal_after_the_preview_wins(self, world: World) -> None:
        """A "nee" in an evaluation after the preview: the summary drops what it would have shared."""
        await world.evaluation("ja")
        await world.pass_at(BERT_PREVIEW)
        await world.evaluation("nee", at=BERT_REPLIES)
        await world.pass_at(BERT_SUMMARY)
        (summary,) = to_carla(await world.mails())
        assert MARK not in summary.text


class TestConsentByMail:
    @pytest.mark.parametrize("answer", MEANS_NO_EXAMPLES)
    async def test_a_no_in_any_words_never_reaches_the_manager(
        self, world: World, answer: str
    ) -> None:
        """An ambiguous "no" is read as no: the confirmation says so, and no manager mail shows it."""
        await world.evaluation(answer)
        (confirmation,) = [m for m in await world.mails() if m.kind == "confirmation"]
        assert "krijgt je antwoord op vraag 2 niet te zien" in confirmation.text
        await world.pass_at(BERT_PREVIEW)
        await world.pass_at(BERT_SUMMARY)
        mails = await world.mails()
        assert all(MARK not in m.text for m in mails if m.recipient in MANAGERS)
        assert MARK not in (await world.preview()).text

    async def test_a_yes_is_confirmed_in_plain_words(self, world: World) -> None:
        """A plain "ja": the confirmation says the manager may read the answer to question 2."""
        await world.evaluation("Ja, graag")
        (confirmation,) = [m for m in await world.mails() if m.kind == "confirmation"]
        assert "mag je antwoord op vraag 2 lezen" in confirmation.text

    async def test_answering_only_the_consent_question_keeps_the_other_answers(
        self, world: World
    ) -> None:
        """“4. ja” in reply to the confirmation shares the answer given before, as the mail promised."""
        await world.evaluation("misschien")
        (confirmation,) = [m for m in await world.mails() if m.kind == "confirmation"]
        outcome = await world.reply(
            "4. ja",
            SESSION2_REPLY.replace(hour=16),
            subject="Re: Genoteerd",
            in_reply_to=confirmation.message_id,
        )
        assert outcome == "evaluation"
        await world.pass_at(BERT_PREVIEW)
        await world.pass_at(BERT_SUMMARY)
        (summary,) = to_carla(await world.mails())
        assert MARK in summary.text
