"""Reading iTIP REPLYs (RFC 5546) and mapping their RECURRENCE-ID to a session."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leernet.calendar.itip import MAX_COMPONENTS, match_session, read_reply, zone_for_tzid
from tests.linear import assert_linear

ZONE = ZoneInfo("Europe/Brussels")
UID = "leernet-hr-ovl-2027@example.org"
ORGANIZER = "netwerk+txsb7ra4x6bx7avul3x3xfkdpm@example.org"
# first 2027-01-14 09:30 local, every 4 weeks, 6 sessions; from 2027-03-28 Brussels is UTC+2
SLOTS = [
    (n + 1, (datetime(2027, 1, 14, 9, 30, tzinfo=ZONE) + timedelta(weeks=4 * n)).astimezone(UTC))
    for n in range(6)
]

ROMANCE = """BEGIN:VTIMEZONE
TZID:Romance Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""


def reply(*lines: str, vtimezone: str = "", method: str = "REPLY", uid: str = UID) -> bytes:
    body = "\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//test//EN",
            f"METHOD:{method}",
            vtimezone.strip(),
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20270104T081243Z",
            "SEQUENCE:0",
            *lines,
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    return "\r\n".join(line for line in body.splitlines() if line).encode() + b"\r\n"


ATTENDEE = "ATTENDEE;PARTSTAT=ACCEPTED;CN=Bert Claes:mailto:Bert.Claes@Example.com"


class TestReadReply:
    def test_series_accept(self) -> None:
        """A series accept gives UID, SEQUENCE, the attendee in lower case, no RECURRENCE-ID."""
        r = read_reply(reply(ATTENDEE, f"ORGANIZER;CN=Lerend netwerk:mailto:{ORGANIZER}"))
        assert r.problem is None
        assert (r.method, r.uid, r.sequence) == ("REPLY", UID, 0)
        assert r.organizer == ORGANIZER
        assert [(a.email, a.partstat, a.cn) for a in r.attendees] == [
            ("bert.claes@example.com", "ACCEPTED", "Bert Claes")
        ]
        assert r.recurrence_id is None
        assert r.dtstamp == datetime(2027, 1, 4, 8, 12, 43, tzinfo=UTC)

    def test_missing_organizer(self) -> None:
        """Outlook omits ORGANIZER from its REPLY: that reads as None, not an error."""
        r = read_reply(reply(ATTENDEE))
        assert r.problem is None
        assert r.organizer is None

    def test_comment(self) -> None:
        """The COMMENT of a tentative reply comes through unescaped."""
        r = read_reply(reply(ATTENDEE, "COMMENT;LANGUAGE=nl-BE:Ik probeer\\, misschien later"))
        assert r.comment == "Ik probeer, misschien later"

    def test_google_response_comment(self) -> None:
        """Google Calendar's X-RESPONSE-COMMENT parameter becomes the comment."""
        line = 'ATTENDEE;PARTSTAT=DECLINED;X-RESPONSE-COMMENT="Op opleiding":mailto:a@example.com'
        assert read_reply(reply(line)).comment == "Op opleiding"

    def test_unknown_partstat(self) -> None:
        """An unknown PARTSTAT reads as NEEDS-ACTION (RFC 5545 3.2.12)."""
        r = read_reply(reply("ATTENDEE;PARTSTAT=MAYBE-LATER:mailto:a@example.com"))
        assert r.attendees[0].partstat == "NEEDS-ACTION"

    def test_not_a_reply(self) -> None:
        """A REQUEST is read, but flagged as not being a REPLY."""
        r = read_reply(reply(ATTENDEE, method="REQUEST"))
        assert r.method == "REQUEST"
        assert r.problem is not None
        assert "not REPLY" in r.problem

    def test_several_vevents(self) -> None:
        """A REPLY for the master and an override keeps the master first and the override aside."""
        data = reply(
            ATTENDEE,
            "RECURRENCE-ID;TZID=Europe/Brussels:20270211T093000",
        ).replace(
            b"BEGIN:VEVENT",
            f"BEGIN:VEVENT\r\nUID:{UID}\r\nDTSTAMP:20270104T081243Z\r\n{ATTENDEE}\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT".encode(),
        )
        r = read_reply(data)
        assert r.problem is None
        assert r.recurrence_id is None
        assert len(r.others) == 1
        assert r.others[0].recurrence_id == datetime(2027, 2, 11, 8, 30, tzinfo=UTC)

    @pytest.mark.parametrize(
        "data",
        [b"", b"garbage", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", b"BEGIN:VCALENDAR\r\n\xff\xfe"],
    )
    def test_junk(self, data: bytes) -> None:
        """Junk never raises: the result names the problem."""
        assert read_reply(data).problem

    def test_huge_calendar_is_refused_fast(self) -> None:
        """A calendar with 10,000 VEVENTs is refused, in time linear in its size."""
        event = f"BEGIN:VEVENT\r\nUID:{UID}\r\n{ATTENDEE}\r\nEND:VEVENT\r\n"

        def data(n: int) -> bytes:
            return (
                "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n" + event * n + "END:VCALENDAR\r\n"
            ).encode()

        assert read_reply(data(10_000)).problem is not None
        assert_linear(lambda n: read_reply(data(n)), 1250)

    def test_many_vevents_under_the_cap(self) -> None:
        """A REPLY with as many VEVENTs as the cap allows is still read, linearly in their number."""
        event = f"BEGIN:VEVENT\r\nUID:{UID}\r\n{ATTENDEE}\r\nEND:VEVENT\r\n"

        def data(n: int) -> bytes:
            return (
                "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n" + event * n + "END:VCALENDAR\r\n"
            ).encode()

        assert_linear(lambda n: read_reply(data(n)), MAX_COMPONENTS // 8)
        r = read_reply(data(MAX_COMPONENTS))
        assert r.problem is None
        assert len(r.components) == MAX_COMPONENTS

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=2000))
    def test_never_raises_on_bytes(self, data: bytes) -> None:
        """Any bytes give a result, never an exception."""
        read_reply(data)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.text(max_size=60), max_size=20))
    def test_never_raises_on_calendar_like_lines(self, lines: list[str]) -> None:
        """Arbitrary property lines inside a VEVENT give a result, never an exception."""
        read_reply(reply(*lines).replace(b"\x00", b""))


class TestRecurrenceId:
    def test_utc(self) -> None:
        """Google's UTC RECURRENCE-ID 20270211T083000Z is session 2 (09:30 in Brussels)."""
        r = read_reply(reply(ATTENDEE, "RECURRENCE-ID:20270211T083000Z"))
        assert r.recurrence_id == datetime(2027, 2, 11, 8, 30, tzinfo=UTC)
        assert match_session(r, SLOTS, ZONE) == 2

    def test_iana_tzid_after_dst(self) -> None:
        """A TZID=Europe/Brussels RECURRENCE-ID in April (UTC+2) is session 4."""
        r = read_reply(reply(ATTENDEE, "RECURRENCE-ID;TZID=Europe/Brussels:20270408T093000"))
        assert r.recurrence_tzid == "Europe/Brussels"
        assert match_session(r, SLOTS, ZONE) == 4

    def test_outlook_windows_zone_with_vtimezone(self) -> None:
        """Outlook's TZID="Romance Standard Time" with its own VTIMEZONE is read in that zone."""
        line = 'RECURRENCE-ID;TZID="Romance Standard Time":20270408T093000'
        r = read_reply(reply(ATTENDEE, line, vtimezone=ROMANCE))
        assert r.recurrence_id == datetime(2027, 4, 8, 7, 30, tzinfo=UTC)
        assert r.recurrence_tzid == "Romance Standard Time"
        assert match_session(r, SLOTS, ZONE) == 4

    @pytest.mark.parametrize("name", ["Romance Standard Time", "W. Europe Standard Time"])
    def test_windows_zone_without_vtimezone(self, name: str) -> None:
        """A Windows zone name without a VTIMEZONE is mapped to its IANA zone."""
        r = read_reply(reply(ATTENDEE, f'RECURRENCE-ID;TZID="{name}":20270211T093000'))
        assert r.recurrence_id == datetime(2027, 2, 11, 8, 30, tzinfo=UTC)
        assert match_session(r, SLOTS, ZONE) == 2

    def test_zone_table(self) -> None:
        """The Windows names Belgian Outlooks use map to zones with Brussels' offsets."""
        for name in ("Romance Standard Time", "W. Europe Standard Time"):
            zone = zone_for_tzid(name)
            assert zone is not None
            assert datetime(2027, 7, 1, tzinfo=zone).utcoffset() == timedelta(hours=2)
        assert zone_for_tzid("Nowhere/Special") is None

    def test_floating(self) -> None:
        """A floating RECURRENCE-ID stays naive and is read in the network's zone."""
        r = read_reply(reply(ATTENDEE, "RECURRENCE-ID:20270311T093000"))
        assert r.recurrence_id == datetime(2027, 3, 11, 9, 30)  # noqa: DTZ001 - floating on purpose
        assert match_session(r, SLOTS, ZONE) == 3

    def test_unknown_tzid_is_floating(self) -> None:
        """A TZID nobody knows, without VTIMEZONE, is read as local time in the network's zone."""
        r = read_reply(reply(ATTENDEE, "RECURRENCE-ID;TZID=Custom Zone 7:20270311T093000"))
        assert r.recurrence_tzid == "Custom Zone 7"
        assert match_session(r, SLOTS, ZONE) == 3

    def test_date(self) -> None:
        """An all-day RECURRENCE-ID (VALUE=DATE) matches the session on that local date."""
        r = read_reply(reply(ATTENDEE, "RECURRENCE-ID;VALUE=DATE:20270506"))
        assert r.recurrence_id == date(2027, 5, 6)
        assert match_session(r, SLOTS, ZONE) == 5

    def test_no_session_at_that_time(self) -> None:
        """A RECURRENCE-ID an hour off (a DST mistake) matches no session, not a wrong one."""
        r = read_reply(reply(ATTENDEE, "RECURRENCE-ID:20270408T083000Z"))
        assert match_session(r, SLOTS, ZONE) is None

    def test_series(self) -> None:
        """A reply without RECURRENCE-ID answers the series: no single session."""
        assert match_session(read_reply(reply(ATTENDEE)), SLOTS, ZONE) is None


class TestZoneIsolation:
    def test_one_replys_own_zone_does_not_move_anothers(self) -> None:
        """A REPLY defining "W. Europe Standard Time" at +05:00 leaves the next REPLY's zone alone."""
        evil = (
            "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\n"
            "DTSTART:16010101T030000\r\nTZOFFSETFROM:+0500\r\nTZOFFSETTO:+0500\r\n"
            "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
        )
        rid = 'RECURRENCE-ID;TZID="W. Europe Standard Time":20270211T093000'
        # A backslash in a parameter: the hand reader leaves this shape to icalendar.
        odd = 'ATTENDEE;CN="a\\\\b";PARTSTAT=ACCEPTED:mailto:bert.claes@example.com'
        theirs = read_reply(reply(rid, ATTENDEE, vtimezone=evil))
        assert theirs.recurrence_id == datetime(2027, 2, 11, 4, 30, tzinfo=UTC)  # their own zone
        mine = read_reply(reply(rid, odd))
        assert mine.problem is None
        assert mine.recurrence_id == datetime(2027, 2, 11, 8, 30, tzinfo=UTC)  # Amsterdam, UTC+1
