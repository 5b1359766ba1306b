"""The bytes of a series REQUEST or CANCEL that every participant's copy shares.

Built with icalendar once per network and SEQUENCE (cached), and split where
each VEVENT takes its per-recipient DTSTAMP, ORGANIZER and ATTENDEE lines
(:class:`leernet.calendar.invite.InviteTemplate` puts them in).

The series is one master VEVENT with a weekly RRULE bounded by COUNT and one
override (RECURRENCE-ID) per session carrying that session's own time, title,
description and place. Irregular dates are overrides of their slot too:
Outlook ignores RDATE. Occurrences without a session are EXDATEs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import icalendar

from leernet.calendar.vtimezone import vtimezone

if TYPE_CHECKING:
    from leernet.network.model import Network, Series, Session

PRODID = "-//leernet//leernet 0.1//NL"
_MARKER = "X-LEERNET-RECIPIENT"  # where DTSTAMP, ORGANIZER and ATTENDEE go in each VEVENT
MARKER_LINE = b"X-LEERNET-RECIPIENT:1\r\n"
_LABELS = {
    "nl": {"work_form": "Werkvorm", "speaker": "Spreker"},
    "en": {"work_form": "Work form", "speaker": "Speaker"},
}


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """What an invite reads of a network; unlike ``Network`` it hashes without the participants."""

    uid: str
    name: str
    goal: str
    language: str
    timezone: str
    sessions: tuple[Session, ...]
    series: Series
    location: str
    online_url: str

    @classmethod
    def of(cls, network: Network, uid: str) -> SeriesKey:
        """The cache key of a network's shared invite bytes."""
        return cls(
            uid=uid,
            name=network.name,
            goal=network.goal,
            language=network.language,
            timezone=network.timezone,
            sessions=network.sessions,
            series=network.series,
            location=network.location,
            online_url=network.online_url,
        )

    @property
    def zone(self) -> ZoneInfo:
        """The network's time zone."""
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=64)
def request_parts(
    key: SeriesKey, sequence: int, descriptions: tuple[tuple[int, str], ...]
) -> tuple[bytes, ...]:
    """The shared bytes of the series REQUEST: VTIMEZONE, master VEVENT, one override a session."""
    given = dict(descriptions)
    occurrences = _occurrences(key)
    filled = {s.slot for s in key.sessions if not s.cancelled}
    cal = _calendar(key, "REQUEST")
    master = _event(key, sequence)
    _series_properties(master, key, occurrences)
    # Occurrences no session fills (a cancelled session, a gap) are excluded, so the
    # series shows exactly the sessions that take place.
    missing = [local for local in occurrences if local.astimezone(UTC) not in filled]
    if missing:
        master.add("EXDATE", missing)
    master.add("SUMMARY", key.name)
    master.add("DESCRIPTION", key.goal)
    _place(master, key.location or key.online_url, key.online_url)
    master.add("STATUS", "CONFIRMED")
    master.add("TRANSP", "OPAQUE")
    master.add_component(_alarm(key.name))
    cal.add_component(master)
    # RFC 5545 3.8.4.4: each override carries the UID, and its RECURRENCE-ID names the
    # occurrence (the slot) it replaces, in the same TZID as the master's DTSTART.
    for session in sorted(key.sessions, key=lambda s: s.slot):
        if session.cancelled:
            continue
        event = _instance(key, sequence, session)
        event.add("DESCRIPTION", given.get(session.number) or _session_description(key, session))
        online = session.online_url or key.online_url
        _place(event, session.location or key.location or online, online)
        event.add("STATUS", "CONFIRMED")
        event.add("TRANSP", "OPAQUE")
        event.add_component(_alarm(str(event["SUMMARY"])))
        cal.add_component(event)
    return _split(cal)


@lru_cache(maxsize=64)
def cancel_parts(key: SeriesKey, sequence: int, session: Session | None) -> tuple[bytes, ...]:
    """The shared bytes of a CANCEL of ``session``, or of the whole series when it is None."""
    cal = _calendar(key, "CANCEL")
    if session is None:
        # RFC 5546 3.2.5: without RECURRENCE-ID the CANCEL removes every instance of the
        # UID; the RRULE is repeated so clients show which series goes.
        event = _event(key, sequence)
        _series_properties(event, key, _occurrences(key))
        event.add("SUMMARY", key.name)
    else:
        # RFC 5546 3.2.5: one instance is cancelled by its RECURRENCE-ID (the slot, not the
        # session's possibly moved start).
        event = _instance(key, sequence, session)
    event.add("STATUS", "CANCELLED")
    cal.add_component(event)
    return _split(cal)


def _calendar(key: SeriesKey, method: str) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", method)
    # One VTIMEZONE for the TZID every DTSTART, EXDATE and RECURRENCE-ID uses (RFC 5545
    # 3.6.5); its rules are those in force when the series starts.
    cal.add_component(vtimezone(key.timezone, key.series.first))
    return cal


def _event(key: SeriesKey, sequence: int) -> icalendar.Event:
    event = icalendar.Event()
    event.add("UID", key.uid)
    event.add("SEQUENCE", sequence)
    event.add(_MARKER, "1")  # DTSTAMP, ORGANIZER, ATTENDEE: per copy (InviteTemplate.render)
    return event


def _instance(key: SeriesKey, sequence: int, session: Session) -> icalendar.Event:
    event = _event(key, sequence)
    event.add("RECURRENCE-ID", session.slot.astimezone(key.zone))
    event.add("DTSTART", session.start.astimezone(key.zone))
    event.add("DTEND", session.end.astimezone(key.zone))
    title = f"{key.name} – {session.title}" if session.title else key.name
    event.add("SUMMARY", title)
    return event


def _series_properties(event: icalendar.Event, key: SeriesKey, occurrences: list[datetime]) -> None:
    series = key.series
    first = occurrences[0]
    event.add("DTSTART", first)
    event.add("DTEND", first + timedelta(minutes=series.minutes))
    rule = {"FREQ": "WEEKLY", "INTERVAL": series.every_weeks, "COUNT": len(occurrences)}
    event.add("RRULE", rule)


def _occurrences(key: SeriesKey) -> list[datetime]:
    """The local start of every occurrence of the series rule, as a client expands it.

    COUNT grows past ``series.count`` when a session fills a later slot, so no
    override names an occurrence the rule does not have (clients drop those).
    """
    series, zone = key.series, key.zone
    wall = series.first.astimezone(zone).replace(tzinfo=None)
    slots = {s.slot for s in key.sessions}
    result: list[datetime] = []
    index = 0
    while index < series.count or slots:
        local = (wall + timedelta(weeks=series.every_weeks * index)).replace(tzinfo=zone)
        slots.discard(local.astimezone(UTC))
        result.append(local)
        index += 1
        if index > series.count + 2 * len(key.sessions) + 1 and slots:
            missing = ", ".join(sorted(str(s) for s in slots))
            raise ValueError(f"session slots that are not occurrences of the series: {missing}")
    return result


def _place(event: icalendar.Event, location: str, url: str) -> None:
    if location:
        event.add("LOCATION", location)
    if url:
        event.add("URL", url)


def _session_description(key: SeriesKey, session: Session) -> str:
    labels = _LABELS.get(key.language, _LABELS["nl"])
    lines = [session.title] if session.title else []
    if session.work_form:
        lines.append(f"{labels['work_form']}: {session.work_form}")
    if session.speaker:
        lines.append(f"{labels['speaker']}: {session.speaker}")
    if key.goal:
        lines += ["", key.goal] if lines else [key.goal]
    return "\n".join(lines)


def _alarm(summary: str) -> icalendar.Alarm:
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("TRIGGER", timedelta(hours=-1))
    alarm.add("DESCRIPTION", summary)  # RFC 5545 3.6.6: a DISPLAY alarm needs DESCRIPTION
    return alarm


def _split(cal: icalendar.Calendar) -> tuple[bytes, ...]:
    return tuple(cal.to_ical().split(MARKER_LINE))
