"""Keep VTIMEZONEs that would take unbounded work away from icalendar and dateutil.

icalendar turns every VTIMEZONE it parses into a zone (``tzp.cache_timezone_component``
at ``END:VTIMEZONE``), expanding each observance's RRULE with dateutil from its
DTSTART to 2038 (or its UNTIL/COUNT). A STANDARD with ``RRULE:FREQ=HOURLY`` from
1601 is 3.8 million transitions (115 s, 430 MB); ``MINUTELY`` does not finish.
A mail can carry that, so :func:`guard` looks at the calendar's bytes first (one
linear pass over its lines) and estimates what each VTIMEZONE would cost:

* every RRULE must be ``FREQ=YEARLY`` with only BYMONTH/BYDAY/BYMONTHDAY/BYSETPOS
  (RFC 5545 3.6.5: real zones change once or twice a year; Outlook, Google, Apple
  and Thunderbird write exactly that), ending within a few hundred years;
* at most :data:`MAX_OBSERVANCES` STANDARD/DAYLIGHT and :data:`MAX_TRANSITIONS`
  transitions (RRULE years x occurrences per year, plus RDATEs) per VTIMEZONE, and
  :data:`MAX_CALENDAR_TRANSITIONS` for all VTIMEZONEs of the calendar together.

A VTIMEZONE that fails is never expanded. When its TZID is a zone we know (IANA,
or a Windows name via :func:`leernet.calendar.itip.zone_for_tzid`) it is removed
from the bytes and the RECURRENCE-ID is read in that known zone; otherwise the
calendar cannot be read and :func:`guard` says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_OBSERVANCES = 16  # Outlook and Google write 2; Apple a few with UNTIL
MAX_TRANSITIONS = 2000  # Outlook's 1601..2038 yearly pair is 874
MAX_CALENDAR_TRANSITIONS = 4 * MAX_TRANSITIONS  # all VTIMEZONEs of one calendar together
MAX_YEARS = 600  # years dateutil walks through for one RRULE
_LAST_YEAR = 2038  # icalendar ends a rule without UNTIL/COUNT here (fix_rrule_until)
_MAX_YEAR = 9999  # dateutil walks a COUNT rule that never matches up to here
_RULE_KEYS = frozenset({"FREQ", "INTERVAL", "UNTIL", "COUNT", "WKST", "BYMONTH", "BYDAY"})
_RULE_LISTS = frozenset({"BYMONTHDAY", "BYSETPOS"})
_OBSERVANCES = frozenset({"STANDARD", "DAYLIGHT"})


_MAX_INTERVAL = 100  # years between a yearly rule's changes; no real zone comes near


@dataclass(slots=True)
class _Frame:
    """One component being read: where it starts and what expanding it would cost."""

    name: str
    start: int  # byte offset of its BEGIN line
    tzid: str = ""
    dtstart_year: int | None = None
    rules: list[str] = field(default_factory=list)
    rdates: int = 0
    observances: int = 0
    transitions: int = 0
    unsafe: str = ""


def guard(data: bytes, known: Callable[[str], bool]) -> tuple[bytes, str | None]:
    """``data`` without the VTIMEZONEs too costly to expand, or the reason it cannot be read.

    ``known(tzid)`` says whether a TZID names a zone we can use without its VTIMEZONE.
    Calendars without a VTIMEZONE come back unchanged (and nearly for free).
    """
    # icalendar compares str.upper() names: "VTıMEZONE" (dotless i) is a VTIMEZONE too.
    if data.isascii() and b"vtimezone" not in data.lower():
        return data, None
    cuts: list[tuple[int, int]] = []
    stack: list[_Frame] = []
    total = 0  # transitions of the VTIMEZONEs kept so far
    for start, end, name, value in _logical_lines(data):
        if name == "BEGIN":
            stack.append(_Frame(value.strip().upper(), start))
        elif name == "END":
            if not stack:
                continue
            frame = stack.pop()
            _close(frame)
            if stack:
                parent = stack[-1]
                parent.observances += frame.observances
                parent.transitions += frame.transitions
                parent.unsafe = parent.unsafe or frame.unsafe
            # icalendar expands whatever component an END:VTIMEZONE closes (and has a TZID).
            if value.strip().upper() == "VTIMEZONE" or frame.name == "VTIMEZONE":
                problem = _verdict(frame)
                if problem is None and total + frame.transitions > MAX_CALENDAR_TRANSITIONS:
                    problem = f"its zones make more than {MAX_CALENDAR_TRANSITIONS} transitions"
                if problem is None:
                    total += frame.transitions
                    continue
                if not (frame.tzid and known(frame.tzid)):
                    return data, f"VTIMEZONE {frame.tzid[:60]!r} not read: {problem}"
                if frame.name != "VTIMEZONE" or len(stack) != 1:
                    return data, f"VTIMEZONE {frame.tzid[:60]!r} misplaced and {problem}"
                cuts.append((frame.start, end))
                stack[-1].observances -= frame.observances
                stack[-1].transitions -= frame.transitions
                stack[-1].unsafe = ""
        elif stack:
            _property(stack[-1], name, value)
    if not cuts:
        return data, None
    kept, pos = [], 0
    for start, end in cuts:
        kept.append(data[pos:start])
        pos = end
    kept.append(data[pos:])
    return b"".join(kept), None


def _logical_lines(data: bytes) -> list[tuple[int, int, str, str]]:
    """(start, end, NAME, value) of each unfolded content line, in one pass.

    As icalendar reads them: lines end at LF (CRLF or bare LF), a line starting with a
    blank or tab continues the one before, even across empty lines (RFC 5545 3.1).
    """
    out: list[tuple[int, int, str, str]] = []
    pos = 0
    current: list[bytes] = []
    current_start = current_end = 0
    for line in data.split(b"\n"):
        end = min(len(data), pos + len(line) + 1)
        content = line.removesuffix(b"\r")
        if current and content[:1] in (b" ", b"\t"):
            current.append(content[1:])
            current_end = end
        elif content:
            if current:
                out.append(_split(current_start, current_end, b"".join(current)))
            current, current_start, current_end = [content], pos, end
        pos = end
    if current:
        out.append(_split(current_start, current_end, b"".join(current)))
    return out


def _split(start: int, end: int, line: bytes) -> tuple[int, int, str, str]:
    text = line.decode("utf-8", errors="replace")
    cut = min((i for i in (text.find(";"), text.find(":")) if i >= 0), default=len(text))
    colon = text.find(":", cut)
    # The value starts after the first colon outside quotes; a quoted parameter may hold one.
    if '"' in text[:colon]:
        inside = False
        for i in range(cut, len(text)):
            if text[i] == '"':
                inside = not inside
            elif text[i] == ":" and not inside:
                colon = i
                break
    value = text[colon + 1 :] if colon >= 0 else ""
    params = text[cut:colon] if colon >= 0 else ""
    name = text[:cut].strip().upper()
    if name == "RDATE":
        value = params + ":" + value  # keep VALUE=PERIOD visible to the counter
    return start, end, name, value


def _property(frame: _Frame, name: str, value: str) -> None:
    if name == "TZID":
        frame.tzid = value.strip()
    elif name == "DTSTART":
        digits = value.strip()[:4]
        frame.dtstart_year = int(digits) if digits.isdigit() else None
    elif name in {"RRULE", "EXRULE"}:
        frame.rules.append(value)
    elif name == "RDATE":
        frame.rdates += value.count(",") + 1


def _close(frame: _Frame) -> None:
    """Add this component's own cost (an observance's rules and dates) to its totals."""
    if frame.name in _OBSERVANCES:
        frame.observances += 1
    frame.transitions += frame.rdates + (1 if frame.name in _OBSERVANCES else 0)
    for rule in frame.rules:
        cost, problem = _rule_cost(rule, frame.dtstart_year)
        frame.transitions += cost
        frame.unsafe = frame.unsafe or problem


def _verdict(frame: _Frame) -> str | None:
    if frame.unsafe:
        return frame.unsafe
    if frame.observances > MAX_OBSERVANCES:
        return f"{frame.observances} observances (at most {MAX_OBSERVANCES})"
    if frame.transitions > MAX_TRANSITIONS:
        return f"about {frame.transitions} transitions (at most {MAX_TRANSITIONS})"
    return None


def _rule_cost(rule: str, start_year: int | None) -> tuple[int, str]:
    """Transitions a yearly zone rule makes (an upper estimate), or why it is not one."""
    parts: dict[str, str] = {}
    for item in rule.strip().split(";"):
        key, _, value = item.partition("=")
        key = key.strip().upper()
        if key in parts:
            return 0, f"RRULE repeats {key}"
        parts[key] = value.strip()
    freq = parts.get("FREQ", "").upper()
    if freq != "YEARLY":
        return 0, f"RRULE FREQ={freq[:20] or '?'} is not YEARLY"
    other = set(parts) - _RULE_KEYS - _RULE_LISTS
    if other:
        return 0, f"RRULE uses {', '.join(sorted(other))[:60]}"
    interval = parts.get("INTERVAL", "1")
    if not interval.isdigit() or not 1 <= int(interval) <= _MAX_INTERVAL:
        # dateutil repeats the same year for ever with INTERVAL=0 (and walks back with -1).
        return 0, f"RRULE INTERVAL={interval[:10]} is not a positive number of years"
    if start_year is None or start_year < 1:
        return 0, "observance without a readable DTSTART"
    if "COUNT" in parts:
        end_year = _MAX_YEAR  # a COUNT that is never reached walks dateutil to year 9999
    elif "UNTIL" in parts:
        digits = parts["UNTIL"][:4]
        end_year = int(digits) if digits.isdigit() else _MAX_YEAR
    else:
        end_year = _LAST_YEAR
    years = max(1, end_year - start_year + 1)
    if years > MAX_YEARS:
        return 0, f"RRULE spans {years} years (at most {MAX_YEARS})"
    months = _count(parts.get("BYMONTH")) or 12
    days = _count(parts.get("BYMONTHDAY"))
    if not days:
        weekdays = [d for d in parts.get("BYDAY", "").split(",") if d.strip()]
        # "-1SU" is one day a month; "SU" every Sunday of it (at most 5).
        days = sum(1 if d.strip()[:-2] else 5 for d in weekdays) or 1
    return years * months * days, ""


def _count(values: str | None) -> int:
    return len([v for v in values.split(",") if v.strip()]) if values else 0
