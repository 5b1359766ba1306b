"""An organiser's RRULE expanded, bounded: DAILY, WEEKLY or MONTHLY, ending, at most 52 times.

dateutil does the expansion (RFC 5545 3.3.10), but never unbounded: the rule
must have COUNT or UNTIL, and UNTIL is cut at :data:`HORIZON` after DTSTART,
so a rule that matches nothing (30 February) stops after three years of
months, not at the year 9999.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from itertools import islice
from typing import Any, Literal

from dateutil import rrule

from leernet.organiser.findings import Finding, Say, error
from leernet.organiser.zones import LocalTime

MAX_OCCURRENCES = 52  # as leernet's schedule.count allows
HORIZON = timedelta(days=3 * 366)  # no learning network runs longer; bounds dateutil's loop

_FREQS: dict[str, Literal[0, 1, 2, 3, 4, 5, 6]] = {
    "DAILY": rrule.DAILY,
    "WEEKLY": rrule.WEEKLY,
    "MONTHLY": rrule.MONTHLY,
}
_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_KNOWN_PARTS = {
    "FREQ",
    "COUNT",
    "UNTIL",
    "INTERVAL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
}


def expand(
    rule: Any, first: datetime, local: LocalTime
) -> tuple[list[datetime], int | None] | Finding:
    """The wall-clock starts of the rule, and ``every_weeks`` when it is a plain weekly rule."""
    parts = {str(k).upper(): v for k, v in dict(rule).items()}
    freq = str((parts.get("FREQ") or [""])[0]).upper()
    unknown = set(parts) - _KNOWN_PARTS
    if freq not in _FREQS or unknown:
        return error(Say.SERIES_RULE, detail=", ".join(sorted({freq} | unknown - {""}))[:80])
    count = int(parts["COUNT"][0]) if "COUNT" in parts else None
    until_raw = parts.get("UNTIL", [None])[0]
    if count is None and until_raw is None:
        return error(Say.SERIES_OPEN_ENDED)
    if count is not None and not 1 <= count <= MAX_OCCURRENCES:
        return error(Say.SERIES_TOO_LONG, limit=MAX_OCCURRENCES)
    horizon = first + HORIZON
    until = horizon
    if until_raw is not None:
        if isinstance(until_raw, datetime):
            until = min(horizon, local.wall(until_raw) if until_raw.tzinfo else until_raw)
        else:
            until = min(horizon, datetime.combine(until_raw, time.max))
    interval = int((parts.get("INTERVAL") or [1])[0])
    byday = [str(d).upper() for d in parts.get("BYDAY", [])]
    weekdays = []
    for day in byday:
        found = re.fullmatch(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)", day)
        if found is None:
            return error(Say.SERIES_RULE, detail=day[:20])
        wd = rrule.weekday(_DAYS[found[2]])
        weekdays.append(wd(int(found[1])) if found[1] else wd)
    generator = rrule.rrule(
        _FREQS[freq],
        dtstart=first,
        interval=max(1, min(interval, 99)),
        until=until,
        byweekday=weekdays or None,
        bymonthday=[int(d) for d in parts.get("BYMONTHDAY", [])] or None,
        bymonth=[int(m) for m in parts.get("BYMONTH", [])] or None,
        bysetpos=[int(p) for p in parts.get("BYSETPOS", [])] or None,
        wkst=_DAYS.get(str((parts.get("WKST") or ["MO"])[0]).upper(), 0),
    )
    limit = count if count is not None else MAX_OCCURRENCES + 1
    starts = list(islice(generator, limit))
    if not starts or starts[0] != first:  # RFC 5545 3.3.10: DTSTART is always the first one
        starts = [first, *starts][:limit]
    if len(starts) > MAX_OCCURRENCES or (
        count is not None and len(starts) < count and until == horizon
    ):
        return error(Say.SERIES_TOO_LONG, limit=MAX_OCCURRENCES)
    plain_weekly = (
        freq == "WEEKLY"
        and not {"BYMONTHDAY", "BYMONTH", "BYSETPOS"} & set(parts)
        and byday in ([], [_weekday_code(first)])
    )
    return starts, (interval if plain_weekly and interval <= 52 else None)


def _weekday_code(moment: datetime) -> str:
    return next(code for code, n in _DAYS.items() if n == moment.weekday())
