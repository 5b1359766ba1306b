"""Read the few content lines of an iTIP REPLY by hand (RFC 5545 3.1), without icalendar.

icalendar builds every property of every component: ~1.3 ms for a 2 KB REPLY,
most of the inbox's CPU per mail. :func:`read_fast` reads only what
:func:`leernet.calendar.itip.read_reply` uses (METHOD; UID, SEQUENCE, DTSTAMP,
ORGANIZER, ATTENDEE, RECURRENCE-ID and COMMENT of each top-level VEVENT) and
builds the same :class:`~leernet.calendar.itip.ItipReply`.

It is sure of plain shapes only. Whenever icalendar could read a line otherwise
(a backslash or stray blank in the parameters, a value form other than
``YYYYMMDD`` / ``YYYYMMDDTHHMMSS[Z]``, a TZID it cannot map, an unknown
component) it returns None and the caller asks icalendar, so odd input gets
exactly the old answer. VCALENDAR, VTIMEZONE and VALARM do not tolerate a bad
property in icalendar (a VEVENT does), so their lines are put to icalendar
itself, once per distinct line or block: clients repeat them byte for byte.
"""

from __future__ import annotations

import os
import re
import warnings
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from typing import TypeAlias
from zoneinfo import ZoneInfo, available_timezones

import icalendar
from icalendar.enums import PARTSTAT
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from leernet.calendar import itip

# icalendar's own unfolding and line split, so both readers see the same lines.
_UNFOLD = re.compile(r"(?:(?<!\n)\r\n|(?<![\r\n])\n)(?:\r?\n)*[ \t]")
_NEWLINE = re.compile(r"\r?\n")
_NAME = re.compile(r"([A-Za-z0-9-]+)([;:])")
_KEY = re.compile(r"([A-Za-z0-9-]+)=")
_UNQUOTED = re.compile(r'[^";:,]*')
_BLANK_EQUALS = re.compile(r"[ \t]=|=[ \t]")
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # what icalendar refuses in a parameter
_TEXT_ESCAPE = re.compile(r"\\([\\,;:nN])")  # RFC 5545 3.3.11, unescaped as icalendar does
_CARET = re.compile(r"\^\^|\^n|\^'")  # RFC 6868
_CARETS = {"^^": "^", "^n": os.linesep, "^'": '"'}
_DATE = re.compile(r"(\d{4})(\d\d)(\d\d)", re.ASCII)
_DATE_TIME = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(Z?)", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,18}", re.ASCII)

_READ = frozenset(
    {"UID", "SEQUENCE", "DTSTAMP", "ORGANIZER", "ATTENDEE", "RECURRENCE-ID", "COMMENT"}
)
_ONCE = ("UID", "SEQUENCE", "DTSTAMP", "ORGANIZER", "RECURRENCE-ID")
_CHILDREN = {
    "": ("VCALENDAR",),
    "VCALENDAR": ("VEVENT", "VTIMEZONE"),
    "VEVENT": ("VALARM",),
    "VTIMEZONE": ("STANDARD", "DAYLIGHT"),
}
# A bad property here makes icalendar refuse the whole calendar: put to icalendar itself.
_WRAP = {
    "VCALENDAR": ("BEGIN:VCALENDAR\r\n", "\r\nEND:VCALENDAR\r\n"),
    "VTIMEZONE": ("BEGIN:VCALENDAR\r\n", "\r\nEND:VCALENDAR\r\n"),
    "VALARM": ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
}
_MEMO_SIZE = 1024  # distinct lines and blocks remembered; Outlook's VTIMEZONE is ~600 bytes
_MEMO_TEXT = 8192

Params: TypeAlias = dict[str, str | list[str]]
Line: TypeAlias = tuple[Params, str]
Zones: TypeAlias = dict[str, tzinfo | None]  # VTIMEZONE TZID -> icalendar's zone (None: none)


class _Defer(Exception):  # noqa: N818 - not an error: icalendar decides this one
    """The reader is not sure it reads this calendar as icalendar does."""


def read_fast(data: bytes) -> itip.ItipReply | None:
    """The REPLY as :func:`itip.read_reply` reads it, or None when only icalendar can say."""
    try:
        return _read(data)
    except Exception:  # _Defer, or anything unforeseen: icalendar decides
        return None


def _read(data: bytes) -> itip.ItipReply:
    stack: list[str] = []
    ended = False
    methods: list[Line] = []
    events: list[dict[str, list[Line]]] = []
    zones: Zones = {}
    block: list[str] = []
    for line in _lines(data.decode("utf-8-sig")):
        if not line:
            continue
        match = _NAME.match(line)
        if ended or match is None:
            raise _Defer
        name = match[1].upper()
        inside = stack[-1] if stack else ""
        if name in {"BEGIN", "END"}:
            what = line[match.end() :].upper()
            if match[2] != ":":
                raise _Defer
            if name == "BEGIN":
                if what not in _CHILDREN.get(inside, ()):
                    raise _Defer
                stack.append(what)
                if what == "VEVENT":
                    events.append({})
                elif what in {"VTIMEZONE", "VALARM"}:
                    block = [line]
                elif what != "VCALENDAR":
                    block.append(line)
                continue
            if inside != what:
                raise _Defer
            stack.pop()
            ended = not stack
            if what in {"VTIMEZONE", "VALARM", "STANDARD", "DAYLIGHT"}:
                block.append(line)
            if what in {"VTIMEZONE", "VALARM"}:
                tzid, zone = _accepted(what, "\r\n".join(block))
                if what == "VTIMEZONE":
                    zones[tzid.strip("/")] = zone
            continue
        if inside == "VEVENT":
            if name in _READ:
                events[-1].setdefault(name, []).append(_parse(line, match))
        elif inside == "VCALENDAR":
            _accepted("VCALENDAR", line)
            if name == "METHOD":
                methods.append(_parse(line, match))
        elif inside:
            block.append(line)
        else:
            raise _Defer
    if not ended or len(methods) > 1:
        raise _Defer
    method = _text(methods[0]).strip().upper() if methods else ""
    return itip.combine(method, [_event(method, props, zones) for props in events])


def _lines(text: str) -> list[str]:
    """Unfolded lines, as icalendar's regexes make them; plain replaces when they must agree."""
    # Without blank lines, a fold is one line break and a space or tab (RFC 5545 3.1).
    crlf = text.count("\r\n")
    if crlf == text.count("\n") and "\r\n\r\n" not in text:
        return text.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")
    if not crlf and "\r" not in text and "\n\n" not in text:
        return text.replace("\n ", "").replace("\n\t", "").split("\n")
    return _NEWLINE.split(_UNFOLD.sub("", text))


def _parse(line: str, match: re.Match[str]) -> Line:
    """Parameters and raw value of a line, or _Defer where icalendar might split otherwise."""
    pos = match.end()
    params: Params = {}
    if match[2] == ":":
        return params, line[pos:]
    while True:
        key = _KEY.match(line, pos)
        if key is None:
            raise _Defer
        pos = key.end()
        values: list[str] = []
        while True:
            if line.startswith('"', pos):
                end = line.find('"', pos + 1)
                if end < 0:
                    raise _Defer
                value = line[pos + 1 : end]
                pos = end + 1
            else:
                unquoted = _UNQUOTED.match(line, pos)
                value = unquoted[0] if unquoted else ""
                pos += len(value)
                # icalendar strips blanks around an unquoted ; or =, even inside a value
                if value != value.strip(" \t") or ("=" in value and _BLANK_EQUALS.search(value)):
                    raise _Defer
            if "\\" in value or _CONTROL.search(value):
                raise _Defer
            values.append(_CARET.sub(lambda m: _CARETS[m[0]], value) if "^" in value else value)
            if not line.startswith(",", pos):
                break
            pos += 1
        params[key[1].upper()] = values[0] if len(values) == 1 else values
        if line.startswith(";", pos):
            pos += 1
        elif line.startswith(":", pos):
            return params, line[pos + 1 :]
        else:
            raise _Defer


def _text(prop: Line) -> str:
    params, value = prop
    if "VALUE" in params:
        raise _Defer
    return _TEXT_ESCAPE.sub(lambda m: "\n" if m[1] in "nN" else m[1], value)


def _address(prop: Line) -> str:
    params, value = prop
    if "VALUE" in params or "\\" in value or "\r" in value:
        raise _Defer
    return itip.address(value)


def _event(method: str, props: dict[str, list[Line]], zones: Zones) -> itip.ItipReply:
    if any(len(props.get(name, ())) > 1 for name in _ONCE):
        raise _Defer  # icalendar would make a list of them
    uid = _text(props["UID"][0]).strip() if "UID" in props else ""
    sequence = 0
    if "SEQUENCE" in props:
        params, value = props["SEQUENCE"][0]
        if "VALUE" in params or not _INTEGER.fullmatch(value):
            raise _Defer
        sequence = int(value)
    dtstamp = None
    if "DTSTAMP" in props:
        params, value = props["DTSTAMP"][0]
        stamp = _moment(value) if "VALUE" not in params else None
        if stamp is None:
            raise _Defer
        if isinstance(stamp, datetime):
            dtstamp = stamp.replace(tzinfo=UTC)  # UTC, or naive read as UTC like itip._aware
    attendees = tuple(_attendee(prop) for prop in props.get("ATTENDEE", ()))
    recurrence_id, tzid = None, None
    if "RECURRENCE-ID" in props:
        recurrence_id, tzid = _recurrence(*props["RECURRENCE-ID"][0], zones)
    comment = "\n".join(
        text for text in (_text(prop).strip() for prop in props.get("COMMENT", ())) if text
    )
    if not comment and len(attendees) == 1:
        comment = attendees[0].comment
    organizer = _address(props["ORGANIZER"][0]) if "ORGANIZER" in props else None
    problem = None if uid else "VEVENT has no UID"
    return itip.ItipReply(
        method, uid, sequence, dtstamp, organizer, attendees, recurrence_id, tzid, comment, problem
    )


def _attendee(prop: Line) -> itip.Attendee:
    params = prop[0]
    delegated = params.get("DELEGATED-TO", ())
    return itip.Attendee(
        _address(prop),
        itip.partstat(params.get("PARTSTAT", PARTSTAT.NEEDS_ACTION)),
        str(params.get("CN", "")).strip(),
        str(params.get("X-RESPONSE-COMMENT", "")).strip(),
        tuple(
            _address(({}, d)) for d in ([delegated] if isinstance(delegated, str) else delegated)
        ),
    )


def _moment(value: str) -> datetime | date | None:
    """A plain DATE or DATE-TIME (UTC aware, else naive); None for any other form."""
    if m := _DATE_TIME.fullmatch(value):
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        moment = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - floating here
        return moment.replace(tzinfo=UTC) if m[7] else moment
    if m := _DATE.fullmatch(value):
        return date(int(m[1]), int(m[2]), int(m[3]))
    return None


def _recurrence(params: Params, value: str, zones: Zones) -> tuple[datetime | date, str | None]:
    kind, tzid = params.get("VALUE", "DATE-TIME"), params.get("TZID") or None
    if not isinstance(kind, str) or kind.upper() not in {"DATE", "DATE-TIME"}:
        raise _Defer
    if isinstance(tzid, list):
        raise _Defer
    moment = _moment(value)
    if moment is None or (tzid and (not isinstance(moment, datetime) or moment.tzinfo)):
        raise _Defer  # icalendar reads a DATE or a Z with a TZID in its own ways
    if tzid is None or not isinstance(moment, datetime):
        return moment, tzid
    return _in_zone(moment, tzid, zones).astimezone(UTC), tzid


def _in_zone(local: datetime, tzid: str, zones: Zones) -> datetime:
    zone = itip.zone_for_tzid(tzid)
    if zone is None:
        raise _Defer
    moment = local.replace(tzinfo=zone)
    if tzid in _iana_names():
        return moment  # icalendar reads an IANA name with zoneinfo too, VTIMEZONE or not
    # A Windows name (Outlook): icalendar reads the calendar's VTIMEZONE, else its CLDR
    # table. Both must put this local time at the same instant as our table does.
    name = tzid.strip("/")
    theirs: tzinfo | None = None
    if name in zones:
        theirs = zones[name]
        if theirs is None:
            raise _Defer
    elif olson := WINDOWS_TO_OLSON.get(name):
        theirs = ZoneInfo(olson)
    if theirs is not None and local.replace(tzinfo=theirs) != moment:
        raise _Defer
    return moment


@cache
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


_verdicts: dict[tuple[str, str], tuple[bool, str, tzinfo | None]] = {}


def _accepted(kind: str, text: str) -> tuple[str, tzinfo | None]:
    """Whether icalendar reads ``text`` (a line or block) without error, asked once per text."""
    verdict = _verdicts.get((kind, text))
    if verdict is None:
        if len(text) > _MEMO_TEXT:
            raise _Defer  # keeps the memo small; icalendar reads such a calendar in full
        head, tail = _WRAP[kind]
        tzid, zone = "", None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cal = icalendar.Calendar.from_ical(head + text + tail)
                if kind == "VTIMEZONE":
                    vtimezone = cal.walk("VTIMEZONE")[0]
                    tzid = str(vtimezone["TZID"])
                    try:
                        assert isinstance(vtimezone, icalendar.Timezone)
                        zone = vtimezone.to_tz(lookup_tzid=False)
                    except Exception:  # read, but no zone: a RECURRENCE-ID in it defers
                        zone = None
            verdict = (True, tzid, zone)
        except Exception:
            verdict = (False, tzid, zone)
        if len(_verdicts) >= _MEMO_SIZE:
            _verdicts.clear()
        _verdicts[kind, text] = verdict
    if not verdict[0]:
        raise _Defer
    return verdict[1], verdict[2]
