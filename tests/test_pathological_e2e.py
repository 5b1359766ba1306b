"""Mail built to make parsing slow, end to end: Dovecot, run --once, the rest of the mailbox read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from leernet.mailer.tokens import participant_token
from tests.dovecot import ImapAccount, append, messages
from tests.smtpserver import SmtpTestServer
from tests.test_cli_e2e import CORPUS, EXAMPLE, env, leernet
from tests.test_pathological import zone

SECRET = "test-secret-not-for-production"
SLUG = "hr-ovl-2027"
UID = f"leernet-{SLUG}@example.org"
LINE = ("1.1" * 25)[:74]  # hung the old answer-pairs pattern
DOTTED = ("1." * 37)[:74]
AUTH = "Authentication-Results: mx.example.org; dmarc=pass header.from=example.com\r\n"


def to(address: str) -> str:
    return f"netwerk+{participant_token(SECRET, SLUG, address)}@example.org"


def evaluation(address: str, n: int, body: str) -> bytes:
    return (
        f"{AUTH}From: {address}\r\nTo: Lerend netwerk <{to(address)}>\r\n"
        f"Subject: Re: Evaluatie: Kennismaking en verwachtingen\r\n"
        f"Message-ID: <patho{n}@example.com>\r\nDate: Thu, 14 Jan 2027 15:42:11 +0100\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def minutely_reply(sender: str, recipient: str, n: int) -> bytes:
    tzid = "Evil Standard Time"
    cal = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//evil//EN\r\nMETHOD:REPLY\r\n"
        + zone(tzid, "MINUTELY", observances=2)
        + f"BEGIN:VEVENT\r\nUID:{UID}\r\nDTSTAMP:20270104T081243Z\r\n"
        f"RECURRENCE-ID;TZID={tzid}:20270211T093000\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{sender}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return (
        f"{AUTH}From: {sender}\r\nTo: {recipient}\r\nSubject: Accepted: Lerend netwerk\r\n"
        f"Message-ID: <minutely{n}@example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\n" + cal
    ).encode()


@pytest.mark.dovecot
def test_pathological_mail_does_not_stop_the_mailbox(
    dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A MINUTELY VTIMEZONE, a 74-character "1.1.1..." line and "groeten" with 40,000 dots are
    handled in one pass, and the ordinary replies after them are recorded.
    """
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    with SmtpTestServer() as smtp:
        environment = env(smtp, dovecot, tmp_path)
        leernet(runner, environment, "start", str(EXAMPLE))
        leernet(runner, environment, "run", "--once")
        mails = [
            minutely_reply("karel@elders.example", "netwerk@example.org", 1),  # a stranger
            minutely_reply("nathalie.goossens@example.org", to("nathalie.goossens@example.org"), 2),
            evaluation(
                "tom.janssens@example.com", 3, "1. 4\r\n2. " + LINE + "\r\n" + DOTTED + "\r\n"
            ),
            evaluation(
                "jan.peeters@example.be", 4, "1. 3\r\n2. Veel\r\n\r\ngroeten" + "." * 40_000
            ),
            evaluation("els.wouters@example.net", 5, "1. 5 / 2. Veel geleerd / 3. Niets / 4. nee"),
            CORPUS.joinpath("outlook_accept_series.eml").read_bytes(),
            CORPUS.joinpath("gmail_eval_inline_quoted.eml").read_bytes(),
        ]
        asyncio.run(append(dovecot, *mails))
        summary = leernet(runner, environment, "run", "--once")
        assert f"received {len(mails)}" in summary

        exported = json.loads(leernet(runner, environment, "export", SLUG, "--format", "json"))
        answers = {e["participant"]: e["answers"] for e in exported["evaluations"]}
        assert answers["tom.janssens@example.com"] == {"1": 4, "2": f"{LINE}\n{DOTTED}"}
        assert answers["jan.peeters@example.be"]["1"] == 3
        assert answers["els.wouters@example.net"] == {
            "1": 5,
            "2": "Veel geleerd",
            "3": "Niets",
            "4": False,
        }
        assert answers["sofie.maes@example.com"]["1"] == 5
        rsvp = {(a["participant"], a["session"]): a["rsvp"] for a in exported["attendance"]}
        assert rsvp["bert.claes@example.com", 1] == "accepted"
        assert rsvp["nathalie.goossens@example.org", 2] == "needs-action"

        assert asyncio.run(messages(dovecot, "INBOX")) == []
        assert len(asyncio.run(messages(dovecot, "leernet.needs-attention"))) == 2
