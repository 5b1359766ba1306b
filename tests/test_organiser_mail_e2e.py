"""An organiser's whole way in, by mail only: through Dovecot, the real CLI and an SMTP server.

The organiser's Outlook series with its participant list arrives in the service
mailbox; `leernet run --once` answers with a preview to the organiser alone; a
reply START starts the network, and every participant's invite expands
(ical.js) to the organiser's own series. A replayed or spoofed confirmation
changes nothing. Outlook then moves session 4: after the organiser's JA every
participant gets an update that expands to the moved series. Finally "status"
brings a workbook whose rows are those of `leernet export`.
"""

from __future__ import annotations

import asyncio
import io
import json
from email.utils import make_msgid, parseaddr
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from leernet.organiser.intake.request import read_request
from tests.dovecot import ImapAccount, append
from tests.smtpserver import Received, SmtpTestServer
from tests.test_cli_e2e import env
from tests.test_intake_e2e import CORPUS, calendars, leernet, shown

pytestmark = [pytest.mark.dovecot, pytest.mark.node]

ORGANISER = "an.peeters@example.com"


def reply(to: Received, body: str, *, sender: str = ORGANISER, dmarc: str = "pass") -> bytes:
    """The organiser's answer to one of our mails, threaded, to its Reply-To."""
    msg = to.message()
    reply_to = parseaddr(str(msg["Reply-To"]))[1]
    return (
        f"Authentication-Results: mx.example.org; dmarc={dmarc} header.from=example.com\r\n"
        f"From: An Peeters <{sender}>\r\nTo: {reply_to}\r\n"
        f"Subject: Re: {msg['Subject']}\r\nMessage-ID: {make_msgid(domain='example.com')}\r\n"
        f"In-Reply-To: {msg['Message-ID']}\r\nReferences: {msg['Message-ID']}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n\r\n> (the preview)\r\n"
    ).encode()


def status_request() -> bytes:
    return (
        "Authentication-Results: mx.example.org; dmarc=pass header.from=example.com\r\n"
        f"From: An Peeters <{ORGANISER}>\r\nTo: netwerk@example.org\r\nSubject: status\r\n"
        f"Message-ID: {make_msgid(domain='example.com')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nGraag.\r\n"
    ).encode()


def delivered(smtp: SmtpTestServer, since: int) -> list[Received]:
    return smtp.received[since:]


def test_a_network_started_changed_and_reported_by_mail_only(
    dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Request -> preview to the organiser only -> START -> invites equal to the series;
    replays and spoofs change nothing; a moved occurrence reaches everyone after JA;
    status by mail matches leernet export.
    """
    monkeypatch.chdir(tmp_path)
    expected = json.loads((CORPUS / "outlook_series_with_list.expected.json").read_text())
    series = (CORPUS / "outlook_series_with_list.eml").read_bytes()
    runner = CliRunner()
    with SmtpTestServer() as smtp:
        environment = env(smtp, dovecot, tmp_path) | {"LEERNET_ORGANISERS": "@example.com"}

        def run_once(*mails: bytes) -> list[Received]:
            before = len(smtp.received)
            asyncio.run(append(dovecot, *mails))
            leernet(runner, environment, "run", "--once")
            return delivered(smtp, before)

        (preview,) = run_once(series)
        assert preview.rcpt_tos == (ORGANISER,)  # participants get nothing yet

        started = run_once(reply(preview, "START"))
        invites = calendars(started, "REQUEST")
        assert len(invites) == expected["participants"]
        organisers = shown(read_request(series).calendars[0])
        for ics in invites.values():
            assert shown(ics) == organisers
        assert any(ORGANISER in m.rcpt_tos for m in started)  # "gestart", with our acceptance

        # The same START again, and one in the organiser's name from a forged sender.
        again = run_once(reply(preview, "START"), reply(preview, "START", dmarc="fail"))
        assert calendars(again, "REQUEST") == {}
        assert all(m.rcpt_tos == (ORGANISER,) for m in again)

        (change,) = run_once((CORPUS / "outlook_update_moved.eml").read_bytes())
        assert change.rcpt_tos == (ORGANISER,)
        updated = run_once(reply(change, "JA"))
        updates = calendars(updated, "REQUEST")
        assert set(updates) == set(invites)
        moved = shown(next(iter(updates.values())))
        assert moved != organisers
        assert all(shown(ics) == moved for ics in updates.values())

        (status,) = run_once(status_request())
        files = {
            p.get_filename(): p.get_payload(decode=True)
            for p in status.message().walk()
            if p.get_filename()
        }
        book = load_workbook(io.BytesIO(files[f"{expected_slug(files)}.xlsx"]), read_only=True)
        rows = list(book.worksheets[0].iter_rows(values_only=True))[1:]
        exported = json.loads(
            leernet(runner, environment, "export", expected_slug(files), "--format", "json")
        )
        assert len(rows) == len(exported["attendance"])


def expected_slug(files: dict[str | None, object]) -> str:
    (name,) = [n for n in files if n and n.endswith(".xlsx")]
    return name.removesuffix(".xlsx")
