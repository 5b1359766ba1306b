"""An organiser's meeting series (iTIP REQUEST, RFC 5546) -> its sessions in local time.

The series is read from the organiser's own calendar client: a master VEVENT
with an RRULE, EXDATEs for cancelled occurrences and overriding VEVENTs (same
UID, a RECURRENCE-ID) for moved ones. Nothing here raises; whatever cannot be
used is a :class:`~leernet.organiser.intake.findings.Finding`.

Work is bounded before and during parsing: the calendar's size and number of
components are counted first; VTIMEZONE components are removed before
icalendar parses (a TZID is resolved by name, IANA or Windows, or by the
shape of its VTIMEZONE read as text: :mod:`zones`), so no client-supplied
rule is ever expanded; the RRULE is expanded bounded (:mod:`recurrence`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import icalendar

from leernet.calendar.itip import address
from leernet.network.model import Person
from leernet.organiser.intake import meeting_text
from leernet.organiser.intake.findings import Finding, Say, error, warning
from leernet.organiser.intake.recurrence import MAX_OCCURRENCES, expand
from leernet.organiser.intake.zones import LocalTime, zone_name

__all__ = [
    "MAX_OCCURRENCES",
    "LocalTime",
    "MeetingSeries",
    "Occurrence",
    "Parsed",
    "SeriesRead",
    "apply_override",
    "parse",
    "read_series",
]

MAX_CALENDAR_BYTES = 256 * 1024  # Outlook's REQUEST of a series with its VTIMEZONE: ~6 KB
MAX_COMPONENTS = 200

_VTIMEZONE = re.compile(
    rb"^BEGIN:VTIMEZONE\r?$.*?^END:VTIMEZONE\r?\n?", re.IGNORECASE | re.MULTILINE | re.DOTALL
)
_BEGIN = re.compile(rb"^BEGIN\b", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(rb"\r?\n[ \t]")
_ANY_VTIMEZONE = re.compile(rb"VTIMEZONE", re.IGNORECASE)
_LINK_PROPERTIES = ("X-MICROSOFT-SKYPETEAMSMEETINGURL", "CONFERENCE", "X-GOOGLE-CONFERENCE")


_SHORTEST, _LONGEST = 15, 24 * 60  # minutes: a session is a meeting, not a reminder or a trip


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of the organiser's rule; ``index`` (1-based) is the session number."""

    index: int
    recurrence_id: datetime  # aware UTC: where the rule puts it (RFC 5545 RECURRENCE-ID)
    start: datetime  # aware UTC: where it takes place (moved by an override)
    minutes: int
    cancelled: bool = False
    location: str = ""  # an override's own place, when it has one

    @property
    def moved(self) -> bool:
        """Whether this occurrence moved from its slot."""
        return self.start != self.recurrence_id


@dataclass(frozen=True, slots=True)
class MeetingSeries:
    """A meeting series as the organiser's calendar sent it."""

    uid: str
    sequence: int
    timezone: str  # IANA name the sessions are read in
    tzid: str  # as the client wrote it ("Romance Standard Time")
    first: datetime  # aware UTC: DTSTART of the master
    minutes: int
    every_weeks: int | None  # set when the rule is leernet's own kind: weekly, one weekday
    occurrences: tuple[Occurrence, ...]
    summary: str
    location: str
    online_url: str
    goal: str
    organizer: Person | None
    language: str  # "nl", "en", "fr" from a LANGUAGE parameter, or ""


@dataclass(frozen=True, slots=True)
class SeriesRead:
    """A series read, or why it could not be."""

    method: str
    series: MeetingSeries | None
    findings: tuple[Finding, ...] = ()


def read_series(ical: bytes) -> SeriesRead:
    """Read a REQUEST (or PUBLISH, or an .ics without METHOD) holding one series; never raises."""
    parsed = parse(ical)
    if isinstance(parsed, Finding):
        return SeriesRead("", None, (parsed,))
    method, events = parsed.method, parsed.events
    masters = [e for e in events if e.get("RECURRENCE-ID") is None]
    if not masters:
        return SeriesRead(method, None, (error(Say.SERIES_NOT_RECURRING),))
    master = masters[0]
    uid = str(master.get("UID", "")).strip()
    overrides = [e for e in events if e.get("RECURRENCE-ID") is not None and _uid(e) == uid]
    try:
        return _series(method, master, overrides, parsed.vtimezones)
    except Exception as exc:  # icalendar hands back odd types for odd input; a finding, not a crash
        detail = f"{type(exc).__name__}: {exc}"[:200]
        return SeriesRead(method, None, (error(Say.CALENDAR_UNREADABLE, detail=detail),))


@dataclass(frozen=True, slots=True)
class Parsed:
    """The parts of a calendar file the reader needs."""

    method: str
    events: list[Any]
    vtimezones: dict[str, str]  # TZID -> the VTIMEZONE's text, never given to a parser


def parse(ical: bytes) -> Parsed | Finding:
    """METHOD and the VEVENTs of a calendar, VTIMEZONEs removed unread; a finding if unusable."""
    if len(ical) > MAX_CALENDAR_BYTES:
        return error(Say.CALENDAR_TOO_BIG)
    # RFC 5545 3.1: unfold first, so a folded "BEGIN:VTIME\r\n ZONE" is seen for what it is.
    unfolded = _FOLD.sub(b"", ical)
    if len(_BEGIN.findall(unfolded)) > MAX_COMPONENTS:
        return error(Say.CALENDAR_TOO_BIG)
    # RFC 5545 3.6.5 lets a VTIMEZONE carry any RRULE; icalendar would expand it. We resolve
    # TZIDs by name instead (IANA, or Outlook's Windows names), so the component is not needed.
    vtimezones: dict[str, str] = {}
    for block in _VTIMEZONE.findall(unfolded):
        text = block.decode("utf-8", errors="replace")
        found = re.search(r"^TZID:(.*?)\r?$", text, re.MULTILINE)
        if found:
            vtimezones[found[1].strip()] = text
    stripped = _VTIMEZONE.sub(b"", unfolded)
    if _ANY_VTIMEZONE.search(stripped):  # a shape we did not remove ("BEGIN;X=1:VTIMEZONE")
        return error(Say.CALENDAR_UNREADABLE, detail="VTIMEZONE")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = icalendar.Calendar.from_ical(stripped)
            events = list(cal.walk("VEVENT"))
    except Exception as exc:  # icalendar raises ValueError, KeyError, ... on junk
        return error(Say.CALENDAR_UNREADABLE, detail=f"{type(exc).__name__}"[:100])
    if not events:
        return error(Say.CALENDAR_UNREADABLE, detail="no VEVENT")
    return Parsed(str(cal.get("METHOD", "")).strip().upper(), events, vtimezones)


def _uid(event: Any) -> str:
    return str(event.get("UID", "")).strip()


def _series(
    method: str, master: Any, overrides: list[Any], vtimezones: dict[str, str]
) -> SeriesRead:
    findings: list[Finding] = []
    start_prop = master.get("DTSTART")
    if start_prop is None:
        return SeriesRead(method, None, (error(Say.CALENDAR_UNREADABLE, detail="no DTSTART"),))
    if not isinstance(start_prop.dt, datetime):
        return SeriesRead(method, None, (error(Say.SERIES_ALL_DAY),))
    tzid = str(start_prop.params.get("TZID", "")).strip()
    zone = zone_name(tzid, start_prop.dt, vtimezones)
    if zone is None:
        return SeriesRead(method, None, (error(Say.SERIES_TIMEZONE, value=tzid[:60]),))
    local = LocalTime(zone)
    first = local.wall(start_prop)
    minutes = _minutes(master, local)
    if minutes is None or not _SHORTEST <= minutes <= _LONGEST:
        return SeriesRead(method, None, (error(Say.SERIES_DURATION),))
    rule = master.get("RRULE")
    if rule is None:
        return SeriesRead(method, None, (error(Say.SERIES_NOT_RECURRING),))
    expanded = expand(rule, first, local)
    if isinstance(expanded, Finding):
        return SeriesRead(method, None, (expanded,))
    starts, every_weeks = expanded
    # RFC 5545 3.8.5.2: RDATEs add occurrences (Evolution, hand-made files; Outlook ignores them).
    rdates = [v for v in _dates(master, "RDATE") if isinstance(v.dt, datetime)]
    extra = sorted({local.wall(v) for v in rdates} - set(starts))
    if extra:
        starts, every_weeks = sorted([*starts, *extra]), None
        if len(starts) > MAX_OCCURRENCES:
            return SeriesRead(method, None, (error(Say.SERIES_TOO_LONG, limit=MAX_OCCURRENCES),))
    excluded = {local.key(v) for v in _dates(master, "EXDATE")}
    occurrences = [
        Occurrence(i + 1, local.utc(s), local.utc(s), minutes, bool({s, s.date()} & excluded))
        for i, s in enumerate(starts)
    ]
    for event in overrides:
        rid = event["RECURRENCE-ID"]
        if str(rid.params.get("RANGE", "")).upper() == "THISANDFUTURE":
            return SeriesRead(method, None, (error(Say.SERIES_RULE, detail="RANGE=THISANDFUTURE"),))
        wanted = local.key(rid)
        at = next((i for i, s in enumerate(starts) if wanted in (s, s.date())), None)
        if at is None:
            findings.append(warning(Say.SERIES_OVERRIDE_UNKNOWN, value=_say(local.wall(rid))))
            continue
        occurrences[at] = apply_override(
            occurrences[at], event, local, str(master.get("LOCATION", ""))
        )
    summary = _line(master.get("SUMMARY"))
    location = str(master.get("LOCATION", ""))
    description = str(master.get("DESCRIPTION", ""))
    links = [str(master[p]) for p in _LINK_PROPERTIES if master.get(p) is not None]
    organizer = master.get("ORGANIZER")
    series = MeetingSeries(
        uid=_uid(master),
        sequence=_int(master.get("SEQUENCE")),
        timezone=zone,
        tzid=tzid,
        first=local.utc(first),
        minutes=minutes,
        every_weeks=every_weeks,
        occurrences=tuple(occurrences),
        summary=summary,
        location=meeting_text.place(location),
        online_url=meeting_text.online_url(links, location, description),
        goal=meeting_text.goal(description),
        organizer=(
            Person(_line(organizer.params.get("CN", "")), address(organizer))
            if organizer is not None
            else None
        ),
        language=_language(master),
    )
    return SeriesRead(method, series, tuple(findings))


def _minutes(event: Any, local: LocalTime) -> int | None:
    start = local.utc(local.wall(event["DTSTART"]))
    if event.get("DTEND") is not None:
        end = local.utc(local.wall(event["DTEND"]))
        return int((end - start).total_seconds() // 60)
    if event.get("DURATION") is not None:
        return int(event["DURATION"].dt.total_seconds() // 60)
    return None


def _dates(event: Any, name: str) -> list[Any]:
    found = event.get(name)
    if found is None:
        return []
    props = found if isinstance(found, list) else [found]
    return [value for prop in props for value in prop.dts]


def apply_override(occurrence: Occurrence, event: Any, local: LocalTime, home: str) -> Occurrence:
    """The occurrence as an overriding VEVENT (same UID, its RECURRENCE-ID) now has it."""
    cancelled = str(event.get("STATUS", "")).strip().upper() == "CANCELLED"
    start = occurrence.start
    minutes = occurrence.minutes
    if event.get("DTSTART") is not None and isinstance(event["DTSTART"].dt, datetime):
        start = local.utc(local.wall(event["DTSTART"]))
        minutes = _minutes(event, local) or minutes
    place = meeting_text.place(str(event.get("LOCATION", "")))
    if place == meeting_text.place(home):
        place = ""  # the series' own place: not a change
    return replace(occurrence, start=start, minutes=minutes, cancelled=cancelled, location=place)


def _line(value: object) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()[:200]


def _int(value: object) -> int:
    try:
        return int(str(value or "0").strip() or "0")
    except ValueError:
        return 0


def _language(event: Any) -> str:
    for name in ("SUMMARY", "DESCRIPTION", "LOCATION"):
        prop = event.get(name)
        tag = (
            str(getattr(prop, "params", {}).get("LANGUAGE", "")).lower() if prop is not None else ""
        )
        if tag[:2] in {"nl", "en", "fr"}:
            return tag[:2]
    return ""


def _say(moment: datetime) -> str:
    return moment.strftime("%d/%m/%Y %H:%M")
