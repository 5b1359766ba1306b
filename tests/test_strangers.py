"""No stranger may impersonate a participant: forged references, forged bounces, forged verdicts.

Through the real processor and store (the lifecycle network, its mail as the
planner queues it). Each test tries what an attacker who knows the network's
slug and a participant's address could send.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leernet.store import schema as t
from tests.test_summary_preview import SERVICE, World, open_world

BERT = "bert.claes@example.com"
AFTER_SESSION_1 = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)  # eval requests are out


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(tmp_path) as w:
        await w.pass_at(AFTER_SESSION_1)  # the evaluation requests of session 1 went out
        yield w


def answer(in_reply_to: str, *, dmarc: str = "none", sender: str = BERT) -> bytes:
    """An evaluation answer to the service's plain address (no token), citing ``in_reply_to``."""
    return (
        f"Authentication-Results: mx.example.org; dmarc={dmarc} header.from=example.com\r\n"
        f"From: Bert Claes <{sender}>\r\n"
        f"To: Lerend netwerk <{SERVICE}>\r\n"
        "Subject: Re: Hoe was sessie 1?\r\n"
        f"Date: {format_datetime(AFTER_SESSION_1)}\r\n"
        f"Message-ID: {make_msgid(domain='example.com')}\r\n"
        f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "1. 5\r\n2. GESTOLEN-ANTWOORD\r\n4. ja\r\n"
    ).encode()


async def evaluations(world: World) -> int:
    async with world.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(t.evaluations))).scalar_one()
        )


class TestForgedReferences:
    async def test_a_computed_message_id_records_nothing(self, world: World) -> None:
        """The Message-ID anyone could compute from the slug and an address (sha256 of the
        key, as before): no token, a plausible From, and nothing is recorded or answered."""
        key = f"eval-request/{world.reg.slug}/1/{BERT}"
        guessed = f"<leernet.{hashlib.sha256(key.encode()).hexdigest()[:32]}@example.org>"
        sent = {m.key: m for m in await world.mails()}
        assert key in sent  # the request really went out, under another Message-ID
        assert sent[key].message_id != guessed
        before = len(await world.mails())
        outcome = await world.receive(answer(guessed), AFTER_SESSION_1)
        assert outcome != "evaluation"
        assert await evaluations(world) == 0
        assert [m for m in (await world.mails())[before:] if m.recipient == BERT] == []

    async def test_a_genuine_reply_without_plus_addressing_still_counts(self, world: World) -> None:
        """Bert's mailbox drops the token but keeps In-Reply-To: his answer is recorded."""
        key = f"eval-request/{world.reg.slug}/1/{BERT}"
        (request,) = [m for m in await world.mails() if m.key == key]
        outcome = await world.receive(answer(request.message_id), AFTER_SESSION_1)
        assert outcome == "evaluation"
        assert await evaluations(world) == 1
