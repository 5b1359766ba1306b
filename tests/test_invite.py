"""The series invite (REQUEST), its CANCELs and the VTIMEZONE, read back by Python parsers.

Every expansion is checked twice: with the real TZID (icalendar maps it to
zoneinfo) and with the TZID renamed, so the VTIMEZONE we wrote is all the
parser has (dateutil's reading of our STANDARD/DAYLIGHT rules).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from leernet.calendar.invite import (
    cancel_template,
    request_template,
    series_uid,
)
from leernet.calendar.vtimezone import vtimezone
from leernet.mailer.tokens import participant_token, reply_address
from leernet.network.model import Network, Participant, Person, Series, Session, SessionKind

SERVICE = "netwerk@example.org"
SERVICE_NAME = "Lerend netwerk"
SECRET = "test-secret-not-for-production"
SLUG = "hr-ovl-2027"
DTSTAMP = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LONG_GOAL = (
    "Van elkaar leren hoe we werkbaar werk concreet maken: één netwerk, drie sectoren, "
    "veel praktijkvoorbeelden; we delen wat werkt, wat niet werkt, en waarom — "
    "met aandacht voor de ideeën van iedere deelnemer 🚀 en een heldere opvolging."
)
PEOPLE = (
    Participant("Bert Claes", "bert.claes@example.com"),
    Participant("Zoë Peeters, HR", "zoe.peeters@example.net"),
    Participant("Ana Ruiz", "ana.ruiz@example.com"),
)


def local(zone: str, *args: int) -> datetime:
    """A wall-clock time in ``zone``, as the aware UTC instant the model stores."""
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


def occurrence(series: Series, zone: str, index: int) -> datetime:
    """The series rule's ``index``-th occurrence, keeping the local wall-clock time."""
    tz = ZoneInfo(zone)
    wall = series.first.astimezone(tz).replace(tzinfo=None)
    return (wall + timedelta(weeks=series.every_weeks * index)).replace(tzinfo=tz).astimezone(UTC)


def make_network(
    zone: str,
    series: Series,
    starts: dict[int, datetime] | None = None,
    *,
    cancelled: tuple[int, ...] = (),
    language: str = "nl",
    minutes: dict[int, int] | None = None,
) -> Network:
    """A network whose session n fills slot n; ``starts`` moves sessions off their slot."""
    sessions = []
    for number in range(1, series.count + 1):
        slot = occurrence(series, zone, number - 1)
        kind = SessionKind.KICKOFF if number == 1 else SessionKind.SESSION
        sessions.append(
            Session(
                number=number,
                kind=kind,
                title=f"Sessie {number}: werkvormen, afspraken; café ë 🎉",
                start=(starts or {}).get(number, slot),
                minutes=(minutes or {}).get(number, series.minutes),
                slot=slot,
                work_form="Speeddate" if number == 1 else "",
                speaker="Dr. Émile Dupont" if number == 2 else "",
                cancelled=number in cancelled,
            )
        )
    return Network(
        slug=SLUG,
        name="Lerend netwerk werkbaar werk",
        goal=LONG_GOAL,
        language=language,
        timezone=zone,
        organiser=Person("An Peeters", "an.peeters@example.org"),
        sessions=tuple(sessions),
        participants=PEOPLE,
        questions=(),
        series=series,
        location="Wetstraat 34, Brussel",
        online_url="https://meet.example.org/abc",
    )


def brussels_network() -> Network:
    """4-weekly from 14 Jan 2027, 12 times: crosses 28 Mar and 31 Oct 2027; one moved, one off."""
    zone = "Europe/Brussels"
    series = Series(local(zone, 2027, 1, 14, 9, 30), every_weeks=4, count=12, minutes=150)
    # Session 5 moves from Thu 6 May 09:30 to Fri 7 May 13:00; session 4 is cancelled.
    return make_network(zone, series, {5: local(zone, 2027, 5, 7, 13, 0)}, cancelled=(4,))


def irregular_network() -> Network:
    """Sessions on arbitrary dates and times: each fills the nth slot of a weekly rule."""
    zone = "Europe/Brussels"
    dates = [
        local(zone, 2027, 2, 3, 14, 0),
        local(zone, 2027, 3, 30, 9, 0),  # just after the spring change
        local(zone, 2027, 6, 21, 18, 30),
        local(zone, 2027, 11, 2, 10, 15),  # just after the autumn change
    ]
    series = Series(dates[0], every_weeks=1, count=len(dates), minutes=120)
    return make_network(zone, series, dict(enumerate(dates, start=1)), minutes={3: 90})


def zone_network(zone: str, language: str = "en") -> Network:
    """A monthly-ish series through a whole year in ``zone``, with one session moved."""
    series = Series(local(zone, 2027, 1, 12, 19, 0), every_weeks=5, count=11, minutes=90)
    moved = {3: occurrence(series, zone, 2) + timedelta(days=1, hours=-2)}
    return make_network(zone, series, moved, language=language)


def organizer_for(participant: Participant) -> str:
    return reply_address(SERVICE, participant_token(SECRET, SLUG, participant.email))


def request_for(
    network: Network,
    participant: Participant,
    sequence: int = 0,
    *,
    dtstamp: datetime = DTSTAMP,
    descriptions: dict[int, str] | None = None,
) -> bytes:
    address = organizer_for(participant)
    template = request_template(
        network,
        service_address=address,
        sequence=sequence,
        dtstamp=dtstamp,
        descriptions=descriptions,
    )
    return template.render(participant, address, SERVICE_NAME)


def cancel_for(network: Network, participant: Participant, session: Session | None) -> bytes:
    address = organizer_for(participant)
    template = cancel_template(
        network, service_address=address, sequence=3, dtstamp=DTSTAMP, session=session
    )
    return template.render(participant, address, SERVICE_NAME)


def expand_python(ics: bytes, *, own_zone_only: bool) -> list[icalendar.Event]:
    """The occurrences recurring_ical_events shows; optionally with only our VTIMEZONE to go on."""
    if own_zone_only:
        # icalendar keeps a zone it built from a VTIMEZONE by its TZID: one name per zone.
        ics = re.sub(rb"TZID([=:])([A-Za-z_]+)/?([A-Za-z_]*)", rb"TZID\1Leernet-test-\2-\3", ics)
    cal = icalendar.Calendar.from_ical(ics)
    window = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2035, 1, 1, tzinfo=UTC))
    events = recurring_ical_events.of(cal).between(*window)
    return sorted(events, key=lambda e: e.DTSTART.astimezone(UTC))


def unfolded_lines(ics: bytes) -> list[str]:
    return ics.decode().replace("\r\n ", "").split("\r\n")


class TestSeriesUid:
    def test_uid_names_slug_and_service_domain(self) -> None:
        """The series UID is leernet-<slug>@<domain of the service mailbox>."""
        assert series_uid(SLUG, SERVICE) == "leernet-hr-ovl-2027@example.org"
        assert series_uid(SLUG, "netwerk+abc@Example.ORG") == "leernet-hr-ovl-2027@example.org"


class TestVtimezone:
    @pytest.mark.parametrize(
        ("zone", "daylight", "standard"),
        [
            ("Europe/Brussels", (3, "-1SU"), (10, "-1SU")),
            ("America/New_York", (3, "2SU"), (11, "1SU")),
            ("Australia/Sydney", (10, "1SU"), (4, "1SU")),
        ],
    )
    def test_one_standard_one_daylight_with_yearly_rules(
        self, zone: str, daylight: tuple[int, str], standard: tuple[int, str]
    ) -> None:
        """A DST zone is one STANDARD and one DAYLIGHT, each a yearly weekday rule, no RDATE."""
        tz = vtimezone(zone, datetime(2027, 6, 1, tzinfo=UTC))
        assert tz["TZID"] == zone
        assert sorted(c.name for c in tz.subcomponents) == ["DAYLIGHT", "STANDARD"]
        assert "RDATE" not in tz.to_ical().decode()
        rules = {
            c.name: (c["RRULE"]["FREQ"], c["RRULE"]["BYMONTH"], c["RRULE"]["BYDAY"])
            for c in tz.subcomponents
        }
        assert rules["DAYLIGHT"] == (["YEARLY"], [daylight[0]], [daylight[1]])
        assert rules["STANDARD"] == (["YEARLY"], [standard[0]], [standard[1]])

    def test_brussels_offsets_and_onsets(self) -> None:
        """Brussels goes +01→+02 at 02:00 and +02→+01 at 03:00 local, named CEST and CET."""
        tz = vtimezone("Europe/Brussels", datetime(2027, 1, 1, tzinfo=UTC))
        text = tz.to_ical().decode()
        assert "DTSTART:19700329T020000" in text
        assert "DTSTART:19701025T030000" in text
        daylight = next(c for c in tz.subcomponents if c.name == "DAYLIGHT")
        assert daylight["TZOFFSETFROM"].td == timedelta(hours=1)
        assert daylight["TZOFFSETTO"].td == timedelta(hours=2)
        assert daylight["TZNAME"] == "CEST"

    @pytest.mark.parametrize("zone", ["Africa/Abidjan", "UTC", "Asia/Tokyo"])
    def test_zone_without_dst_is_one_standard(self, zone: str) -> None:
        """A zone without daylight saving is one STANDARD without any rule."""
        tz = vtimezone(zone, datetime(2027, 6, 1, tzinfo=UTC))
        assert [c.name for c in tz.subcomponents] == ["STANDARD"]
        assert "RRULE" not in tz.subcomponents[0]
        assert "RDATE" not in tz.to_ical().decode()

    @pytest.mark.parametrize(
        "zone",
        [
            "Europe/Brussels",
            "Europe/Dublin",
            "America/New_York",
            "Australia/Sydney",
            "Pacific/Auckland",
            "America/Santiago",
            "Africa/Abidjan",
        ],
    )
    def test_rules_give_zoneinfo_offsets_every_day(self, zone: str) -> None:
        """Read by dateutil, the VTIMEZONE gives zoneinfo's UTC offset every day of 2027-2029."""
        ours = vtimezone(zone, datetime(2027, 6, 1, tzinfo=UTC)).to_tz()
        real = ZoneInfo(zone)
        moment = datetime(2027, 1, 1, 12, tzinfo=UTC)
        while moment.year < 2030:
            wall = moment.astimezone(real).replace(tzinfo=None)
            assert wall.replace(tzinfo=ours).utcoffset() == moment.astimezone(real).utcoffset(), (
                wall
            )
            moment += timedelta(hours=23)

    def test_each_call_returns_a_fresh_component(self) -> None:
        """Changing a returned VTIMEZONE does not change the next one."""
        first = vtimezone("Europe/Brussels", datetime(2027, 6, 1, tzinfo=UTC))
        first.add("X-CHANGED", "yes")
        assert "X-CHANGED" not in vtimezone("Europe/Brussels", datetime(2027, 6, 1, tzinfo=UTC))


class TestRequestShape:
    def test_calendar_header_and_master(self) -> None:
        """A REQUEST names method, product, UID, SEQUENCE and a weekly RRULE bounded by COUNT."""
        ics = request_for(brussels_network(), PEOPLE[0], sequence=4)
        cal = icalendar.Calendar.from_ical(ics)
        assert cal["METHOD"] == "REQUEST"
        assert cal["PRODID"] == "-//leernet//leernet 0.1//NL"
        assert cal["VERSION"] == "2.0"
        assert cal["CALSCALE"] == "GREGORIAN"
        events = cal.walk("VEVENT")
        master = next(e for e in events if "RECURRENCE-ID" not in e)
        assert all(e["UID"] == "leernet-hr-ovl-2027@example.org" for e in events)
        assert all(e["SEQUENCE"] == 4 for e in events)
        assert all(e.DTSTAMP == DTSTAMP for e in events)
        assert master["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=12;INTERVAL=4"
        assert "DTSTART;TZID=Europe/Brussels:20270114T093000" in unfolded_lines(ics)
        assert master["SUMMARY"] == "Lerend netwerk werkbaar werk"
        assert master["DESCRIPTION"] == LONG_GOAL
        assert master["LOCATION"] == "Wetstraat 34, Brussel"
        assert master["URL"] == "https://meet.example.org/abc"
        assert master["STATUS"] == "CONFIRMED"

    def test_exactly_one_attendee_and_token_organizer(self) -> None:
        """Every VEVENT has one ATTENDEE, the participant, and the token address as ORGANIZER."""
        person = PEOPLE[1]
        cal = icalendar.Calendar.from_ical(request_for(brussels_network(), person))
        for event in cal.walk("VEVENT"):
            attendee = event["ATTENDEE"]
            assert isinstance(attendee, icalendar.vCalAddress)  # one, not a list
            assert attendee == f"mailto:{person.email}"
            assert attendee.params["CN"] == person.name
            assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
            assert attendee.params["RSVP"] == "TRUE"
            assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
            organizer = event["ORGANIZER"]
            assert organizer == f"mailto:{organizer_for(person)}"
            assert organizer.params["CN"] == SERVICE_NAME
            assert "+" in organizer

    def test_no_other_participant_address_anywhere(self) -> None:
        """A participant's invite holds no other participant's address or token."""
        network = brussels_network()
        for person in PEOPLE:
            ics = request_for(network, person).lower()
            for other in PEOPLE:
                if other is not person:
                    assert other.email.encode() not in ics
                    assert participant_token(SECRET, SLUG, other.email).encode() not in ics
            assert network.organiser.email.encode() not in ics

    def test_lines_fit_75_octets_and_keep_utf8_whole(self) -> None:
        """Every physical line is at most 75 octets and valid UTF-8 on its own."""
        network = replace(brussels_network(), name="Netwerk 🎉 " * 12, goal="é" * 200 + "😀" * 50)
        long_name = Participant("Ëlisabeth-Maria Van den Broeck-" + "Ä" * 40, "e.vdb@example.com")
        ics = request_for(network, long_name)
        for raw in ics.split(b"\r\n"):
            assert len(raw) <= 75, raw
            raw.decode("utf-8")
        cal = icalendar.Calendar.from_ical(ics)
        master = cal.walk("VEVENT")[0]
        assert master["SUMMARY"] == network.name
        assert master["DESCRIPTION"] == network.goal
        assert master["ATTENDEE"].params["CN"] == long_name.name

    def test_text_with_commas_semicolons_and_emoji_round_trips(self) -> None:
        """Titles with commas, semicolons, accents and emoji come back exactly."""
        cal = icalendar.Calendar.from_ical(request_for(brussels_network(), PEOPLE[0]))
        summaries = [e["SUMMARY"] for e in cal.walk("VEVENT") if "RECURRENCE-ID" in e]
        assert summaries[0] == (
            "Lerend netwerk werkbaar werk – Sessie 1: werkvormen, afspraken; café ë 🎉"
        )
        assert b"werkvormen\\, afspraken\\; caf" in request_for(brussels_network(), PEOPLE[0])

    def test_quote_in_a_name_stays_one_parameter(self) -> None:
        """A double quote in a participant's name is caret-encoded (RFC 6868), not a broken line."""
        person = Participant('Jan "de Smid" Peeters', "jan@example.com")
        cal = icalendar.Calendar.from_ical(request_for(brussels_network(), person))
        attendee = cal.walk("VEVENT")[0]["ATTENDEE"]
        assert attendee == "mailto:jan@example.com"
        assert attendee.params["CN"] == 'Jan "de Smid" Peeters'

    def test_session_descriptions_default_and_given(self) -> None:
        """A session's description is the one given, else its work form and speaker, translated."""
        network = replace(brussels_network(), language="en")
        cal = icalendar.Calendar.from_ical(request_for(network, PEOPLE[0], descriptions={1: "Hi"}))
        by_number = dict(enumerate((e for e in cal.walk("VEVENT") if "RECURRENCE-ID" in e), 1))
        assert by_number[1]["DESCRIPTION"] == "Hi"
        assert "Speaker: Dr. Émile Dupont" in by_number[2]["DESCRIPTION"]
        dutch = icalendar.Calendar.from_ical(request_for(brussels_network(), PEOPLE[0]))
        first = next(e for e in dutch.walk("VEVENT") if "RECURRENCE-ID" in e)
        assert "Werkvorm: Speeddate" in first["DESCRIPTION"]

    def test_cancelled_session_is_an_exdate_without_override(self) -> None:
        """A cancelled session's slot is an EXDATE and has no override."""
        network = brussels_network()
        cancelled = network.session(4)
        lines = unfolded_lines(request_for(network, PEOPLE[0]))
        assert "EXDATE;TZID=Europe/Brussels:20270408T093000" in lines
        assert "RECURRENCE-ID;TZID=Europe/Brussels:20270408T093000" not in lines
        assert cancelled.slot == local("Europe/Brussels", 2027, 4, 8, 9, 30)

    def test_moved_session_keeps_its_slot_as_recurrence_id(self) -> None:
        """A moved session's override names its slot and starts at its real time."""
        text = "\r\n".join(unfolded_lines(request_for(brussels_network(), PEOPLE[0])))
        [block] = [
            b
            for b in text.split("BEGIN:VEVENT")
            if "RECURRENCE-ID;TZID=Europe/Brussels:20270506T093000" in b
        ]
        lines = block.split("\r\n")
        assert "DTSTART;TZID=Europe/Brussels:20270507T130000" in lines
        assert "DTEND;TZID=Europe/Brussels:20270507T153000" in lines

    def test_session_past_count_extends_the_rule(self) -> None:
        """A session in a slot after COUNT extends COUNT so its override has an occurrence."""
        network = brussels_network()
        network = replace(network, series=replace(network.series, count=10))
        cal = icalendar.Calendar.from_ical(request_for(network, PEOPLE[0]))
        assert b"COUNT=12" in cal.walk("VEVENT")[0]["RRULE"].to_ical()

    def test_slot_off_the_rule_is_refused(self) -> None:
        """A session whose slot is not an occurrence of the series is refused, not lost."""
        network = brussels_network()
        odd = replace(network.session(2), slot=network.session(2).slot + timedelta(hours=1))
        sessions = tuple(odd if s.number == 2 else s for s in network.sessions)
        with pytest.raises(ValueError, match="not occurrences"):
            request_for(replace(network, sessions=sessions), PEOPLE[0])


class TestExpansion:
    @pytest.mark.parametrize("own_zone_only", [False, True], ids=["zoneinfo", "our-vtimezone"])
    @pytest.mark.parametrize(
        "build",
        [
            brussels_network,
            irregular_network,
            lambda: zone_network("America/New_York"),
            lambda: zone_network("Australia/Sydney"),
            lambda: zone_network("Africa/Abidjan"),
        ],
        ids=["brussels", "irregular", "new-york", "sydney", "abidjan"],
    )
    def test_occurrences_are_the_sessions(self, build: object, own_zone_only: bool) -> None:
        """Expanded, the invite shows each session once at its real start and end, local and UTC."""
        network: Network = build()  # type: ignore[operator]
        events = expand_python(request_for(network, PEOPLE[0]), own_zone_only=own_zone_only)
        active = sorted(network.active_sessions, key=lambda s: s.start)
        assert [e.DTSTART.astimezone(UTC) for e in events] == [s.start for s in active]
        assert [e.DTEND.astimezone(UTC) for e in events] == [s.end for s in active]
        zone = network.zone
        for event, session in zip(events, active, strict=True):
            if own_zone_only:  # renamed: the parser cannot have used its own copy of the zone
                assert str(event.DTSTART.tzinfo) != network.timezone
            wall = event.DTSTART.replace(tzinfo=None)
            assert wall == session.start.astimezone(zone).replace(tzinfo=None)
            assert event["RECURRENCE-ID"].dt.astimezone(UTC) == session.slot
            assert session.title in event["SUMMARY"]


class TestCancel:
    def test_cancel_of_a_moved_session_names_its_slot(self) -> None:
        """Cancelling a moved session sends its slot as RECURRENCE-ID, STATUS:CANCELLED."""
        network = brussels_network()
        session = network.session(5)
        ics = cancel_for(network, PEOPLE[2], session)
        cal = icalendar.Calendar.from_ical(ics)
        assert cal["METHOD"] == "CANCEL"
        [event] = cal.walk("VEVENT")
        assert event["RECURRENCE-ID"].dt.astimezone(UTC) == session.slot
        assert event.DTSTART.astimezone(UTC) == session.start
        assert event["STATUS"] == "CANCELLED"
        assert event["SEQUENCE"] == 3
        assert event["UID"] == "leernet-hr-ovl-2027@example.org"
        assert event["ATTENDEE"] == f"mailto:{PEOPLE[2].email}"
        assert "RSVP" not in event["ATTENDEE"].params
        assert event["ORGANIZER"] == f"mailto:{organizer_for(PEOPLE[2])}"
        assert len(cal.walk("VTIMEZONE")) == 1
        for other in PEOPLE[:2]:
            assert other.email.encode() not in ics

    def test_cancel_of_the_series_has_no_recurrence_id(self) -> None:
        """Cancelling the series is one VEVENT with the UID and rule, without RECURRENCE-ID."""
        cal = icalendar.Calendar.from_ical(cancel_for(brussels_network(), PEOPLE[0], None))
        [event] = cal.walk("VEVENT")
        assert "RECURRENCE-ID" not in event
        assert event["STATUS"] == "CANCELLED"
        assert event["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=12;INTERVAL=4"
        assert event["ATTENDEE"] == f"mailto:{PEOPLE[0].email}"


class TestTemplate:
    def test_copies_differ_only_in_organizer_and_attendee(self) -> None:
        """Two participants' invites are the same bytes apart from ORGANIZER and ATTENDEE lines."""
        network = brussels_network()

        def shared(ics: bytes) -> list[str]:
            return [
                line
                for line in unfolded_lines(ics)
                if not line.startswith(("ORGANIZER", "ATTENDEE"))
            ]

        assert shared(request_for(network, PEOPLE[0])) == shared(request_for(network, PEOPLE[1]))

    def test_template_is_built_once_per_network_and_sequence(self) -> None:
        """The shared bytes are reused for the same network and SEQUENCE, at any DTSTAMP."""
        network = brussels_network()

        def shared(net: Network, sequence: int, dtstamp: datetime) -> tuple[bytes, ...]:
            template = request_template(
                net, service_address=SERVICE, sequence=sequence, dtstamp=dtstamp
            )
            return template.parts

        first = shared(network, 1, DTSTAMP)
        assert shared(replace(network, participants=()), 1, DTSTAMP + timedelta(hours=1)) is first
        assert shared(network, 2, DTSTAMP) is not first

    def test_dtstamp_is_per_copy_in_utc(self) -> None:
        """Each VEVENT carries the DTSTAMP of this copy, written in UTC."""
        later = datetime(2027, 2, 1, 9, 15, 7, tzinfo=ZoneInfo("Europe/Brussels"))
        ics = request_for(brussels_network(), PEOPLE[0], dtstamp=later)
        lines = unfolded_lines(ics)
        assert lines.count("DTSTAMP:20270201T081507Z") == lines.count("BEGIN:VEVENT")

    def test_a_copy_costs_well_under_a_third_of_a_millisecond(self) -> None:
        """After the first, a participant's copy takes < 0.3 ms (the outbox composes ~1,000/s)."""
        network = brussels_network()
        people = [Participant(f"Deelnemer {i}", f"p{i}@example.com") for i in range(500)]
        request_for(network, people[0])
        began = time.perf_counter()
        for person in people:
            request_for(network, person)
        assert (time.perf_counter() - began) / len(people) < 0.0003
