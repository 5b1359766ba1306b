"""An organiser's series taken in, started and changed through the real CLI, SMTP and Dovecot; read by ical.js.

The mail flow (preview, confirmation) is not wired yet; this pins down what it
will rest on: the network file made from an organiser's Outlook series is
started with `leernet start`, every participant's invite expands (ical.js) to
the organiser's own series, and a moved occurrence in the organiser's calendar,
applied with `leernet update`, reaches every participant as an update that
expands to the organiser's updated series.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from leernet.cli import main
from leernet.organiser.intake.apply_change import apply_change
from leernet.organiser.intake.network_file import from_request
from leernet.organiser.intake.remember import remembered
from leernet.organiser.intake.request import read_request
from leernet.organiser.intake.series import read_series
from leernet.organiser.intake.series_change import read_change
from tests.dovecot import ImapAccount
from tests.icaljs import expand_with_icaljs
from tests.smtpserver import Received, SmtpTestServer
from tests.test_cli_e2e import env

CORPUS = Path(__file__).parent / "data" / "organiser"
NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)

pytestmark = [pytest.mark.dovecot, pytest.mark.node]


def leernet(runner: CliRunner, environment: dict[str, str], *args: str) -> str:
    result = runner.invoke(main, list(args), env=environment, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def calendars(received: list[Received], method: str) -> dict[str, bytes]:
    """The text/calendar part each recipient got, for one METHOD."""
    out: dict[str, bytes] = {}
    for m in received:
        for part in m.message().walk():
            if part.get_content_type() == "text/calendar" and method in part.get(
                "Content-Type", ""
            ):
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                (rcpt,) = m.rcpt_tos
                out[rcpt] = payload
    return out


def shown(ics: bytes) -> list[tuple[str, str]]:
    return [(o["start"], o["end"]) for o in expand_with_icaljs(ics)]


def test_series_to_invites_and_a_moved_occurrence_to_updates(
    dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every participant's invite shows the organiser's series; after Outlook moves session 4, every participant's update shows the moved series."""
    monkeypatch.chdir(tmp_path)
    request = read_request((CORPUS / "outlook_series_with_list.eml").read_bytes())
    organisers = request.calendars[0]
    intake = from_request(request, taken=lambda _s: False, now=NOW)
    assert intake.loaded is not None
    network = intake.loaded.network
    emails = {p.email for p in network.participants}
    (tmp_path / "net.toml").write_text(intake.source, encoding="utf-8")

    runner = CliRunner()
    with SmtpTestServer() as smtp:
        environment = env(smtp, dovecot, tmp_path)
        leernet(runner, environment, "start", "net.toml")
        leernet(runner, environment, "run", "--once")
        invites = calendars(smtp.received, "REQUEST")
        assert set(invites) == emails
        expected = shown(organisers)
        assert len(expected) == 5  # six occurrences, 11 March cancelled
        for ics in invites.values():
            assert shown(ics) == expected
        first_batch = len(smtp.received)

        update = read_request((CORPUS / "outlook_update_moved.eml").read_bytes()).calendars[0]
        known = remembered(intake.source, network)
        assert known is not None
        change = read_change(known, update)
        source, findings = apply_change(intake.source, known, change, read_series(update).series)
        assert findings == ()
        (tmp_path / "net2.toml").write_text(source, encoding="utf-8")
        leernet(runner, environment, "update", "net2.toml")
        leernet(runner, environment, "run", "--once")
        updates = calendars(smtp.received[first_batch:], "REQUEST")
        assert set(updates) == emails
        moved = shown(update)
        assert moved != expected
        for ics in updates.values():
            assert shown(ics) == moved
