"""An organiser's RRULE expanded, bounded: DAILY, WEEKLY or MONTHLY, ending, at most 52 times.

RFC 5545 3.3.10, for the parts a learning network's series uses (INTERVAL,
BYDAY, BYMONTHDAY, BYMONTH, BYSETPOS, WKST). Written here rather than handed
to dateutil because dateutil only checks UNTIL when a candidate matches: a
rule that matches nothing (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30``) ran to the
year 9999, seconds of CPU per mail. Here the work is bounded by counting
periods: at most :data:`HORIZON` after DTSTART (1,100 days, 160 weeks or 37
months), each with at most 31 candidates. ``tests/test_series_in.py``
compares the result with dateutil's on rules that do match.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from leernet.organiser.intake.findings import Finding, Say, error
from leernet.organiser.intake.zones import LocalTime

MAX_OCCURRENCES = 52  # as leernet's schedule.count allows
HORIZON = timedelta(days=3 * 366)  # no learning network runs longer

_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_KNOWN_PARTS = {"FREQ", "COUNT", "UNTIL", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"}  # fmt: skip
_FREQS = {"DAILY", "WEEKLY", "MONTHLY"}


_WEEKS, _MONTH_DAYS, _MONTHS, _DAYS_A_YEAR, _WEEKS_A_YEAR = (
    5,
    31,
    12,
    366,
    52,
)  # RFC 5545 3.3.10 ranges
_MAX_INTERVAL = 99  # a meeting series repeats far more often than that


class _Rule:
    """The parts of one RRULE, checked against RFC 5545's ranges."""

    def __init__(self, parts: dict[str, list[Any]], freq: str) -> None:
        self.freq = freq
        self.interval = int((parts.get("INTERVAL") or [1])[0])
        self.byday: list[tuple[int | None, int]] = []
        for raw in parts.get("BYDAY", []):
            found = re.fullmatch(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)", str(raw).upper())
            if found is None:
                raise ValueError(str(raw)[:20])
            nth = int(found[1]) if found[1] else None
            if nth is not None and (freq != "MONTHLY" or not 1 <= abs(nth) <= _WEEKS):
                raise ValueError(str(raw)[:20])
            self.byday.append((nth, _DAYS[found[2]]))
        self.bymonthday = [int(d) for d in parts.get("BYMONTHDAY", [])]
        self.bymonth = [int(m) for m in parts.get("BYMONTH", [])]
        self.bysetpos = [int(p) for p in parts.get("BYSETPOS", [])]
        self.wkst = _DAYS.get(str((parts.get("WKST") or ["MO"])[0]).upper(), 0)
        if not 1 <= self.interval <= _MAX_INTERVAL:
            raise ValueError(f"INTERVAL={self.interval}")
        if any(not 1 <= abs(d) <= _MONTH_DAYS for d in self.bymonthday):
            raise ValueError("BYMONTHDAY")
        if any(not 1 <= m <= _MONTHS for m in self.bymonth):
            raise ValueError("BYMONTH")
        if any(not 1 <= abs(p) <= _DAYS_A_YEAR for p in self.bysetpos):
            raise ValueError("BYSETPOS")

    def days(self, first: date, last: date) -> list[date]:
        """Every day the rule gives from ``first``'s period to ``last``, period by period."""
        out: list[date] = []
        if self.freq == "DAILY":
            day = first
            while day <= last:
                out += self._setpos([day] if self._daily(day) else [])
                day += timedelta(days=self.interval)
        elif self.freq == "WEEKLY":
            week = first - timedelta(days=(first.weekday() - self.wkst) % 7)
            wanted = sorted({wd for _, wd in self.byday} or {first.weekday()})
            while week <= last:
                days = [week + timedelta(days=(wd - self.wkst) % 7) for wd in wanted]
                out += self._setpos(sorted(d for d in days if self._in_month(d)))
                week += timedelta(weeks=self.interval)
        else:
            year, month = first.year, first.month
            while date(year, month, 1) <= last:
                out += self._setpos(self._monthly(year, month, first.day))
                month += self.interval
                year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        return out

    def _in_month(self, day: date) -> bool:
        return not self.bymonth or day.month in self.bymonth

    def _daily(self, day: date) -> bool:
        return (
            self._in_month(day)
            and (not self.bymonthday or _monthday(day) & set(self.bymonthday) != set())
            and (not self.byday or day.weekday() in {wd for _, wd in self.byday})
        )

    def _monthly(self, year: int, month: int, default_day: int) -> list[date]:
        if self.bymonth and month not in self.bymonth:
            return []
        length = calendar.monthrange(year, month)[1]
        days = [date(year, month, d) for d in range(1, length + 1)]
        if not self.bymonthday and not self.byday:
            # RFC 5545 3.3.10: a month without DTSTART's day (the 31st) is skipped.
            return [date(year, month, default_day)] if default_day <= length else []
        chosen = set(days)
        if self.bymonthday:
            chosen &= {d for d in days if _monthday(d) & set(self.bymonthday)}
        if self.byday:
            chosen &= {d for d in days if any(_nth(d, n, wd, length) for n, wd in self.byday)}
        return sorted(chosen)

    def _setpos(self, days: list[date]) -> list[date]:
        if not self.bysetpos:
            return days
        picked = {days[p - 1 if p > 0 else p] for p in self.bysetpos if abs(p) <= len(days)}
        return sorted(picked)


def _monthday(day: date) -> set[int]:
    """The day of the month counted from the start and from the end (-1 = the last)."""
    length = calendar.monthrange(day.year, day.month)[1]
    return {day.day, day.day - length - 1}


def _nth(day: date, nth: int | None, weekday: int, length: int) -> bool:
    if day.weekday() != weekday:
        return False
    if nth is None:
        return True
    return (day.day - 1) // 7 + 1 == nth if nth > 0 else (length - day.day) // 7 + 1 == -nth


def expand(
    rule: Any, first: datetime, local: LocalTime
) -> tuple[list[datetime], int | None] | Finding:
    """The wall-clock starts of the rule, and ``every_weeks`` when it is a plain weekly rule."""
    parts = {str(k).upper(): list(v) for k, v in dict(rule).items()}
    freq = str((parts.get("FREQ") or [""])[0]).upper()
    unknown = set(parts) - _KNOWN_PARTS
    if freq not in _FREQS or unknown:
        return error(Say.SERIES_RULE, detail=", ".join(sorted({freq} | unknown - {""}))[:80])
    try:
        parsed = _Rule(parts, freq)
    except ValueError as exc:
        return error(Say.SERIES_RULE, detail=str(exc)[:80])
    count = int(parts["COUNT"][0]) if "COUNT" in parts else None
    until_raw = parts.get("UNTIL", [None])[0]
    if count is None and until_raw is None:
        return error(Say.SERIES_OPEN_ENDED)
    if count is not None and not 1 <= count <= MAX_OCCURRENCES:
        return error(Say.SERIES_TOO_LONG, limit=MAX_OCCURRENCES)
    horizon = first + HORIZON
    until = horizon
    if isinstance(until_raw, datetime):
        until = min(horizon, local.wall(until_raw) if until_raw.tzinfo else until_raw)
    elif isinstance(until_raw, date):
        until = min(horizon, datetime.combine(until_raw, time.max))
    limit = count if count is not None else MAX_OCCURRENCES + 1
    starts: list[datetime] = []
    for day in parsed.days(first.date(), until.date()):
        moment = datetime.combine(day, first.time())
        if moment < first:
            continue
        if moment > until or len(starts) >= limit:
            break
        starts.append(moment)
    if not starts or starts[0] != first:  # RFC 5545 3.3.10: DTSTART is always the first one
        starts = [first, *starts][:limit]
    if len(starts) > MAX_OCCURRENCES or (
        count is not None and len(starts) < count and until == horizon
    ):
        return error(Say.SERIES_TOO_LONG, limit=MAX_OCCURRENCES)
    plain_weekly = (
        freq == "WEEKLY"
        and not {"BYMONTHDAY", "BYMONTH", "BYSETPOS"} & set(parts)
        and [wd for _, wd in parsed.byday] in ([], [first.weekday()])
    )
    return starts, (parsed.interval if plain_weekly and parsed.interval <= _WEEKS_A_YEAR else None)
