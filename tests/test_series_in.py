"""The organiser's meeting series: every client's shape read into the same sessions, bounded."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leernet.organiser.intake.findings import Say
from leernet.organiser.intake.participant_list import read_participant_list
from leernet.organiser.intake.request import read_request
from leernet.organiser.intake.series import MAX_OCCURRENCES, MeetingSeries, read_series
from leernet.organiser.intake.series_change import Change, read_change

CORPUS = Path(__file__).parent / "data" / "organiser"
MAILS = sorted(CORPUS.glob("*_series_with_list.eml"))
CHANGES = sorted(p for p in CORPUS.glob("*.eml") if "_series_with_list" not in p.name)
BRUSSELS = ZoneInfo("Europe/Brussels")


def local(moment: datetime) -> str:
    return moment.astimezone(BRUSSELS).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("path", MAILS, ids=[p.stem for p in MAILS])
def test_corpus_mail_gives_the_expected_series(path: Path) -> None:
    """Every client's mail (Outlook, Google, Apple, Thunderbird) gives the sessions in its sidecar, in local time."""
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    request = read_request(path.read_bytes())
    assert request.sender == expected["organizer"]
    result = read_series(request.calendars[0])
    assert result.findings == ()
    series = result.series
    assert series is not None
    assert (series.uid, series.tzid, series.timezone) == (
        expected["uid"],
        expected["tzid"],
        expected["timezone"],
    )
    assert (series.summary, series.location, series.online_url, series.goal) == (
        expected["summary"],
        expected["location"],
        expected["online_url"],
        expected["goal"],
    )
    assert series.every_weeks == expected["every_weeks"]
    assert series.organizer is not None
    assert series.organizer.email == expected["organizer"]
    got = [
        {
            "number": o.index,
            "recurrence_id": local(o.recurrence_id),
            "start": local(o.start),
            "minutes": o.minutes,
            "cancelled": o.cancelled,
        }
        for o in series.occurrences
    ]
    assert got == expected["sessions"]
    (attached,) = request.lists
    assert (
        len(read_participant_list(attached.filename, attached.data).participants)
        == expected["participants"]
    )


def test_outlook_language_comes_from_the_summary_and_the_mail() -> None:
    """Outlook's LANGUAGE=nl-BE and Content-Language: nl-BE both say Dutch."""
    request = read_request((CORPUS / "outlook_series_with_list.eml").read_bytes())
    series = read_series(request.calendars[0]).series
    assert series is not None
    assert (request.language, series.language) == ("nl", "nl")


def test_the_dst_change_keeps_the_wall_clock_time() -> None:
    """09:30 in February is 08:30 UTC and 09:30 in April is 07:30 UTC: the series keeps local time."""
    request = read_request((CORPUS / "google_series_with_list.eml").read_bytes())
    series = read_series(request.calendars[0]).series
    assert series is not None
    assert series.occurrences[0].start.hour == 8
    assert series.occurrences[5].start.hour == 7


def calendar(
    rule: str, *, start: str = "DTSTART;TZID=Europe/Brussels:20270211T093000", extra: str = ""
) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        "UID:t-1",
        "SUMMARY:Netwerk",
        start,
        "DURATION:PT2H",
        rule,
        extra,
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(line for line in lines if line) + "\r\n").encode()


def said(data: bytes) -> list[Say]:
    return [f.say for f in read_series(data).findings]


class TestRefused:
    def test_open_ended_series(self) -> None:
        """A series without COUNT or UNTIL is refused: a network has an end."""
        assert said(calendar("RRULE:FREQ=WEEKLY;INTERVAL=2")) == [Say.SERIES_OPEN_ENDED]

    def test_too_many_occurrences(self) -> None:
        """More occurrences than a network may have is refused, by COUNT or by UNTIL."""
        assert said(calendar("RRULE:FREQ=WEEKLY;COUNT=53")) == [Say.SERIES_TOO_LONG]
        assert said(calendar("RRULE:FREQ=DAILY;UNTIL=20281231T000000Z")) == [Say.SERIES_TOO_LONG]

    def test_all_day_series(self) -> None:
        """An all-day series has no times for sessions."""
        data = calendar("RRULE:FREQ=WEEKLY;COUNT=6", start="DTSTART;VALUE=DATE:20270211")
        assert said(data) == [Say.SERIES_ALL_DAY]

    def test_single_meeting(self) -> None:
        """A meeting without RRULE is not a series."""
        assert said(calendar("")) == [Say.SERIES_NOT_RECURRING]

    def test_unknown_time_zone(self) -> None:
        """A TZID that is neither IANA nor a known Windows name is refused by name."""
        data = calendar(
            "RRULE:FREQ=WEEKLY;COUNT=3", start="DTSTART;TZID=Mars/Olympus:20270211T093000"
        )
        assert said(data) == [Say.SERIES_TIMEZONE]

    def test_rules_by_the_hour_or_yearly(self) -> None:
        """FREQ=HOURLY, YEARLY or BYHOUR are not a learning network's rhythm and are refused."""
        assert said(calendar("RRULE:FREQ=HOURLY;COUNT=3")) == [Say.SERIES_RULE]
        assert said(calendar("RRULE:FREQ=WEEKLY;COUNT=3;BYHOUR=9,14")) == [Say.SERIES_RULE]

    def test_a_rule_that_never_matches_stops_at_the_horizon(self) -> None:
        """A COUNT that the rule cannot reach (30 February) is refused after a bounded search."""
        data = calendar("RRULE:FREQ=MONTHLY;COUNT=5;BYMONTH=2;BYMONTHDAY=30")
        assert said(data) == [Say.SERIES_TOO_LONG]

    def test_junk_is_a_finding(self) -> None:
        """Bytes that are no calendar give a finding, never an exception."""
        assert said(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\n") != []
        assert said(b"\xff" * 10) != []

    def test_oversized_calendar(self) -> None:
        """A calendar far larger than any series is refused before parsing."""
        data = calendar("RRULE:FREQ=WEEKLY;COUNT=3", extra="X-PAD:" + "x" * 300_000)
        assert said(data) == [Say.CALENDAR_TOO_BIG]


class TestRules:
    def test_windows_zone_with_a_hostile_vtimezone_is_never_expanded(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A VTIMEZONE with a per-second rule is dropped unread: the zone comes from its name, no rule is expanded."""
        calls: list[object] = []
        original = icalendar.Timezone.to_tz

        def counting(self: icalendar.Timezone, *args: object, **kwargs: object) -> object:
            calls.append(self)
            return original(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(icalendar.Timezone, "to_tz", counting)
        tz = (
            "BEGIN:VTIMEZONE\r\nTZID:Romance Standard Time\r\nBEGIN:STANDARD\r\n"
            "DTSTART:16010101T000000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\n"
            "RRULE:FREQ=SECONDLY\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
        )
        data = calendar(
            "RRULE:FREQ=WEEKLY;COUNT=2", start="DTSTART;TZID=Romance Standard Time:20270211T093000"
        ).replace(b"METHOD:REQUEST\r\n", b"METHOD:REQUEST\r\n" + tz.encode())
        series = read_series(data).series
        assert series is not None
        assert series.timezone == "Europe/Brussels"
        assert series.occurrences[0].start.hour == 8
        assert calls == []

    @pytest.mark.parametrize(
        "begin",
        ["BEGIN:VTIME\r\n ZONE", "BEGIN;X-A=1:VTIMEZONE", "begin:vtimezone"],
        ids=["folded", "with-parameter", "lower-case"],
    )
    def test_a_disguised_vtimezone_never_reaches_icalendar(
        self, begin: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A VTIMEZONE folded, with a parameter or in lower case is removed or refused; none is expanded."""
        calls: list[object] = []
        original = icalendar.Timezone.to_tz

        def counting(self: icalendar.Timezone, *args: object, **kwargs: object) -> object:
            calls.append(self)
            return original(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(icalendar.Timezone, "to_tz", counting)
        tz = (
            f"{begin}\r\nTZID:X/Y\r\nBEGIN:STANDARD\r\nDTSTART:16010101T000000\r\n"
            "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=SECONDLY\r\nEND:STANDARD\r\n"
            f"{begin.replace('BEGIN', 'END').replace('begin', 'end')}\r\n"
        )
        data = calendar(
            "RRULE:FREQ=WEEKLY;COUNT=2", start="DTSTART;TZID=X/Y:20270211T093000"
        ).replace(b"METHOD:REQUEST\r\n", b"METHOD:REQUEST\r\n" + tz.encode())
        assert read_series(data).series is None
        assert calls == []

    def test_outlooks_customized_time_zone_is_known_by_its_shape(self) -> None:
        """Outlook's 'Customized Time Zone' with Brussels' offsets and changes is read as Europe/Brussels, without expanding it."""
        tz = (
            "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\nBEGIN:STANDARD\r\n"
            "DTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=5SU;BYMONTH=10\r\nEND:STANDARD\r\n"
            "BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\n"
            "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\n"
            "END:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
        )
        start = "DTSTART;TZID=Customized Time Zone:20270211T093000"
        data = calendar("RRULE:FREQ=WEEKLY;COUNT=8", start=start)
        data = data.replace(b"METHOD:REQUEST\r\n", b"METHOD:REQUEST\r\n" + tz.encode())
        series = read_series(data).series
        assert series is not None
        assert series.timezone == "Europe/Brussels"
        # Summer time from 28 March: the eighth Thursday (1 April) is at 07:30 UTC.
        assert [o.start.hour for o in series.occurrences] == [8] * 7 + [7]
        hostile = data.replace(b"FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU", b"FREQ=SECONDLY")
        assert said(hostile) == [Say.SERIES_TIMEZONE]

    def test_monthly_rule_is_read_but_not_a_schedule(self) -> None:
        """A second-Thursday-of-the-month rule gives its dates; it is not leernet's weekly schedule."""
        result = read_series(calendar("RRULE:FREQ=MONTHLY;COUNT=3;BYDAY=2TH"))
        series = result.series
        assert isinstance(series, MeetingSeries)
        assert [o.start.astimezone(BRUSSELS).day for o in series.occurrences] == [11, 11, 8]
        assert series.every_weeks is None

    def test_rdate_adds_an_occurrence_in_date_order(self) -> None:
        """An RDATE adds its occurrence between the rule's ones; the series is then no plain weekly schedule."""
        data = calendar(
            "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=3",
            extra="RDATE;TZID=Europe/Brussels:20270304T140000",
        )
        series = read_series(data).series
        assert series is not None
        assert [local(o.start) for o in series.occurrences] == [
            "2027-02-11T09:30",
            "2027-02-25T09:30",
            "2027-03-04T14:00",
            "2027-03-11T09:30",
        ]
        assert series.every_weeks is None

    def test_dtstart_off_the_rule_counts_as_the_first(self) -> None:
        """RFC 5545 3.3.10: a DTSTART on a Wednesday with BYDAY=TH is still the first occurrence."""
        data = calendar(
            "RRULE:FREQ=WEEKLY;COUNT=3;BYDAY=TH",
            start="DTSTART;TZID=Europe/Brussels:20270210T093000",
        )
        series = read_series(data).series
        assert series is not None
        assert [o.start.astimezone(BRUSSELS).day for o in series.occurrences] == [10, 11, 18]

    def test_until_as_a_date_includes_that_day(self) -> None:
        """UNTIL=20270225 (a DATE) keeps the occurrence on 25 February."""
        series = read_series(calendar("RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20270225")).series
        assert series is not None
        assert len(series.occurrences) == 2

    def test_cancelled_override_and_unknown_override(self) -> None:
        """An override with STATUS:CANCELLED cancels its occurrence; one that names no occurrence is a warning."""
        base = calendar("RRULE:FREQ=WEEKLY;COUNT=3").decode().removesuffix("END:VCALENDAR\r\n")
        overrides = (
            "BEGIN:VEVENT\r\nUID:t-1\r\nRECURRENCE-ID;TZID=Europe/Brussels:20270218T093000\r\n"
            "DTSTART;TZID=Europe/Brussels:20270218T093000\r\nDURATION:PT2H\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nUID:t-1\r\nRECURRENCE-ID:20270301T083000Z\r\n"
            "DTSTART;TZID=Europe/Brussels:20270302T093000\r\nDURATION:PT2H\r\nEND:VEVENT\r\n"
        )
        result = read_series((base + overrides + "END:VCALENDAR\r\n").encode())
        assert result.series is not None
        assert [o.cancelled for o in result.series.occurrences] == [False, True, False]
        assert [f.say for f in result.findings] == [Say.SERIES_OVERRIDE_UNKNOWN]

    def test_the_bound_on_occurrences_is_the_schedule_bound(self) -> None:
        """The reader accepts exactly as many occurrences as a network file's schedule.count."""
        assert said(calendar(f"RRULE:FREQ=WEEKLY;COUNT={MAX_OCCURRENCES}")) == []


def known(name: str) -> MeetingSeries:
    series = read_series(read_request((CORPUS / f"{name}.eml").read_bytes()).calendars[0]).series
    assert series is not None
    return series


@pytest.mark.parametrize("path", CHANGES, ids=[p.stem for p in CHANGES])
def test_corpus_change_gives_the_expected_changes(path: Path) -> None:
    """An update or a cancel from the organiser's client, read against the series it changes, gives its sidecar's changes."""
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    request = read_request(path.read_bytes())
    change = read_change(known(expected["base"]), request.calendars[0])
    assert change.findings == ()
    assert not change.stale
    assert change.sequence == expected["sequence"]
    assert change.whole_series_cancelled == expected["whole_series_cancelled"]
    got = []
    for c in change.occurrences:
        entry: dict[str, object] = {"change": str(c.change), "number": c.number}
        if c.change is Change.MOVED:
            assert c.after is not None
            entry |= {"start": local(c.after.start), "minutes": c.after.minutes}
        got.append(entry)
    assert got == expected["changes"]


class TestChanges:
    def test_the_same_series_again_changes_nothing(self) -> None:
        """The organiser's client sending the unchanged series again is no change."""
        request = read_request((CORPUS / "outlook_series_with_list.eml").read_bytes())
        change = read_change(known("outlook_series_with_list"), request.calendars[0])
        assert change.empty

    def test_an_older_sequence_is_stale(self) -> None:
        """An update with a lower SEQUENCE than the one we know is an old message and changes nothing."""
        series = known("outlook_series_with_list")
        newer = MeetingSeries(
            **{f: getattr(series, f) for f in MeetingSeries.__slots__} | {"sequence": 3}
        )
        request = read_request((CORPUS / "outlook_update_moved.eml").read_bytes())
        change = read_change(newer, request.calendars[0])
        assert change.stale
        assert change.occurrences == ()

    def test_another_series_is_not_this_one(self) -> None:
        """A calendar with another UID is not read as a change of this series."""
        request = read_request((CORPUS / "google_cancel_series.eml").read_bytes())
        change = read_change(known("outlook_series_with_list"), request.calendars[0])
        assert change.findings != ()
        assert change.empty

    def test_title_and_place_changes_are_named(self) -> None:
        """A new SUMMARY and LOCATION are reported as before/after."""
        raw = read_request((CORPUS / "outlook_update_moved.eml").read_bytes()).calendars[0]
        changed = raw.replace(b"Wetstraat 34\\, Brussel", b"Kunstlaan 5\\, Brussel").replace(
            b"SUMMARY;LANGUAGE=nl-BE:Lerend netwerk werkbaar werk",
            b"SUMMARY;LANGUAGE=nl-BE:Lerend netwerk werkbaar werk 2027",
        )
        change = read_change(known("outlook_series_with_list"), changed)
        assert change.summary == (
            "Lerend netwerk werkbaar werk",
            "Lerend netwerk werkbaar werk 2027",
        )
        assert change.location == ("Wetstraat 34, Brussel", "Kunstlaan 5, Brussel")


@pytest.mark.parametrize("path", MAILS, ids=[p.stem for p in MAILS])
def test_the_service_accepts_the_organisers_invite(path: Path) -> None:
    """The REPLY to each client's invite is ACCEPTED from the service, for the series' UID and SEQUENCE, as leernet's own REPLY reader reads it."""
    from leernet.calendar.itip import read_reply  # noqa: PLC0415
    from leernet.organiser.intake.accept import accept_reply  # noqa: PLC0415

    calendar_bytes = read_request(path.read_bytes()).calendars[0]
    series = read_series(calendar_bytes).series
    assert series is not None
    reply = accept_reply(
        calendar_bytes,
        attendee="netwerk@example.org",
        attendee_name="Lerend netwerk",
        now=datetime(2027, 1, 4, 8, 13, tzinfo=BRUSSELS),
    )
    assert reply is not None
    read = read_reply(reply)
    assert read.problem is None
    assert (read.method, read.uid, read.sequence) == ("REPLY", series.uid, series.sequence)
    assert read.organizer == "an.peeters@example.com"
    assert [(a.email, a.partstat) for a in read.attendees] == [("netwerk@example.org", "ACCEPTED")]
    assert read.recurrence_id is None


FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "BEGIN:VEVENT", "END:VEVENT", "UID:x", "RRULE:FREQ=WEEKLY;COUNT=3",
                "RRULE:FREQ=MONTHLY;BYDAY=0TH;COUNT=2", "RRULE:FREQ=DAILY;UNTIL=2027",
                "DTSTART;TZID=Romance Standard Time:20270211T093000", "DTSTART:20270211",
                "DTEND:20270211T083000Z", "DURATION:-PT2H", "EXDATE:garbage",
                "RECURRENCE-ID;RANGE=THISANDFUTURE:20270218T093000", "BEGIN:VTIMEZONE",
                "END:VTIMEZONE", "STATUS:CANCELLED", "SEQUENCE:x", "METHOD:CANCEL",
            ]
        ),
        st.text(max_size=40),
    ),
    max_size=25,
)  # fmt: skip


class TestNeverRaises:
    """Hypothesis: whatever bytes an organiser's mail holds, the readers answer with findings, never an exception."""

    @FUZZ
    @given(LINES)
    def test_calendar_lines(self, lines: list[str]) -> None:
        """Any mix of calendar lines gives a series or findings, and a change reader that does not raise."""
        from leernet.organiser.intake.series_change import read_change  # noqa: PLC0415

        data = ("BEGIN:VCALENDAR\r\n" + "\r\n".join(lines) + "\r\nEND:VCALENDAR\r\n").encode(
            "utf-8", "surrogatepass"
        )
        result = read_series(data)
        assert result.series is not None or result.findings
        read_change(known("outlook_series_with_list"), data)

    @FUZZ
    @given(st.binary(max_size=3000), st.sampled_from(["l.csv", "l.xlsx", "l.txt"]))
    def test_list_bytes(self, data: bytes, name: str) -> None:
        """Any bytes as a participant list give participants or findings."""
        result = read_participant_list(name, data)
        assert result.participants or result.findings

    @FUZZ
    @given(st.binary(max_size=3000))
    def test_mail_bytes(self, data: bytes) -> None:
        """Any bytes as an organiser's mail give a request (maybe empty) and an intake with findings."""
        from leernet.organiser.intake.network_file import from_request  # noqa: PLC0415

        request = read_request(data)
        intake = from_request(
            request, taken=lambda _s: False, now=datetime(2027, 1, 4, tzinfo=BRUSSELS)
        )
        assert intake.ok or intake.findings


class TestMeetingText:
    def test_rfc7986_conference_is_the_online_link(self) -> None:
        """Google's CONFERENCE property (RFC 7986) gives the online link; a Teams label in LOCATION is no place."""
        data = calendar(
            "RRULE:FREQ=WEEKLY;COUNT=2",
            extra="CONFERENCE;VALUE=URI;FEATURE=VIDEO;LABEL=Meet:https://meet.google.com/abc-defg-hij\r\n"
            "LOCATION:Microsoft Teams-vergadering",
        )
        series = read_series(data).series
        assert series is not None
        assert (series.online_url, series.location) == ("https://meet.google.com/abc-defg-hij", "")

    def test_a_link_in_the_place_is_split_off(self) -> None:
        """'Zaal 3; https://zoom.us/j/1' gives place 'Zaal 3' and the Zoom link."""
        data = calendar(
            "RRULE:FREQ=WEEKLY;COUNT=2", extra="LOCATION:Zaal 3\\; https://zoom.us/j/123."
        )
        series = read_series(data).series
        assert series is not None
        assert (series.location, series.online_url) == ("Zaal 3", "https://zoom.us/j/123")

    def test_goal_line_wins_over_the_first_paragraph(self) -> None:
        """A 'Goal:' line further down is the goal; the first paragraph is not."""
        from leernet.organiser.intake.meeting_text import goal  # noqa: PLC0415

        text = "Welkom allemaal.\n\nPraktisch: koffie om 9u.\nGoal: learn from each other\nacross teams.\n\nTot dan"
        assert goal(text) == "Learn from each other across teams."
        assert goal("Eerste alinea\nloopt door.\n\nTweede.") == "Eerste alinea loopt door."


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.stem)
def test_a_message_parsed_with_compat32_gives_the_same_request(path: Path) -> None:
    """The inbox parses cheaply with compat32; the request read from that message equals the one read from the bytes."""
    import email  # noqa: PLC0415
    from email.policy import compat32  # noqa: PLC0415

    from leernet.organiser.intake.request import request_of  # noqa: PLC0415

    raw = path.read_bytes()
    assert request_of(email.message_from_bytes(raw, policy=compat32)) == read_request(raw)


RULES = [
    "FREQ=WEEKLY;COUNT=6;INTERVAL=2;BYDAY=TH",
    "FREQ=WEEKLY;COUNT=10;BYDAY=MO,TH",
    "FREQ=WEEKLY;UNTIL=20270601T000000;INTERVAL=3;BYDAY=TU,TH;WKST=SU",
    "FREQ=WEEKLY;COUNT=8;BYMONTH=3,4;BYDAY=TH",
    "FREQ=DAILY;COUNT=10;INTERVAL=3",
    "FREQ=DAILY;COUNT=20;BYDAY=MO,WE,FR",
    "FREQ=DAILY;COUNT=5;BYMONTHDAY=1,15",
    "FREQ=MONTHLY;COUNT=6;BYDAY=2TH",
    "FREQ=MONTHLY;COUNT=6;BYDAY=-1FR",
    "FREQ=MONTHLY;COUNT=6;BYMONTHDAY=15",
    "FREQ=MONTHLY;COUNT=8;BYMONTHDAY=-1",
    "FREQ=MONTHLY;COUNT=6;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;COUNT=6;INTERVAL=2;BYDAY=1MO,3MO",
    "FREQ=MONTHLY;COUNT=5;BYMONTHDAY=31",
    "FREQ=MONTHLY;UNTIL=20271231T235959;BYDAY=TH;BYMONTHDAY=8,9,10,11,12,13,14",
]


@pytest.mark.parametrize("rule", RULES)
def test_expansion_agrees_with_dateutil(rule: str) -> None:
    """Our bounded expansion gives dateutil's occurrences (DTSTART first, as RFC 5545 3.3.10 counts it)."""
    from itertools import islice  # noqa: PLC0415

    from dateutil.rrule import rrulestr  # noqa: PLC0415

    first = datetime(2027, 2, 11, 9, 30)  # noqa: DTZ001 - wall-clock time, as the rule reads it
    theirs = list(islice(rrulestr(f"RRULE:{rule}", dtstart=first), 60))
    if not theirs or theirs[0] != first:
        theirs = [first, *theirs]
    count = int(rule.split("COUNT=")[1].split(";", maxsplit=1)[0]) if "COUNT=" in rule else 60
    theirs = theirs[:count]
    series = read_series(calendar(f"RRULE:{rule}")).series
    assert series is not None
    ours = [o.recurrence_id.astimezone(BRUSSELS).replace(tzinfo=None) for o in series.occurrences]
    assert ours == theirs


def test_a_rule_that_never_matches_costs_a_bounded_number_of_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30 looks at most three years of days (dateutil ran to the year 9999)."""
    from leernet.organiser.intake import recurrence  # noqa: PLC0415

    steps: list[object] = []
    original = recurrence._Rule._daily

    def counting(self: recurrence._Rule, day: object) -> bool:
        steps.append(day)
        return original(self, day)  # type: ignore[arg-type]

    monkeypatch.setattr(recurrence._Rule, "_daily", counting)
    data = calendar("RRULE:FREQ=DAILY;UNTIL=20990101T000000Z;BYMONTH=2;BYMONTHDAY=30")
    read_series(data)
    assert 1000 < len(steps) <= 3 * 366 + 1
    steps.clear()
    assert said(calendar("RRULE:FREQ=DAILY;COUNT=52;BYMONTH=2;BYMONTHDAY=30")) == [
        Say.SERIES_TOO_LONG
    ]
    assert len(steps) <= 3 * 366 + 1
