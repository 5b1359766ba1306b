"""The iTIP REPLY objects that Outlook, Gmail, Apple Calendar and Thunderbird write.

Each client answers an invite (RFC 5546 3.2.3: the UID and SEQUENCE it
answers, one ATTENDEE with its PARTSTAT, DTSTAMP = when it answered) in its
own dialect, and the service must read all of them:

* Outlook/Exchange renames the zone to its Windows name ("Romance Standard
  Time"), writes its own VTIMEZONE and a quoted TZID on RECURRENCE-ID, adds
  BYDAY/WKST to the RRULE and a pile of X-MICROSOFT-CDO properties.
* Google Calendar writes an occurrence in UTC and the note as an
  ``X-RESPONSE-COMMENT`` parameter of the ATTENDEE.
* Apple Calendar answers the master and every override at once and writes the
  address with the capitals of the address book.
* Thunderbird (Lightning) keeps the invite's TZID and adds X-MOZ-GENERATION.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import icalendar

from leernet.calendar.contentlines import fold, param
from leernet.demo.shapes import Received, read

if TYPE_CHECKING:
    from collections.abc import Callable

# Outlook's names for the zones with EU rules (last Sunday of March/October).
_WINDOWS_ZONES = {
    "Europe/Brussels": "Romance Standard Time",
    "Europe/Paris": "Romance Standard Time",
    "Europe/Amsterdam": "W. Europe Standard Time",
    "Europe/Berlin": "W. Europe Standard Time",
    "Europe/Luxembourg": "W. Europe Standard Time",
}
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_EU_VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:{name}\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n"
    "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """The master (``recurrence_id`` None) or one override of the series, times aware."""

    recurrence_id: datetime | None
    start: datetime
    end: datetime
    summary: str
    location: str


@dataclass(frozen=True, slots=True)
class Invite:
    """What a client reads from our series REQUEST before it answers."""

    uid: str
    sequence: int
    organizer: str
    organizer_name: str
    attendee: str
    attendee_name: str
    tzid: str
    zone: ZoneInfo
    vtimezone: str
    rrule: str
    master: Occurrence
    overrides: tuple[Occurrence, ...]

    def occurrence(self, slot: datetime) -> Occurrence:
        """The override for ``slot`` (UTC), or the plain occurrence the RRULE puts there."""
        for o in self.overrides:
            if o.recurrence_id == slot:
                return o
        start = slot.astimezone(self.zone)
        length = self.master.end - self.master.start
        return replace(self.master, recurrence_id=slot, start=start, end=start + length)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the attendee says, and about which VEVENTs (the master, or one override)."""

    partstat: str
    attendee: str
    attendee_name: str
    comment: str
    dtstamp: datetime
    events: tuple[Occurrence, ...]


def _calendar_bytes(received: Received) -> bytes:
    for p in received.msg.walk():
        if p.get_content_type() in {"text/calendar", "application/ics"}:
            payload = p.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
    raise ValueError("the message has no calendar part")


def _address(value: object) -> str:
    text = str(value)
    return text[7:] if text.lower().startswith("mailto:") else text


def _moment(event: icalendar.cal.Component, name: str) -> datetime:
    value = getattr(event.get(name), "dt", None)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} of the invite is not a date-time with a zone: {value!r}")
    return value


def _occurrence(event: icalendar.cal.Component, zone: ZoneInfo) -> Occurrence:
    rid = _moment(event, "RECURRENCE-ID") if "RECURRENCE-ID" in event else None
    return Occurrence(
        recurrence_id=rid.astimezone(UTC) if rid is not None else None,
        start=_moment(event, "DTSTART").astimezone(zone),
        end=_moment(event, "DTEND").astimezone(zone),
        summary=str(event.get("SUMMARY", "")),
        location=str(event.get("LOCATION", "")),
    )


def _rrule(master: icalendar.cal.Component) -> str:
    if "RRULE" not in master:
        return ""
    value = master["RRULE"].to_ical()
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def read_invite(raw: bytes) -> tuple[Received, Invite]:
    """The received invite and its series, as a client sees it."""
    received = read(raw)
    data = _calendar_bytes(received)
    cal = icalendar.Calendar.from_ical(data)
    events = list(cal.walk("VEVENT"))
    master = next(e for e in events if e.get("RECURRENCE-ID") is None)
    tzid = str(master["DTSTART"].params.get("TZID", "UTC"))
    zone = ZoneInfo(tzid)
    organizer = master["ORGANIZER"]
    attendee = master["ATTENDEE"]
    source = data.decode("utf-8").replace("\r\n", "\n")
    begin, end = source.find("BEGIN:VTIMEZONE"), source.find("END:VTIMEZONE")
    vtimezone = source[begin : end + len("END:VTIMEZONE\n")] if begin >= 0 else ""
    invite = Invite(
        uid=str(master["UID"]),
        sequence=int(master.get("SEQUENCE", 0)),
        organizer=_address(organizer),
        organizer_name=str(organizer.params.get("CN", "")),
        attendee=_address(attendee),
        attendee_name=str(attendee.params.get("CN", "")),
        tzid=tzid,
        zone=zone,
        vtimezone=vtimezone.replace("\n", "\r\n"),
        rrule=_rrule(master),
        master=_occurrence(master, zone),
        overrides=tuple(_occurrence(e, zone) for e in events if e is not master),
    )
    return received, invite


# ------------------------------------------------------------------ writing


def text(value: str) -> str:
    """An RFC 5545 3.3.11 TEXT value."""
    out = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return out.replace("\r\n", "\\n").replace("\n", "\\n")


def _cn(value: str, *, quote: bool = False) -> str:
    return param(value) if quote or any(c in value for c in ',;:"') else value


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y%m%dT%H%M%S}"


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _vcalendar(head: list[str], vtimezone: str, events: list[list[str]]) -> bytes:
    out = [fold(line) for line in ["BEGIN:VCALENDAR", *head]]
    out.append(vtimezone.encode("utf-8"))
    for event in events:
        out.extend(fold(line) for line in ["BEGIN:VEVENT", *event, "END:VEVENT"])
    out.append(b"END:VCALENDAR\r\n")
    return b"".join(out)


def _comment(answer: Answer, prefix: str = "COMMENT") -> list[str]:
    return [f"{prefix}:{text(answer.comment)}"] if answer.comment else []


def outlook_ics(invite: Invite, answer: Answer, subject: str) -> bytes:
    """A REPLY as Outlook writes it (Windows zone names, X-MICROSOFT lines)."""
    windows = _WINDOWS_ZONES.get(invite.tzid)
    tzid = windows or invite.tzid
    vtimezone = _EU_VTIMEZONE.format(name=windows) if windows else invite.vtimezone
    events = []
    for ev in answer.events:
        lines = [
            f"ORGANIZER;CN={_cn(invite.organizer_name)}:mailto:{invite.organizer}",
            (
                f"ATTENDEE;PARTSTAT={answer.partstat};CN={_cn(answer.attendee_name)}"
                f":mailto:{answer.attendee}"
            ),
            *_comment(answer, "COMMENT;LANGUAGE=nl-BE"),
            f"SUMMARY;LANGUAGE=nl-BE:{text(subject)}",
        ]
        if ev.recurrence_id is None:
            byday = "" if "BYDAY" in invite.rrule else f";BYDAY={_DAYS[ev.start.weekday()]}"
            lines.append(f"RRULE:{invite.rrule}{byday};WKST=MO")
        else:
            # Outlook quotes the TZID on RECURRENCE-ID only (seen in Exchange 2016+ replies).
            lines.append(f'RECURRENCE-ID;TZID="{tzid}":{_local(ev.recurrence_id, invite.zone)}')
        lines += [
            f"DTSTART;TZID={tzid}:{_local(ev.start, invite.zone)}",
            f"DTEND;TZID={tzid}:{_local(ev.end, invite.zone)}",
            f"UID:{invite.uid}",
            "CLASS:PUBLIC",
            "PRIORITY:5",
            f"DTSTAMP:{_utc(answer.dtstamp)}",
            "TRANSP:OPAQUE",
            "STATUS:CONFIRMED",
            f"SEQUENCE:{invite.sequence}",
            f"LOCATION;LANGUAGE=nl-BE:{text(ev.location)}",
            f"X-MICROSOFT-CDO-APPT-SEQUENCE:{invite.sequence}",
            "X-MICROSOFT-CDO-OWNERAPPTID:-1467395082",
            "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
            "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY",
            "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE",
            "X-MICROSOFT-CDO-IMPORTANCE:1",
            f"X-MICROSOFT-CDO-INSTTYPE:{1 if ev.recurrence_id is None else 3}",
            "X-MICROSOFT-DONOTFORWARDMEETING:FALSE",
            "X-MICROSOFT-DISALLOW-COUNTER:FALSE",
            "X-MICROSOFT-ISRESPONSEREQUESTED:FALSE",
        ]
        events.append(lines)
    head = ["METHOD:REPLY", "PRODID:Microsoft Exchange Server 2010", "VERSION:2.0"]
    return _vcalendar(head, vtimezone, events)


def gmail_ics(invite: Invite, answer: Answer) -> bytes:
    """A REPLY as Gmail writes it (UTC times, one VEVENT per answer)."""
    events = []
    for ev in answer.events:
        if ev.recurrence_id is None:
            times = [
                f"DTSTART;TZID={invite.tzid}:{_local(ev.start, invite.zone)}",
                f"DTEND;TZID={invite.tzid}:{_local(ev.end, invite.zone)}",
                f"RRULE:{invite.rrule}",
            ]
        else:  # Google writes one instance in UTC, RECURRENCE-ID included
            times = [
                f"DTSTART:{_utc(ev.start)}",
                f"DTEND:{_utc(ev.end)}",
                f"RECURRENCE-ID:{_utc(ev.recurrence_id)}",
            ]
        note = f";X-RESPONSE-COMMENT={param(answer.comment)}" if answer.comment else ""
        events.append(
            [
                *times,
                f"DTSTAMP:{_utc(answer.dtstamp)}",
                f"ORGANIZER;CN={_cn(invite.organizer_name)}:mailto:{invite.organizer}",
                f"UID:{invite.uid}",
                (
                    f"ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={answer.partstat}"
                    f";CN={_cn(answer.attendee_name)}{note};X-NUM-GUESTS=0:mailto:{answer.attendee}"
                ),
                *_comment(answer),
                f"LAST-MODIFIED:{_utc(answer.dtstamp)}",
                f"LOCATION:{text(ev.location)}",
                f"SEQUENCE:{invite.sequence}",
                "STATUS:CONFIRMED",
                f"SUMMARY:{text(ev.summary)}",
                "TRANSP:OPAQUE",
            ]
        )
    head = [
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:REPLY",
    ]
    series = any(ev.recurrence_id is None for ev in answer.events)
    return _vcalendar(head, invite.vtimezone if series else "", events)


def apple_case(addr: str) -> str:
    """``bert.claes@example.com`` -> ``Bert.Claes@example.com``, as an address book writes it."""
    local, _, domain = addr.partition("@")
    return ".".join(w[:1].upper() + w[1:] for w in local.split(".")) + "@" + domain


def apple_ics(invite: Invite, answer: Answer) -> bytes:
    """A REPLY as Apple Calendar writes it (TZID with its VTIMEZONE)."""
    mail = apple_case(answer.attendee)
    events = []
    for ev in answer.events:
        rid = ev.recurrence_id
        events.append(
            [
                (
                    f"ATTENDEE;CN={_cn(answer.attendee_name, quote=True)};CUTYPE=INDIVIDUAL;"
                    f'EMAIL="{mail}";PARTSTAT={answer.partstat}:mailto:{mail}'
                ),
                *_comment(answer),
                f"DTEND;TZID={invite.tzid}:{_local(ev.end, invite.zone)}",
                f"DTSTAMP:{_utc(answer.dtstamp)}",
                f"DTSTART;TZID={invite.tzid}:{_local(ev.start, invite.zone)}",
                f"LAST-MODIFIED:{_utc(answer.dtstamp)}",
                f"ORGANIZER;CN={_cn(invite.organizer_name, quote=True)}:mailto:{invite.organizer}",
                *([f"RECURRENCE-ID;TZID={invite.tzid}:{_local(rid, invite.zone)}"] if rid else []),
                *([] if rid else [f"RRULE:{invite.rrule}"]),
                f"SEQUENCE:{invite.sequence}",
                f"SUMMARY:{text(ev.summary)}",
                "TRANSP:OPAQUE",
                f"UID:{invite.uid}",
                "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
            ]
        )
    head = [
        "METHOD:REPLY",
        "PRODID:-//Apple Inc.//macOS 14.2.1//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
    ]
    return _vcalendar(head, invite.vtimezone, events)


def thunderbird_ics(invite: Invite, answer: Answer) -> bytes:
    """A REPLY as Thunderbird writes it."""
    events = []
    for ev in answer.events:
        rid = ev.recurrence_id
        events.append(
            [
                f"CREATED:{_utc(answer.dtstamp)}",
                f"LAST-MODIFIED:{_utc(answer.dtstamp)}",
                f"DTSTAMP:{_utc(answer.dtstamp)}",
                f"UID:{invite.uid}",
                f"SUMMARY:{text(ev.summary)}",
                f"ORGANIZER;CN={_cn(invite.organizer_name, quote=True)}:mailto:{invite.organizer}",
                (
                    f"ATTENDEE;RSVP=TRUE;CN={_cn(answer.attendee_name)};PARTSTAT={answer.partstat}"
                    f";ROLE=REQ-PARTICIPANT:mailto:{answer.attendee}"
                ),
                *_comment(answer),
                *([f"RECURRENCE-ID;TZID={invite.tzid}:{_local(rid, invite.zone)}"] if rid else []),
                *([] if rid else [f"RRULE:{invite.rrule}"]),
                f"DTSTART;TZID={invite.tzid}:{_local(ev.start, invite.zone)}",
                f"DTEND;TZID={invite.tzid}:{_local(ev.end, invite.zone)}",
                f"LOCATION:{text(ev.location)}",
                f"SEQUENCE:{invite.sequence}",
                "TRANSP:OPAQUE",
                "X-MOZ-GENERATION:1",
            ]
        )
    head = [
        "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
        "VERSION:2.0",
        "METHOD:REPLY",
    ]
    return _vcalendar(head, invite.vtimezone, events)


WRITERS: dict[str, Callable[[Invite, Answer], bytes]] = {
    "gmail": gmail_ics,
    "apple": apple_ics,
    "thunderbird": thunderbird_ics,
}
