"""Time zones of an organiser's calendar, by name: IANA, Windows, or the shape of the VTIMEZONE.

A TZID is resolved by its name (``Europe/Brussels``, Outlook's ``Romance
Standard Time``). Outlook sometimes writes a name of its own (``Customized Time
Zone``); then the VTIMEZONE's offsets and the month and weekday of its two
yearly changes are compared with a few known zones, as text: no rule a client
wrote is ever expanded (RFC 5545 3.6.5 allows any RRULE there, even per second).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from leernet.calendar.itip import zone_for_tzid

# (standard offset, daylight offset, daylight starts, standard starts) -> zone
_SHAPES = {
    ("+0100", "+0200", "3/-1SU", "10/-1SU"): "Europe/Brussels",
    ("+0000", "+0100", "3/-1SU", "10/-1SU"): "Europe/London",
    ("+0200", "+0300", "3/-1SU", "10/-1SU"): "Europe/Helsinki",
    ("+0000", "", "", ""): "UTC",
}
_BLOCK = re.compile(
    r"^BEGIN:(STANDARD|DAYLIGHT)\r?$(.*?)^END:\1", re.IGNORECASE | re.MULTILINE | re.DOTALL
)


class LocalTime:
    """Wall-clock times of one zone: what iCalendar values mean, and their UTC instants."""

    def __init__(self, zone_name: str) -> None:
        self.zone = ZoneInfo(zone_name)

    def wall(self, prop: Any) -> datetime:
        """A DATE-TIME property as naive wall-clock time in this zone (a DATE as midnight)."""
        value = prop.dt if hasattr(prop, "dt") else prop
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value
            if prop_tzid(prop):  # written in a zone: its wall-clock digits are the time
                zone = zone_for_tzid(prop_tzid(prop))
                aware = value.replace(tzinfo=zone) if zone is not None else value
                return aware.astimezone(self.zone).replace(tzinfo=None)
            return value.astimezone(self.zone).replace(tzinfo=None)
        if isinstance(value, date):
            return datetime.combine(value, time())
        raise TypeError(f"not a date or date-time: {value!r}")

    def utc(self, wall: datetime) -> datetime:
        """The UTC moment of a wall-clock time in this zone."""
        return wall.replace(tzinfo=self.zone).astimezone(UTC)

    def key(self, prop: Any) -> datetime | date:
        """A DATE value stays a date (it names a day); a DATE-TIME becomes wall-clock time."""
        value = getattr(prop, "dt", prop)
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        return self.wall(prop)


def prop_tzid(prop: Any) -> str:
    """The TZID parameter of a calendar property."""
    params = getattr(prop, "params", None)
    return str(params.get("TZID", "")).strip() if params else ""


def _zone_name(tzid: str, value: datetime) -> str | None:
    if tzid:
        zone = zone_for_tzid(tzid)
        return str(zone.key) if zone is not None else None
    if value.tzinfo is not None:  # a UTC DTSTART ("Z"): read the sessions in UTC
        return "UTC"
    return "Europe/Brussels"  # floating: the service's home zone (RFC 5545 3.3.5 form 1)


def zone_name(tzid: str, value: datetime, vtimezones: dict[str, str]) -> str | None:
    """The IANA zone a DTSTART is read in; None when its TZID names none we know."""
    if tzid:
        zone = zone_for_tzid(tzid)
        if zone is not None:
            return str(zone.key)
        return zone_from_shape(vtimezones.get(tzid, ""))
    if value.tzinfo is not None:  # a UTC DTSTART ("Z"): read the sessions in UTC
        return "UTC"
    return "Europe/Brussels"  # floating: the service's home zone (RFC 5545 3.3.5 form 1)


def zone_from_shape(vtimezone: str) -> str | None:
    """A known zone whose offsets and yearly changes the VTIMEZONE text describes, or None."""
    observances: dict[str, tuple[str, str]] = {}
    for kind, body in _BLOCK.findall(vtimezone[:20_000]):
        offset = re.search(r"^TZOFFSETTO:([+-]\d{4})", body, re.MULTILINE)
        rule = re.search(r"^RRULE:(.*)$", body, re.MULTILINE)
        change = ""
        if rule:
            parts = dict(p.split("=", 1) for p in rule[1].strip().split(";") if "=" in p)
            if parts.get("FREQ", "").upper() != "YEARLY":
                return None
            byday = parts.get("BYDAY", "").upper().replace("5SU", "-1SU")  # Outlook: 5th = last
            change = f"{parts.get('BYMONTH', '')}/{byday}"
        if offset is None or kind.upper() in observances:
            return None
        observances[kind.upper()] = (offset[1], change)
    standard = observances.get("STANDARD")
    if standard is None:
        return None
    daylight = observances.get("DAYLIGHT", ("", ""))
    return _SHAPES.get((standard[0], daylight[0], daylight[1], standard[1] if daylight[0] else ""))
