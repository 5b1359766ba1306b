"""A VTIMEZONE for a zoneinfo zone, written the way Outlook and Google write it.

One STANDARD and one DAYLIGHT observance, each with a yearly RRULE
(``FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU``), derived from the zone's transitions
in the year of the invite. icalendar's ``add_missing_timezones()`` writes long
RDATE lists instead, which ical.js (Thunderbird, many web calendars) reads an
hour off in summer and Outlook is known to mishandle (MAIL-NOTES gotcha 11).

A zone without daylight saving gets one STANDARD without RRULE. A zone whose
changes follow no weekday rule (a few zones tie them to religious calendars)
gets one observance per transition for the years around the invite, each with
its own DTSTART: still no RDATE.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

# Google writes observances from 1970 (RFC 5545 3.6.5 only asks that DTSTART is the
# first onset the RRULE describes); the rule itself comes from the invite's year.
_RULE_YEAR = 1970
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_YEARS_CHECKED = 4  # a weekday rule must also predict the next years' transitions


_CHANGES_A_YEAR = 2  # summer time on and off: what a weekday rule can describe
_FOURTH_WEEK_ENDS = 28  # a "last" weekday on or before the 28th is also the fourth


@dataclass(frozen=True, slots=True)
class _Transition:
    at: datetime  # the first UTC instant with the new offset
    offset_from: timedelta
    offset_to: timedelta
    name: str  # TZNAME after the change

    def local_onset(self) -> datetime:
        """The wall-clock time of the change, read in the offset before it (RFC 5545 3.6.5)."""
        return (self.at + self.offset_from).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class _Rule:
    month: int
    week: int  # 1..4, or -1 for the last such weekday of the month
    weekday: int  # 0 = Monday

    def day_in(self, year: int) -> int:
        first_weekday, days = calendar.monthrange(year, self.month)
        first = 1 + (self.weekday - first_weekday) % 7
        if self.week > 0:
            return first + 7 * (self.week - 1)
        return first + 7 * ((days - first) // 7)

    def byday(self) -> str:
        return f"{self.week}{_WEEKDAYS[self.weekday]}"


def vtimezone(tzid: str, around: datetime) -> icalendar.Timezone:
    """The VTIMEZONE of ``tzid`` with the rules in force in the year of ``around``.

    Returns a fresh copy each call (callers may add to it); building is cached
    per (zone, year).
    """
    parsed = icalendar.Timezone.from_ical(_vtimezone_bytes(tzid, around.astimezone(UTC).year))
    assert isinstance(parsed, icalendar.Timezone)  # one VTIMEZONE in, one out
    return parsed


@lru_cache(maxsize=128)
def _vtimezone_bytes(tzid: str, year: int) -> bytes:
    zone = ZoneInfo(tzid)
    transitions = _transitions(zone, year)
    tz = icalendar.Timezone()
    tz.add("TZID", tzid)
    if not transitions:
        tz.add_component(_fixed(zone, year))
        return bytes(tz.to_ical())
    rules = _rules(zone, year, transitions)
    if rules is not None:
        for transition, rule in rules:
            tz.add_component(_observance(transition, rule))
        return bytes(tz.to_ical())
    # No weekday rule fits: name each change of the years around the invite.
    for y in range(year - 1, year + _YEARS_CHECKED):
        for transition in _transitions(zone, y):
            tz.add_component(_observance(transition, None))
    return bytes(tz.to_ical())


def _transitions(zone: ZoneInfo, year: int) -> list[_Transition]:
    """Every change of UTC offset in ``year``, found by stepping a day at a time and bisecting."""
    found: list[_Transition] = []
    step = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    before = _offset(zone, step)
    while step < end:
        nxt = min(step + timedelta(days=1), end)
        after = _offset(zone, nxt)
        if after != before:
            low, high = step, nxt  # offset(low) == before, offset(high) != before
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                if _offset(zone, mid) == before:
                    low = mid
                else:
                    high = mid
            moment = high.replace(second=0, microsecond=0)
            name = moment.astimezone(zone).tzname() or ""
            found.append(_Transition(moment, before, _offset(zone, moment), name))
        before = after
        step = nxt
    return found


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    offset = moment.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _rule_of(transition: _Transition) -> _Rule:
    onset = transition.local_onset()
    days = calendar.monthrange(onset.year, onset.month)[1]
    # Prefer "last" when the day is the last such weekday: it is how the EU (and most
    # zones that use a fourth-or-fifth weekday) state their rule; checked below anyway.
    week = -1 if onset.day + 7 > days else (onset.day - 1) // 7 + 1
    return _Rule(onset.month, week, onset.weekday())


def _rules(
    zone: ZoneInfo, year: int, transitions: list[_Transition]
) -> list[tuple[_Transition, _Rule]] | None:
    """A weekday rule per change when the zone has two a year that such rules predict."""
    if len(transitions) != _CHANGES_A_YEAR:
        return None
    result: list[tuple[_Transition, _Rule]] = []
    for index, transition in enumerate(transitions):
        rule = _rule_of(transition)
        candidates = [rule]
        if rule.week == -1 and rule.day_in(year) <= _FOURTH_WEEK_ENDS:
            candidates.append(_Rule(rule.month, 4, rule.weekday))
        fitting = next((c for c in candidates if _predicts(zone, year, index, transition, c)), None)
        if fitting is None:
            return None
        result.append((transition, fitting))
    return result


def _predicts(zone: ZoneInfo, year: int, index: int, seen: _Transition, rule: _Rule) -> bool:
    """Whether ``rule`` gives the same change, at the same wall-clock time, in the next years."""
    for y in range(year, year + _YEARS_CHECKED):
        changes = _transitions(zone, y) if y != year else None
        if changes is not None and len(changes) != _CHANGES_A_YEAR:
            return False
        other = seen if changes is None else changes[index]
        onset = other.local_onset()
        if (onset.month, onset.day, onset.time()) != (
            rule.month,
            rule.day_in(y),
            seen.local_onset().time(),
        ):
            return False
        if (other.offset_from, other.offset_to) != (seen.offset_from, seen.offset_to):
            return False
    return True


def _observance(transition: _Transition, rule: _Rule | None) -> icalendar.Component:
    daylight = transition.offset_to > transition.offset_from
    component = icalendar.TimezoneDaylight() if daylight else icalendar.TimezoneStandard()
    onset = transition.local_onset()
    if rule is not None:
        onset = onset.replace(year=_RULE_YEAR, month=rule.month, day=rule.day_in(_RULE_YEAR))
    component.add("DTSTART", onset)
    component.add("TZOFFSETFROM", transition.offset_from)
    component.add("TZOFFSETTO", transition.offset_to)
    if transition.name:
        component.add("TZNAME", transition.name)
    if rule is not None:
        component.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": rule.month, "BYDAY": rule.byday()})
    return component


def _fixed(zone: ZoneInfo, year: int) -> icalendar.Component:
    moment = datetime(year, 1, 1, tzinfo=UTC)
    offset = _offset(zone, moment)
    component = icalendar.TimezoneStandard()
    component.add("DTSTART", datetime(_RULE_YEAR, 1, 1))  # noqa: DTZ001 - VTIMEZONE onsets are floating local times
    component.add("TZOFFSETFROM", offset)
    component.add("TZOFFSETTO", offset)
    name = moment.astimezone(zone).tzname()
    if name:
        component.add("TZNAME", name)
    return component
