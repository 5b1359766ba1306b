"""The network file: every error names its field, every seed warning is given."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leernet.errors import NetworkFileError
from leernet.network.load import load_network, parse_network
from leernet.network.model import SessionKind

EXAMPLE = Path(__file__).parents[1] / "config" / "network.example.toml"

HEAD = """
[network]
slug = "t-net"
name = "Testnetwerk"
goal = "Samen leren."
[organiser]
name = "An Peeters"
email = "an@example.org"
"""
SCHEDULE = """
[schedule]
first = 2027-01-14T09:30:00
every_weeks = 4
count = 3
minutes = 120
"""


def people(n: int, start: int = 0) -> str:
    return "".join(
        f'[[participants]]\nname = "P {i}"\nemail = "p{i}@example.com"\n'
        for i in range(start, start + n)
    )


def problems(text: str) -> dict[str, str]:
    with pytest.raises(NetworkFileError) as caught:
        parse_network(text)
    return {p.field: p.message for p in caught.value.problems}


class TestValid:
    def test_example_file_is_valid_without_warnings(self) -> None:
        """The example network in config/ passes the check with no warnings."""
        loaded = load_network(EXAMPLE, now=datetime(2026, 11, 27, tzinfo=UTC))
        assert loaded.warnings == ()
        net = loaded.network
        assert [s.number for s in net.sessions] == [1, 2, 3, 4, 5, 6]
        assert net.sessions[0].kind is SessionKind.KICKOFF
        assert net.sessions[-1].kind is SessionKind.CLOSING

    def test_local_times_follow_the_zone_across_daylight_saving(self) -> None:
        """09:30 in Brussels is 08:30 UTC in winter and 07:30 UTC in summer."""
        net = load_network(EXAMPLE).network
        assert net.session(1).start == datetime(2027, 1, 14, 8, 30, tzinfo=UTC)
        assert net.session(5).start == datetime(2027, 5, 6, 7, 30, tzinfo=UTC)

    def test_a_moved_session_keeps_its_series_slot(self) -> None:
        """Session 4 starts at 13:30 but fills the 09:30 occurrence of the series (its RECURRENCE-ID)."""
        net = load_network(EXAMPLE).network
        s4 = net.session(4)
        assert net.local(s4.start).hour == 13
        assert net.local(s4.slot).hour == 9
        assert net.local(s4.slot).date() == net.local(s4.start).date()

    def test_irregular_dates_without_schedule(self) -> None:
        """Without [schedule], every session gives its own start and the series is derived."""
        text = (
            HEAD
            + people(10)
            + "".join(
                f"[[sessions]]\nnumber = {n}\nstart = {d}\nminutes = 90\n"
                for n, d in enumerate(
                    ["2027-01-05T14:00:00", "2027-02-03T09:00:00", "2027-03-30T10:00:00"], start=1
                )
            )
        )
        net = parse_network(text).network
        assert [net.local(s.start).strftime("%m-%d %H:%M") for s in net.sessions] == [
            "01-05 14:00",
            "02-03 09:00",
            "03-30 10:00",
        ]
        assert net.series.count == 3

    def test_english_network_gets_english_questions(self) -> None:
        """Language = "en" gives the default questions in English."""
        text = (
            HEAD.replace('goal = "Samen leren."', 'goal = "Learn."\nlanguage = "en"')
            + SCHEDULE
            + people(10)
        )
        net = parse_network(text).network
        assert net.questions[0].text.startswith("How valuable")


class TestErrors:
    def test_every_problem_is_reported_at_once_with_its_field(self) -> None:
        """A file with several mistakes lists them all, each with its field."""
        text = (
            HEAD.replace('goal = "Samen leren."', 'goal = ""')
            + SCHEDULE
            + people(2)
            + ('[[participants]]\nname = "Broken"\nemail = "broken@"\n')
        )
        found = problems(text)
        assert "participants[3].email" in found
        assert "'broken@' is not an email address" in found["participants[3].email"]

    def test_missing_goal(self) -> None:
        """A network without a goal is refused."""
        found = problems(HEAD.replace('goal = "Samen leren."', "") + SCHEDULE + people(10))
        assert "network.goal" in found

    def test_no_end(self) -> None:
        """A series without count (or without any sessions) has no end and is refused."""
        found = problems(HEAD + SCHEDULE.replace("count = 3\n", "") + people(10))
        assert "schedule.count" in found
        found = problems(HEAD + people(10))
        assert "schedule" in found

    def test_too_many_participants(self) -> None:
        """More participants than max_participants (default 15) is an error."""
        found = problems(HEAD + SCHEDULE + people(16))
        assert "participants" in found
        assert "max_participants" in found["participants"]

    def test_raised_max_allows_more_with_a_warning(self) -> None:
        """Raising max_participants explicitly allows 16, with the seed's warning."""
        text = (
            HEAD.replace("[organiser]", "max_participants = 20\n[organiser]")
            + SCHEDULE
            + people(16)
        )
        loaded = parse_network(text)
        assert any("ten to fifteen" in w for w in loaded.warnings)

    def test_duplicate_email_case_insensitive(self) -> None:
        """The same address twice (in any case) is refused."""
        text = (
            HEAD + SCHEDULE + people(9) + '[[participants]]\nname = "X"\nemail = "P1@Example.com"\n'
        )
        found = problems(text)
        assert "participants[10].email" in found

    def test_session_without_time(self) -> None:
        """Without a [schedule], a session with no start is refused."""
        text = HEAD + people(10) + "[[sessions]]\nnumber = 1\nminutes = 60\n"
        found = problems(text)
        assert any(k.endswith(".start") for k in found)

    def test_unknown_time_zone(self) -> None:
        """An unknown time zone is named."""
        text = (
            HEAD.replace("[organiser]", 'timezone = "Europe/Gent"\n[organiser]')
            + SCHEDULE
            + people(10)
        )
        assert "network.timezone" in problems(text)

    def test_overlapping_sessions(self) -> None:
        """Two sessions at overlapping times are refused."""
        text = (
            HEAD + SCHEDULE + people(10) + "[[sessions]]\nnumber = 2\nstart = 2027-01-14T10:00:00\n"
        )
        found = problems(text)
        assert any("overlaps" in m for m in found.values())

    @pytest.mark.parametrize("field", ["name", "title"])
    def test_line_breaks_in_names_and_titles(self, field: str) -> None:
        """A CR or LF in a name or title is refused (it could end up in a header)."""
        if field == "name":
            text = (
                HEAD
                + SCHEDULE
                + people(9)
                + '[[participants]]\nname = "Evil\\r\\nBcc: x@y.z"\nemail = "e@example.com"\n'
            )
            key = "participants[10].name"
        else:
            text = HEAD + SCHEDULE + people(10) + '[[sessions]]\nnumber = 1\ntitle = "A\\nB"\n'
            key = "sessions[1].title"
        found = problems(text)
        assert key in found
        assert "line breaks" in found[key]

    def test_nul_in_location(self) -> None:
        """A NUL character in a location is refused."""
        text = (
            HEAD.replace("[organiser]", 'location = "Gent\\u0000"\n[organiser]')
            + SCHEDULE
            + people(10)
        )
        assert "network.location" in problems(text)

    def test_unknown_key_is_named(self) -> None:
        """A misspelt key is reported, not silently ignored."""
        text = HEAD + SCHEDULE.replace("every_weeks", "every_week") + people(10)
        assert "schedule.every_week" in problems(text)

    def test_bad_toml(self) -> None:
        """A file that is not TOML says so."""
        found = problems("[network\nslug=")
        assert any("TOML" in m for m in found.values())


class TestWarnings:
    def warnings(self, text: str, now: datetime | None = None) -> list[str]:
        return list(parse_network(text, now=now).warnings)

    def test_fewer_than_ten(self) -> None:
        """Fewer than ten participants is a warning from the seed's guideline."""
        assert any("ten to fifteen" in w for w in self.warnings(HEAD + SCHEDULE + people(4)))

    def test_first_not_kickoff_and_last_not_closing(self) -> None:
        """The first session should be a kick-off and the last a closing."""
        found = self.warnings(HEAD + SCHEDULE + people(10))
        assert any("kick-off" in w for w in found)
        assert any("closing" in w for w in found)

    def test_sessions_in_the_past(self) -> None:
        """Sessions before now are named."""
        found = self.warnings(HEAD + SCHEDULE + people(10), now=datetime(2027, 3, 1, tzinfo=UTC))
        assert any(re.search(r"session\(s\) 1, 2 lie in the past", w) for w in found)
