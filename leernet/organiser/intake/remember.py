"""The organiser's series, remembered in the network file itself (no new table or column).

A network started from a meeting series must be found again when the
organiser's calendar sends an update, and the update must be compared with the
series as it was. Both fit in comment lines at the top of the TOML source the
store already keeps: TOML ignores them, ``leernet check`` is unchanged, and the
source stays readable::

    # organiser-series-uid = "040000008200E00074C5B7101A82E008..."
    # organiser-series-sequence = 0
    # organiser-series-first = "20270211T083000Z"
    # organiser-series-recurrence-ids = "20270211T083000Z 20270225T083000Z ..."

The sessions themselves (start, length, cancelled, place) come from the
registered network, so after an applied change only the stamp is renewed.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from leernet.network.model import Network
from leernet.organiser.intake.series import MeetingSeries, Occurrence

_KEYS = ("uid", "sequence", "first", "recurrence-ids")
_LINE = re.compile(r"^# organiser-series-([a-z-]+) = (.*)$", re.MULTILINE)
_SAFE_UID = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII: no line breaks in a comment


def stamp(source: str, series: MeetingSeries) -> str:
    """``source`` with the series' UID, SEQUENCE and RECURRENCE-IDs on top (an old stamp replaced)."""
    body = _LINE.sub("", source).lstrip("\n")
    if not _SAFE_UID.match(series.uid):
        return body  # such a series cannot be found again by UID; it is handled as any network
    ids = " ".join(_utc(o.recurrence_id) for o in series.occurrences)
    lines = [
        f"# organiser-series-uid = {json.dumps(series.uid)}",
        f"# organiser-series-sequence = {series.sequence}",
        f'# organiser-series-first = "{_utc(series.first)}"',
        f'# organiser-series-recurrence-ids = "{ids}"',
    ]
    return "\n".join(lines) + "\n" + body


def series_uid_of(source: str) -> str | None:
    """The organiser's series UID a network file was started from, or None."""
    return _values(source).get("uid")


def remembered(source: str, network: Network) -> MeetingSeries | None:
    """The organiser's series as the network has it now: for :func:`series_change.read_change`."""
    values = _values(source)
    if set(values) != set(_KEYS):
        return None
    try:
        ids = [_parse(v) for v in values["recurrence-ids"].split()]
        first = _parse(values["first"])
        sequence = int(values["sequence"])
    except ValueError:
        return None
    sessions = sorted(network.sessions, key=lambda s: s.number)
    if len(ids) != len(sessions):
        return None
    occurrences = tuple(
        Occurrence(s.number, rid, s.start, s.minutes, s.cancelled, s.location)
        for s, rid in zip(sessions, ids, strict=True)
    )
    return MeetingSeries(
        uid=values["uid"],
        sequence=sequence,
        timezone=network.timezone,
        tzid=network.timezone,
        first=first,
        minutes=network.series.minutes,
        every_weeks=network.series.every_weeks,
        occurrences=occurrences,
        summary=network.name,
        location=network.location,
        online_url=network.online_url,
        goal=network.goal,
        organizer=network.organiser,
        language=network.language,
    )


def _values(source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in _LINE.findall(source[:4096]):
        if key in _KEYS and key not in out:
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            out[key] = str(value)
    return out


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
