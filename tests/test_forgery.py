"""No stranger may impersonate a participant: forged references and forged DMARC verdicts.

Through the real processor and store (the lifecycle network, its mail as the
planner queues it). Each test tries what an attacker who knows the network's
slug and a participant's address could send.
"""

from __future__ import annotations

import email
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import Message
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from leernet.cli import main
from leernet.mailer.headers import NO_AUTHSERV_ID, dmarc_result
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


def headers(*results: str) -> Message:
    text = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return email.message_from_string(text + "From: bert.claes@example.com\r\n\r\nx")


class TestDmarcVerdict:
    def test_every_header_of_our_server_is_read(self) -> None:
        """Two milters, two headers: the second one's dmarc=fail is not hidden by the first."""
        msg = headers("mx.example.org; spf=pass smtp.mailfrom=example.com",
                      "mx.example.org; dmarc=fail header.from=example.com")  # fmt: skip
        assert dmarc_result(msg, "mx.example.org") == "fail"

    def test_a_forged_pass_cannot_hide_our_fail(self) -> None:
        """A sender's own "mx.example.org; dmarc=pass" below ours changes nothing."""
        msg = headers("mx.example.org; dmarc=fail header.from=example.com",
                      "mx.example.org; dmarc=pass header.from=example.com")  # fmt: skip
        assert dmarc_result(msg, "mx.example.org") == "fail"

    @pytest.mark.parametrize("result", ["temperror", "permerror"])
    def test_an_error_is_no_pass(self, result: str) -> None:
        """A DMARC error at our server counts as a fail: the mail is set aside, not trusted."""
        assert dmarc_result(headers(f"mx.example.org; dmarc={result}"), "mx.example.org") == "fail"

    def test_other_servers_verdicts_are_ignored(self) -> None:
        """Another authserv-id's dmarc=pass is not ours: no verdict."""
        assert dmarc_result(headers("evil.example; dmarc=pass"), "mx.example.org") is None

    def test_microsoft_365_headers_without_an_id(self) -> None:
        """With "-" (Microsoft 365 writes no authserv-id) the topmost header's verdict counts."""
        ms = "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dmarc=fail action=none header.from=example.com;compauth=fail reason=000"
        assert dmarc_result(headers(ms), NO_AUTHSERV_ID) == "fail"
        assert dmarc_result(headers("evil.example; dmarc=pass", ms), NO_AUTHSERV_ID) is None

    def test_without_an_authserv_id_there_is_no_verdict(self) -> None:
        """Not configured: nothing is read (the IMAP host is not guessed)."""
        assert dmarc_result(headers("localhost; dmarc=fail"), "") is None

    def test_comments_are_removed_in_linear_time(self) -> None:
        """8,000 nested parentheses in 30 headers: eight times the input costs about eight
        times the time (measured side by side), not sixty-four."""

        def timed(depth: int) -> float:
            value = "mx.example.org; " + "(" * depth + "x" + ")" * depth + " dmarc=fail"
            msg = headers(*[value] * 30)
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                assert dmarc_result(msg, "mx.example.org") in {"fail", "none"}
                best = min(best, time.perf_counter() - start)
            return best

        small, large = timed(1_000), timed(8_000)
        assert large < 30 * small + 0.05


class TestAuthservWarning:
    def test_check_says_when_no_authserv_id_is_set(self, tmp_path: Path) -> None:
        """`leernet check` warns that forged senders are not caught without LEERNET_AUTHSERV_ID."""
        env = {"LEERNET_SECRET": "test-secret-not-for-production", "LEERNET_AUTHSERV_ID": ""}
        example = Path(__file__).parents[1] / "config" / "network.example.toml"
        result = CliRunner().invoke(main, ["check", str(example)], env=env)
        assert result.exit_code == 0
        assert "LEERNET_AUTHSERV_ID is not set" in result.output
        with_id = CliRunner().invoke(
            main, ["check", str(example)], env={**env, "LEERNET_AUTHSERV_ID": "mx.google.com"}
        )
        assert "LEERNET_AUTHSERV_ID" not in with_id.output
