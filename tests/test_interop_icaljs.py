"""Our invites as ical.js (Thunderbird, many web calendars) reads them, and as Python does.

ical.js knows only the VTIMEZONE in the file, so these tests catch a zone
written the RDATE way (MAIL-NOTES gotcha 11) or any wrong rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from tests.icaljs import expand_with_icaljs, read_with_icaljs
from tests.test_invite import (
    PEOPLE,
    brussels_network,
    cancel_for,
    expand_python,
    irregular_network,
    organizer_for,
    request_for,
    zone_network,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from leernet.network.model import Network

pytestmark = pytest.mark.node

NETWORKS: dict[str, Callable[[], Network]] = {
    "brussels": brussels_network,
    "irregular": irregular_network,
    "english-new-york": lambda: zone_network("America/New_York", "en"),
    "sydney": lambda: zone_network("Australia/Sydney"),
    "abidjan": lambda: zone_network("Africa/Abidjan"),
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class TestIcalJsExpansion:
    @pytest.mark.parametrize("name", NETWORKS)
    def test_each_session_at_its_real_time(self, name: str) -> None:
        """ical.js shows each session once, at its real start and end, in the network's zone."""
        network = NETWORKS[name]()
        ics = request_for(network, PEOPLE[0])
        occurrences = expand_with_icaljs(ics)
        active = sorted(network.active_sessions, key=lambda s: s.start)
        assert [o["start"] for o in occurrences] == [iso(s.start) for s in active]
        assert [o["end"] for o in occurrences] == [iso(s.end) for s in active]
        # icalendar writes times in a zone that is UTC all year (Abidjan) as UTC ("Z").
        utc_zone = name == "abidjan"
        for occurrence, session in zip(occurrences, active, strict=True):
            wall = session.start.astimezone(network.zone).replace(tzinfo=None)
            assert occurrence["startLocal"] == wall.isoformat() + ("Z" if utc_zone else "")
            assert occurrence["zone"] == ("UTC" if utc_zone else network.timezone)
            assert occurrence["recurrenceId"] == iso(session.slot)
            assert occurrence["status"] == "CONFIRMED"
            assert occurrence["summary"] == f"{network.name} – {session.title}"

    @pytest.mark.parametrize("name", NETWORKS)
    def test_icaljs_and_recurring_ical_events_agree(self, name: str) -> None:
        """Two independent parsers expand the invite to the same instants."""
        ics = request_for(NETWORKS[name](), PEOPLE[1])
        from_js = [o["start"] for o in expand_with_icaljs(ics)]
        from_python = [iso(e.DTSTART) for e in expand_python(ics, own_zone_only=True)]
        assert from_js == from_python

    def test_cancelled_session_is_not_shown(self) -> None:
        """The cancelled session's slot (EXDATE) is not among ical.js's occurrences."""
        network = brussels_network()
        shown = {o["recurrenceId"] for o in expand_with_icaljs(request_for(network, PEOPLE[0]))}
        assert iso(network.session(4).slot) not in shown
        assert iso(network.session(5).slot) in shown


class TestIcalJsPeople:
    def test_one_attendee_and_the_token_organizer(self) -> None:
        """ical.js finds only the participant as ATTENDEE and the token address as ORGANIZER."""
        person = PEOPLE[1]
        read = read_with_icaljs(request_for(brussels_network(), person))
        assert read["method"] == "REQUEST"
        assert {a["value"] for a in read["attendees"]} == {f"mailto:{person.email}"}
        assert {a["cn"] for a in read["attendees"]} == {person.name}
        assert {a["partstat"] for a in read["attendees"]} == {"NEEDS-ACTION"}
        assert {o["value"] for o in read["organizers"]} == {f"mailto:{organizer_for(person)}"}
        assert {o["cn"] for o in read["organizers"]} == {"Lerend netwerk"}


class TestIcalJsCancel:
    def test_cancel_of_a_moved_session(self) -> None:
        """ical.js reads a session CANCEL as that slot's occurrence, cancelled."""
        network = brussels_network()
        session = network.session(5)
        read = read_with_icaljs(cancel_for(network, PEOPLE[0], session))
        assert read["method"] == "CANCEL"
        [occurrence] = read["occurrences"]
        assert occurrence["recurrenceId"] == iso(session.slot)
        assert occurrence["start"] == iso(session.start)
        assert occurrence["status"] == "CANCELLED"

    def test_cancel_of_the_series(self) -> None:
        """ical.js reads a series CANCEL as every occurrence of the rule, cancelled."""
        network = brussels_network()
        read = read_with_icaljs(cancel_for(network, PEOPLE[0], None))
        assert read["method"] == "CANCEL"
        assert len(read["occurrences"]) == network.series.count
        assert {o["status"] for o in read["occurrences"]} == {"CANCELLED"}
        assert read["occurrences"][0]["start"] == iso(network.series.first)
