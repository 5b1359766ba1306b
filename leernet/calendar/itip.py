"""Read an iTIP REPLY (RFC 5546) and map its RECURRENCE-ID to a session.

:func:`read_reply` never raises: whatever the bytes, it returns an
:class:`ItipReply` whose ``problem`` says why it cannot be used, so the inbox
can put the mail aside with a reason. It refuses oversized calendars before
parsing them (a REPLY has one VEVENT, or a handful when a client answers each
override of a series too).

The common client shapes are read by hand (:mod:`leernet.calendar.fastical`,
a tenth of the time); whatever that reader is not sure of is read by icalendar,
with the same result.

RECURRENCE-ID comes in four shapes from real clients:

* UTC (``20270211T083000Z``, Google Calendar for a single instance);
* with a TZID: an IANA name, or a Windows name from Outlook
  (``TZID="Romance Standard Time"``) with Outlook's own VTIMEZONE in the file;
* floating (no TZID, no ``Z``): left naive, :func:`match_session` reads it in
  the network's zone;
* ``VALUE=DATE``: an all-day id, matched by the local date of the slot.
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from icalendar.enums import PARTSTAT
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from leernet.calendar import fastical, tzguard

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

MAX_CALENDAR_BYTES = 512 * 1024  # a REPLY is a few KB; Outlook's with VTIMEZONE ~3 KB
MAX_COMPONENTS = 64  # master + one per override is the most a real client sends
_VEVENT_RE = re.compile(rb"^begin:vevent", re.IGNORECASE | re.MULTILINE)
_ANY_COMPONENT_RE = re.compile(rb"^begin:", re.IGNORECASE | re.MULTILINE)

# Windows zone names clients write without a usable VTIMEZONE; icalendar's CLDR
# table covers the rest. Romance = Brussels/Paris, W. Europe = Amsterdam/Berlin.
_WINDOWS_ZONES = {
    "Romance Standard Time": "Europe/Brussels",
    "W. Europe Standard Time": "Europe/Amsterdam",
    "GMT Standard Time": "Europe/London",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "UTC": "UTC",
}


@dataclass(frozen=True, slots=True)
class Attendee:
    """One ATTENDEE of a REPLY: bare address in lower case, its PARTSTAT and CN."""

    email: str
    partstat: str
    cn: str = ""
    comment: str = ""  # Google Calendar's X-RESPONSE-COMMENT parameter
    delegated_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItipReply:
    """What a REPLY says; ``problem`` is set when it cannot be used, with the reason.

    The fields describe the main VEVENT (the series master when present);
    ``others`` holds the remaining VEVENTs of the same object (clients such as
    Apple Calendar answer every override of a series in one REPLY).
    """

    method: str
    uid: str
    sequence: int
    dtstamp: datetime | None
    organizer: str | None
    attendees: tuple[Attendee, ...]
    recurrence_id: datetime | date | None  # aware UTC, naive (floating) or a date
    recurrence_tzid: str | None
    comment: str
    problem: str | None = None
    others: tuple[ItipReply, ...] = ()

    @property
    def components(self) -> tuple[ItipReply, ...]:
        """This VEVENT and the others, each to be applied on its own."""
        return (self, *self.others)


def _failed(problem: str, method: str = "") -> ItipReply:
    return ItipReply(method, "", 0, None, None, (), None, None, "", problem)


def read_reply(ical_bytes: bytes) -> ItipReply:
    """Parse a calendar object; a result with ``problem`` set instead of any exception."""
    if len(ical_bytes) > MAX_CALENDAR_BYTES:
        return _failed(f"calendar of {len(ical_bytes)} bytes is larger than a REPLY can be")
    # Count before parsing: icalendar builds every component, 10,000 VEVENTs take seconds.
    if len(_ANY_COMPONENT_RE.findall(ical_bytes)) > MAX_COMPONENTS * 4:
        return _failed("calendar has too many components for a REPLY")
    if len(_VEVENT_RE.findall(ical_bytes)) > MAX_COMPONENTS:
        return _failed("calendar has too many VEVENTs for a REPLY")
    # Neither reader may be handed a VTIMEZONE whose expansion is unbounded (FREQ=MINUTELY
    # from 1601): such a zone is dropped for the known zone of its TZID, or the part is refused.
    try:
        ical_bytes, problem = tzguard.guard(ical_bytes, _known_tzid)
    except Exception as exc:  # a bug in the guard: the part is unreadable, never expanded
        problem = f"calendar cannot be checked: {type(exc).__name__}"
    if problem is not None:
        return _failed(problem)
    with _own_zones():
        # The hand-written reader takes the common client shapes in a tenth of the time;
        # whatever it is not sure of, icalendar reads as before.
        fast = fastical.read_fast(ical_bytes)
        if fast is not None:
            return fast
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return _read(ical_bytes)
        except Exception as exc:  # icalendar raises ValueError, KeyError, TypeError, ... on junk
            return _failed(f"calendar cannot be parsed: {type(exc).__name__}: {exc}"[:300])


@contextmanager
def _own_zones() -> Iterator[None]:
    """Each calendar is read with only its own VTIMEZONEs, and leaves none behind.

    icalendar keeps the zone of every VTIMEZONE it parses in one process-wide cache by
    TZID, first come first kept: one participant's REPLY with its own "W. Europe Standard
    Time" at +05:00 would put another participant's RECURRENCE-ID in that zone later.
    """
    cache = getattr(tzp, "_TZP__tz_cache", None)  # icalendar 7: TZP.__tz_cache
    if not isinstance(cache, dict):
        yield
        return
    saved = dict(cache)
    cache.clear()
    try:
        yield
    finally:
        cache.clear()
        cache.update(saved)


def _read(ical_bytes: bytes) -> ItipReply:
    cal = icalendar.Calendar.from_ical(ical_bytes)
    if not isinstance(cal, icalendar.Calendar):
        return _failed("not a VCALENDAR")
    method = str(cal.get("METHOD", "")).strip().upper()
    events = [c for c in cal.subcomponents if c.name == "VEVENT"]
    events.sort(key=lambda e: e.get("RECURRENCE-ID") is not None)  # the master first
    return combine(method, [_event(method, e) for e in events])


def combine(method: str, events: Sequence[ItipReply]) -> ItipReply:
    """One REPLY from its VEVENTs read one by one, in the order of the calendar."""
    if not events:
        return _failed("calendar has no VEVENT", method)
    # RFC 5546 3.2.3: the master (no RECURRENCE-ID) answers the series; put it first.
    main, *rest = sorted(events, key=lambda e: e.recurrence_id is not None)
    problem = main.problem
    if problem is None and len({main.uid, *(r.uid for r in rest)}) > 1:
        problem = "VEVENTs of one REPLY carry different UIDs"
    if problem is None and method != "REPLY":
        problem = f"METHOD is {method or 'missing'}, not REPLY"
    return ItipReply(
        main.method,
        main.uid,
        main.sequence,
        main.dtstamp,
        main.organizer,
        main.attendees,
        main.recurrence_id,
        main.recurrence_tzid,
        main.comment,
        problem,
        tuple(rest),
    )


def _event(method: str, event: icalendar.cal.Component) -> ItipReply:
    uid = str(event.get("UID", "")).strip()
    try:
        sequence = int(str(event.get("SEQUENCE", "0")).strip() or "0")
    except ValueError:
        sequence = 0
    dtstamp = _aware(event.get("DTSTAMP"))
    organizer = event.get("ORGANIZER")
    raw_attendees = event.get("ATTENDEE", [])
    if not isinstance(raw_attendees, list):
        raw_attendees = [raw_attendees]
    attendees = tuple(_attendee(a) for a in raw_attendees)
    recurrence_id, tzid = _recurrence(event.get("RECURRENCE-ID"))
    comments = event.get("COMMENT", [])
    if not isinstance(comments, list):
        comments = [comments]
    comment = "\n".join(str(c).strip() for c in comments if str(c).strip())
    if not comment and len(attendees) == 1:
        comment = attendees[0].comment
    problem = None if uid else "VEVENT has no UID"
    return ItipReply(
        method,
        uid,
        sequence,
        dtstamp,
        address(organizer) if organizer is not None else None,
        attendees,
        recurrence_id,
        tzid,
        comment,
        problem,
    )


def address(value: object) -> str:
    """``MAILTO:Bert.Claes@Example.com`` -> ``bert.claes@example.com``."""
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def _attendee(value: object) -> Attendee:
    params = getattr(value, "params", {})
    delegated = params.get("DELEGATED-TO", ())
    if isinstance(delegated, str):
        delegated = [delegated]
    return Attendee(
        address(value),
        partstat(params.get("PARTSTAT", PARTSTAT.NEEDS_ACTION)),
        str(params.get("CN", "")).strip(),
        str(params.get("X-RESPONSE-COMMENT", "")).strip(),
        tuple(address(d) for d in delegated),
    )


def partstat(value: object) -> str:
    """RFC 5545 3.2.12: an unknown PARTSTAT is NEEDS-ACTION; x-names are kept as they are."""
    raw = str(value).strip().upper()
    return raw if raw in _PARTSTATS or raw.startswith("X-") else str(PARTSTAT.NEEDS_ACTION)


_PARTSTATS = frozenset(PARTSTAT)


def _aware(prop: object) -> datetime | None:
    value = getattr(prop, "dt", None)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


def _recurrence(prop: object) -> tuple[datetime | date | None, str | None]:
    if prop is None:
        return None, None
    value = getattr(prop, "dt", None)
    params = getattr(prop, "params", {})
    tzid = params.get("TZID")
    tzid = str(tzid) if tzid else None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC), tzid
        if tzid:
            # icalendar leaves a TZID it does not know (no VTIMEZONE, not IANA) naive.
            zone = zone_for_tzid(tzid)
            if zone is not None:
                return value.replace(tzinfo=zone).astimezone(UTC), tzid
        return value, tzid  # floating: the network's zone applies (RFC 5545 3.3.5 form 1)
    if isinstance(value, date):
        return value, tzid
    raise ValueError("RECURRENCE-ID is neither a DATE nor a DATE-TIME")


def zone_for_tzid(tzid: str) -> ZoneInfo | None:
    """An IANA zone for a TZID: IANA names as they are, Windows names via a table."""
    name = tzid.strip().strip('"')
    for candidate in (name, _WINDOWS_ZONES.get(name), WINDOWS_TO_OLSON.get(name)):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None


def _known_tzid(tzid: str) -> bool:
    return zone_for_tzid(tzid) is not None


def match_session(
    reply: ItipReply, slots: Sequence[tuple[int, datetime]], zone: ZoneInfo
) -> int | None:
    """The number of the session whose slot (aware UTC) the RECURRENCE-ID names, or None.

    None also for a reply without RECURRENCE-ID: that one answers the series.
    """
    rid = reply.recurrence_id
    if rid is None:
        return None
    if isinstance(rid, datetime):
        when = rid if rid.tzinfo is not None else rid.replace(tzinfo=zone)
        for number, slot in slots:
            if slot == when:
                return number
        return None
    for number, slot in slots:
        if slot.astimezone(zone).date() == rid:
            return number
    return None
