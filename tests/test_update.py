"""`leernet update`: moved, cancelled, added and removed, as calendars and people see it."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import icalendar
import pytest
from click.testing import CliRunner

from leernet.cli import main
from leernet.network.load import load_network, parse_network
from leernet.network.model import Network
from tests.icaljs import expand_with_icaljs

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "config" / "network.example.toml"
SOURCE = EXAMPLE.read_text(encoding="utf-8")
# Session 3 moves into summer time (after 28 March), session 5 is cancelled,
# Fatima leaves and Hanne joins.
CHANGED = (
    SOURCE.replace(
        'title = "Werkdruk bespreekbaar maken"\nwork_form = "Casusbespreking"',
        'title = "Werkdruk bespreekbaar maken"\nwork_form = "Casusbespreking"\nstart = 2027-03-31T14:00:00',
    )
    .replace(
        'location = "Sint-Pietersnieuwstraat 25, Gent"',
        'location = "Sint-Pietersnieuwstraat 25, Gent"\ncancelled = true',
    )
    .replace(
        '[[participants]]\nname = "Fatima El Amrani"\nemail = "fatima.elamrani@example.com"\n'
        'manager_name = "Carla Dewit"\nmanager_email = "carla.dewit@example.com"\n',
        '[[participants]]\nname = "Hanne Verlinden"\nemail = "hanne.verlinden@example.com"\n'
        'manager_name = "Koen De Smet"\nmanager_email = "koen.desmet@example.org"\n',
    )
)


def calendar_of(msg: EmailMessage) -> bytes:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def read(folder: Path) -> dict[str, list[EmailMessage]]:
    out: dict[str, list[EmailMessage]] = {}
    for f in sorted(folder.glob("*.eml")):
        kind = f.name.split("-", 1)[1].rsplit("-", 1)[0] if f.name.count("-") >= 2 else ""
        msg = email.message_from_bytes(f.read_bytes(), policy=default)
        assert isinstance(msg, EmailMessage)
        out.setdefault(kind.split("-")[0], []).append(msg)
    return out


@pytest.fixture
def updated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The example started, then updated with --dry-run: the messages it would send."""
    monkeypatch.chdir(tmp_path)
    environment = {
        "LEERNET_SECRET": "test-secret-not-for-production",
        "LEERNET_SERVICE_ADDRESS": "netwerk@example.org",
        "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}",
    }
    runner = CliRunner()
    assert runner.invoke(main, ["start", str(EXAMPLE)], env=environment).exit_code == 0
    changed = tmp_path / "network.toml"
    changed.write_text(CHANGED, encoding="utf-8")
    result = runner.invoke(
        main, ["update", str(changed), "--dry-run", "--out", str(tmp_path / "out")], env=environment
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(
        main,
        ["update", str(changed), "--dry-run", "--out", str(tmp_path / "out2")],
        env=environment,
    )
    assert "moved" in again.output  # a dry run changed nothing: the same change is still pending
    return tmp_path / "out", result.output


class TestUpdate:
    def test_the_change_is_said_in_words(self, updated: tuple[Path, str]) -> None:
        """The organiser reads what changes before anything is queued."""
        _, output = updated
        assert "Session 3 (Werkdruk bespreekbaar maken) has moved to" in output
        assert "Session 5 (Leren op de werkvloer)" in output
        assert "cancelled" in output
        assert "New participant: Hanne Verlinden" in output
        assert "Removed participant: Fatima El Amrani" in output

    def test_every_staying_participant_gets_one_update_and_one_cancel(
        self, updated: tuple[Path, str]
    ) -> None:
        """Eleven staying participants: an updated REQUEST (SEQUENCE 1) and a CANCEL of session 5."""
        out, _ = updated
        mails = read(out)
        assert len(mails["invite"]) == 11 + 1  # 11 updates + Hanne's first invite
        cancels = mails["cancel"]
        assert len(cancels) == 11 + 1  # session 5 for the stayers, the series for Fatima
        network = load_network(EXAMPLE).network
        slot5 = network.session(5).slot
        for msg in cancels:
            cal = icalendar.Calendar.from_ical(calendar_of(msg))
            assert str(cal["METHOD"]) == "CANCEL"
            (event,) = cal.walk("VEVENT")
            assert int(event["SEQUENCE"]) == 1
            to = msg["To"].addresses[0].addr_spec
            if to == "fatima.elamrani@example.com":
                assert "RECURRENCE-ID" not in event  # the whole series
            else:
                assert event["RECURRENCE-ID"].dt.astimezone(UTC) == slot5

    @pytest.mark.node
    def test_the_updated_invite_expands_to_the_new_times(self, updated: tuple[Path, str]) -> None:
        """ical.js shows session 3 at its new summer-time hour and no session 5."""
        out, _ = updated
        new = load_network(EXAMPLE).network  # slots from the registered series
        changed = {s.number: s for s in load_network_text(CHANGED).sessions}
        update = next(
            m
            for m in read(out)["invite"]
            if m["To"].addresses[0].addr_spec == "bert.claes@example.com"
        )
        ics = calendar_of(update)
        assert b"SEQUENCE:1" in ics
        starts = sorted(
            datetime.fromisoformat(o["start"]).astimezone(UTC) for o in expand_with_icaljs(ics)
        )
        expected = sorted(s.start for n, s in changed.items() if not s.cancelled)
        assert starts == expected
        assert changed[3].start == datetime(2027, 3, 31, 12, 0, tzinfo=UTC)  # 14:00 CEST
        assert new.session(3).slot != changed[3].start


def load_network_text(text: str) -> Network:
    return parse_network(text).network


QUESTIONS = """
[[evaluation.questions]]
text = "Hoe waardevol was deze sessie voor jou? (1 = helemaal niet, 5 = heel erg)"
kind = "rating"

[[evaluation.questions]]
text = "Wat neem je mee naar je eigen praktijk?"
share_with_manager = true

[[evaluation.questions]]
text = "Wat kan er beter in een volgende sessie?"

[[evaluation.questions]]
text = "Mag je leidinggevende je antwoord op vraag 2 lezen? (ja/nee)"
kind = "consent"
"""


class TestSharingAfterTheFact:
    """`update` never changes which answers already given a manager can read."""

    def run(self, tmp_path: Path, before: str, after: str, *, answered: bool) -> tuple[int, str]:
        import asyncio  # noqa: PLC0415

        from leernet.records import networks, record  # noqa: PLC0415
        from leernet.store import open_store  # noqa: PLC0415

        db = tmp_path / "leernet.db"
        environment = {
            "LEERNET_SECRET": "test-secret-not-for-production",
            "LEERNET_SERVICE_ADDRESS": "netwerk@example.org",
            "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        }
        first = tmp_path / "before.toml"
        first.write_text(before, encoding="utf-8")
        runner = CliRunner()
        assert runner.invoke(main, ["start", str(first)], env=environment).exit_code == 0

        async def answer() -> None:
            engine = await open_store(environment["LEERNET_DATABASE_URL"])
            async with engine.begin() as conn:
                reg = await networks.get(conn, "hr-ovl-2027")
                assert reg is not None
                member = reg.member("bert.claes@example.com")
                assert member is not None
                await record.record_evaluation(
                    conn,
                    participant_id=member.id,
                    session_number=1,
                    absent=False,
                    answers={"1": 4, "2": "gedeeld", "3": "NIET-GEDEELD", "4": True},
                    received_at=datetime(2027, 1, 14, 15, tzinfo=UTC),
                    inbox_id=None,
                )
            await engine.dispose()

        if answered:
            asyncio.run(answer())
        second = tmp_path / "after.toml"
        second.write_text(after, encoding="utf-8")
        result = runner.invoke(main, ["update", str(second)], env=environment)
        return result.exit_code, result.output

    def test_sharing_an_answered_question_is_refused(self, tmp_path: Path) -> None:
        """Question 3 has answers given in confidence: sharing it now (with a move) is refused, by field."""
        before = SOURCE + QUESTIONS
        after = CHANGED + QUESTIONS.replace(
            'text = "Wat kan er beter in een volgende sessie?"',
            'text = "Wat kan er beter in een volgende sessie?"\nshare_with_manager = true',
        )
        code, output = self.run(tmp_path, before, after, answered=True)
        assert code == 1
        assert "evaluation.questions[2]" in output
        assert "question 3 already has answers" in output

    def test_rewording_the_consent_question_is_refused(self, tmp_path: Path) -> None:
        """A yes to "may your manager read question 2" never stands for a wider question."""
        after = SOURCE + QUESTIONS.replace(
            "antwoord op vraag 2 lezen", "antwoorden op vraag 2 en 3 lezen"
        )
        code, output = self.run(tmp_path, SOURCE + QUESTIONS, after, answered=True)
        assert code == 1
        assert "question 4 asks consent" in output

    def test_sharing_a_question_without_answers_says_so(self, tmp_path: Path) -> None:
        """Before any answer, sharing question 3 is allowed, and update says what it means."""
        after = SOURCE + QUESTIONS.replace(
            'text = "Wat kan er beter in een volgende sessie?"',
            'text = "Wat kan er beter in een volgende sessie?"\nshare_with_manager = true',
        )
        code, output = self.run(tmp_path, SOURCE + QUESTIONS, after, answered=False)
        assert code == 0, output
        assert "Question 3 is now shared with managers" in output

    def test_stopping_sharing_applies_to_old_answers_too(self, tmp_path: Path) -> None:
        """Sharing less is always allowed: question 2's answers, old ones too, stay private."""
        after = SOURCE + QUESTIONS.replace("share_with_manager = true\n", "").replace(
            'kind = "consent"', 'kind = "yes_no"'
        )
        code, output = self.run(tmp_path, SOURCE + QUESTIONS, after, answered=True)
        assert code == 0, output
        assert "Question 2 is no longer shared with managers" in output
