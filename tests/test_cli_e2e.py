"""The organiser's commands end to end: start, replies in Dovecot, run --once, export."""

from __future__ import annotations

import asyncio
import email
import json
import re
from email.policy import default
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from leernet.cli import main
from leernet.store import open_store
from leernet.store import schema as t
from tests.dovecot import ImapAccount, append, messages
from tests.smtpserver import SmtpTestServer

ROOT = Path(__file__).parents[1]
CORPUS = ROOT / "tests" / "data" / "replies"
EXAMPLE = ROOT / "config" / "network.example.toml"
ORGANISER = "an.peeters@example.org"
REPLIES = {
    # name: what it is
    "outlook_accept_series": "Bert accepts the series (Outlook)",
    "gmail_decline_instance": "Nathalie declines session 2 (Gmail, RECURRENCE-ID in UTC)",
    "outlook_tentative_comment": "Sofie is tentative, with a comment",
    "outlook_decline_occurrence": "Jan declines session 4 (Outlook, Windows zone name)",
    "owa_accept": "Els accepts (Outlook on the web)",
    "gmail_eval_inline_quoted": "Sofie answers the kick-off evaluation inline",
    "outlook_oof_nl": "an out-of-office reply",
    "postfix_alias_bounce": "Jan's invite bounces after alias expansion (Postfix)",
    "forged_bounce_no_reference": "a forged bounce for Bert: flags nobody",
    "forged_computed_in_reply_to": "an answer in Bert's name citing a computed Message-ID",
    "stranger_to_service": "a stranger",
    "forged_other_from_right_token": "Bert's token, someone else's From",
}


def env(smtp: SmtpTestServer, imap: ImapAccount, tmp: Path) -> dict[str, str]:
    return {
        "LEERNET_SERVICE_ADDRESS": "netwerk@example.org",
        "LEERNET_SECRET": "test-secret-not-for-production",
        "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'leernet.db'}",
        "LEERNET_SMTP_HOST": "127.0.0.1",
        "LEERNET_SMTP_PORT": str(smtp.port),
        "LEERNET_SMTP_SECURITY": "none",
        "LEERNET_SMTP_HOSTNAME": "client.test.invalid",
        "LEERNET_IMAP_HOST": imap.host,
        "LEERNET_IMAP_PORT": str(imap.port),
        "LEERNET_IMAP_SECURITY": "none",
        "LEERNET_IMAP_USER": imap.user,
        "LEERNET_IMAP_PASSWORD": imap.password,
        "LEERNET_AUTHSERV_ID": "mx.example.org",
    }


async def outbox_bytes(db: Path) -> dict[str, bytes]:
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(t.outbox.c.message_id, t.outbox_body.c.raw).select_from(
                    t.outbox.join(t.outbox_body)
                )
            )
            return {r.message_id: r.raw for r in rows}
    finally:
        await engine.dispose()


def leernet(runner: CliRunner, environment: dict[str, str], *args: str) -> str:
    result = runner.invoke(main, list(args), env=environment, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.dovecot
def test_start_replies_run_once_export(
    dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies in the shapes of real clients are recorded exactly; robots and strangers are not."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    with SmtpTestServer() as smtp:
        environment = env(smtp, dovecot, tmp_path)
        leernet(runner, environment, "start", str(EXAMPLE))
        leernet(runner, environment, "run", "--once")
        sent = smtp.wait_for(17)
        assert sorted(m.message()["Subject"].split(":")[0] for m in sent).count("Uitnodiging") == 12
        stored = asyncio.run(outbox_bytes(tmp_path / "leernet.db"))
        for m in sent:  # intact: the bytes that arrived are the bytes that were stored
            assert m.data.replace(b"\r\n", b"\n") == stored[m.message_id].replace(b"\r\n", b"\n")

        asyncio.run(append(dovecot, *(CORPUS.joinpath(f"{n}.eml").read_bytes() for n in REPLIES)))
        summary = leernet(runner, environment, "run", "--once")
        assert "received 12" in summary

        exported = json.loads(
            leernet(runner, environment, "export", "hr-ovl-2027", "--format", "json")
        )
        rsvp = {(a["participant"], a["session"]): a for a in exported["attendance"]}
        assert {rsvp["bert.claes@example.com", n]["rsvp"] for n in range(1, 7)} == {"accepted"}
        assert rsvp["nathalie.goossens@example.org", 2]["rsvp"] == "declined"
        assert rsvp["nathalie.goossens@example.org", 3]["rsvp"] == "needs-action"
        assert rsvp["jan.peeters@example.be", 4]["rsvp"] == "declined"
        assert rsvp["sofie.maes@example.com", 1]["rsvp"] == "tentative"
        assert rsvp["sofie.maes@example.com", 1]["comment"]
        assert rsvp["els.wouters@example.net", 5]["rsvp"] == "accepted"
        status = leernet(runner, environment, "status", "hr-ovl-2027")
        flagged = status[status.index("Bounced (1)") :]
        assert "jan.peeters@example.be" in flagged  # the alias bounce of his invite
        assert "bert.claes@example.com" not in flagged  # the forged one flags nobody
        evaluations = {(e["participant"], e["session"]): e for e in exported["evaluations"]}
        assert set(evaluations) == {("sofie.maes@example.com", 1)}
        assert evaluations["sofie.maes@example.com", 1]["answers"]["1"] == 5
        assert evaluations["sofie.maes@example.com", 1]["answers"]["4"] is False

        later = smtp.received[17:]
        to = sorted(r for m in later for r in m.rcpt_tos)
        # One confirmation to Sofie; a notice to the organiser (the bounce; the stranger and
        # the spoof wait in the day's digest, due at 08:00); nothing to the out-of-office,
        # the stranger or the spoofer.
        assert to.count("sofie.maes@example.com") == 1
        assert set(to) == {"sofie.maes@example.com", ORGANISER}
        assert to.count(ORGANISER) == 1
        confirmation = next(m for m in later if "sofie.maes@example.com" in m.rcpt_tos).message()
        assert confirmation["Auto-Submitted"] == "auto-replied"

        attention = asyncio.run(messages(dovecot, "leernet.needs-attention"))
        subjects = {email.message_from_bytes(raw, policy=default)["Subject"] for raw in attention}
        assert len(attention) == 3, subjects
        assert asyncio.run(messages(dovecot, "INBOX")) == []
        assert len(asyncio.run(messages(dovecot, "leernet.processed"))) == 9

        # A second pass changes nothing and sends nothing.
        again = leernet(runner, environment, "run", "--once")
        assert "sent 0" in again
        assert len(smtp.received) == 17 + len(later)


def test_check_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`leernet check` exits 0 on a valid file and 1 with every problem named by field."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(EXAMPLE)], env={"LEERNET_SECRET": ""})
    assert ok.exit_code == 0, ok.output
    assert "Kennismaking" in ok.output
    broken = tmp_path / "broken.toml"
    broken.write_text(
        EXAMPLE.read_text()
        .replace('goal = "Van elkaar', 'goal = ""\n#')
        .replace('email = "bert.claes@example.com"', 'email = "broken@"')
    )
    bad = runner.invoke(main, ["check", str(broken)])
    assert bad.exit_code == 1
    assert "network.goal" in bad.output
    assert "participants[1].email" in bad.output
    assert "'broken@' is not an email address" in bad.output


def test_check_names_every_problem_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad address does not hide the rules across fields: no goal, too many people, a duplicate."""
    monkeypatch.chdir(tmp_path)
    text = re.sub(r'goal = "[^"]*"\n', "", EXAMPLE.read_text())
    text = text.replace('email = "bert.claes@example.com"', 'email = "broken@"')
    text = text.replace('email = "jan.peeters@example.be"', 'email = "Sofie.Maes@example.com"')
    text += "".join(
        f'\n[[participants]]\nname = "Extra {i}"\nemail = "extra{i}@example.com"\n'
        for i in range(4)
    )
    broken = tmp_path / "broken.toml"
    broken.write_text(text)
    bad = CliRunner().invoke(main, ["check", str(broken)])
    assert bad.exit_code == 1
    said = " ".join(bad.output.split())
    assert "participants[1].email: 'broken@' is not an email address" in said
    assert "network.goal: is required" in said
    assert "16 participants is more than max_participants (15)" in said
    assert "participants[3].email: 'Sofie.Maes@example.com' is already participants[2]" in said
