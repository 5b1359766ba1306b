"""What an organiser changed in their calendar: an updated REQUEST or a CANCEL, against the series we know.

RFC 5546 3.2.2 and 3.2.5: the organiser's client sends the whole series again
with a higher SEQUENCE (moved occurrences as overrides, cancelled ones as
EXDATE), or a CANCEL naming occurrences by RECURRENCE-ID (or none: the whole
series). Occurrences are paired by their RECURRENCE-ID; when the master's
DTSTART itself moved (the whole series re-timed), every RECURRENCE-ID changes
with it and occurrences are paired by their place in the series instead.

Each change names the session number it concerns (the occurrence's place in
the series the network was started from), so it maps onto ``leernet update``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from leernet.organiser.intake.findings import Finding, Say, error
from leernet.organiser.intake.series import (
    MeetingSeries,
    Occurrence,
    apply_override,
    parse,
    read_series,
)
from leernet.organiser.intake.zones import LocalTime


class Change(StrEnum):
    """What happened to one occurrence."""

    MOVED = "moved"  # another start or length
    CANCELLED = "cancelled"
    RESTORED = "restored"  # was cancelled, takes place again
    PLACE = "place"  # an occurrence's own place changed
    ADDED = "added"  # the series got longer
    REMOVED = "removed"  # the series got shorter


@dataclass(frozen=True, slots=True)
class OccurrenceChange:
    """One occurrence's change."""

    change: Change
    number: int  # the session number in the known series (for ADDED: the new place)
    before: Occurrence | None
    after: Occurrence | None


@dataclass(frozen=True, slots=True)
class SeriesChange:
    """What a changed series does to the running network."""

    uid: str
    sequence: int
    stale: bool = False  # SEQUENCE lower than the one we know: an old message, not applied
    whole_series_cancelled: bool = False
    occurrences: tuple[OccurrenceChange, ...] = ()
    summary: tuple[str, str] | None = None  # (before, after) when it changed
    location: tuple[str, str] | None = None
    online_url: tuple[str, str] | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing changed."""
        return not (
            self.whole_series_cancelled
            or self.occurrences
            or self.summary
            or self.location
            or self.online_url
        )


def read_change(known: MeetingSeries, ical: bytes) -> SeriesChange:
    """An updated REQUEST or a CANCEL of the known series, as changes; never raises."""
    parsed = parse(ical)
    if isinstance(parsed, Finding):
        return SeriesChange(known.uid, known.sequence, findings=(parsed,))
    method, events = parsed.method, parsed.events
    mine = [e for e in events if str(e.get("UID", "")).strip() == known.uid]
    if not mine:
        detail = "UID of another series"
        return SeriesChange(
            known.uid, known.sequence, findings=(error(Say.CALENDAR_UNREADABLE, detail=detail),)
        )
    sequence = max(_int(e.get("SEQUENCE")) for e in mine)
    if sequence < known.sequence:
        return SeriesChange(known.uid, sequence, stale=True)
    if method == "CANCEL":
        try:
            return _cancel(known, mine, sequence)
        except Exception as exc:  # a RECURRENCE-ID icalendar could not make a date of
            detail = f"{type(exc).__name__}"
            return SeriesChange(
                known.uid, sequence, findings=(error(Say.CALENDAR_UNREADABLE, detail=detail),)
            )
    if all(e.get("RECURRENCE-ID") is not None for e in mine):
        # Outlook and Google send a moved occurrence alone: its VEVENT, without the master.
        return _instances(known, mine, sequence)
    read = read_series(ical)
    if read.series is None:
        return SeriesChange(known.uid, sequence, findings=read.findings)
    return compare(known, read.series, findings=read.findings)


def _cancel(known: MeetingSeries, events: list[Any], sequence: int) -> SeriesChange:
    if any(e.get("RECURRENCE-ID") is None for e in events):
        return SeriesChange(known.uid, sequence, whole_series_cancelled=True)
    local = LocalTime(known.timezone)
    changes: list[OccurrenceChange] = []
    findings: list[Finding] = []
    for event in events:
        hit = _find(known, event["RECURRENCE-ID"], local)
        if hit is None:
            findings.append(
                error(Say.SERIES_OVERRIDE_UNKNOWN, value=str(local.key(event["RECURRENCE-ID"])))
            )
        elif not hit.cancelled:
            changes.append(OccurrenceChange(Change.CANCELLED, hit.index, hit, None))
    return SeriesChange(known.uid, sequence, occurrences=tuple(changes), findings=tuple(findings))


def _instances(known: MeetingSeries, events: list[Any], sequence: int) -> SeriesChange:
    """A REQUEST of single occurrences (no master): each override against the known occurrence."""
    local = LocalTime(known.timezone)
    by_index = {o.index: o for o in known.occurrences}
    findings: list[Finding] = []
    for event in events:
        hit = _find(known, event["RECURRENCE-ID"], local)
        if hit is None:
            findings.append(
                error(Say.SERIES_OVERRIDE_UNKNOWN, value=str(local.key(event["RECURRENCE-ID"])))
            )
            continue
        by_index[hit.index] = apply_override(hit, event, local, known.location)
    new = replace(
        known, sequence=sequence, occurrences=tuple(by_index[i] for i in sorted(by_index))
    )
    return compare(known, new, findings=tuple(findings))


def _find(known: MeetingSeries, rid: Any, local: LocalTime) -> Occurrence | None:
    """The known occurrence a RECURRENCE-ID names: by its instant, or by its day for a DATE."""
    key = local.key(rid)
    for o in known.occurrences:
        if isinstance(key, datetime):
            if local.utc(key) == o.recurrence_id:
                return o
        elif o.recurrence_id.astimezone(local.zone).date() == key:
            return o
    return None


def compare(
    known: MeetingSeries, new: MeetingSeries, *, findings: tuple[Finding, ...] = ()
) -> SeriesChange:
    """Every difference between the known series and the organiser's new version of it."""
    # RFC 5545 3.8.4.4: RECURRENCE-IDs follow the master's DTSTART; re-timing it renames them all.
    retimed = new.first != known.first
    pairs = _by_index(known, new) if retimed else _by_recurrence_id(known, new)
    changes: list[OccurrenceChange] = []
    for before, after in pairs:
        if after is None:
            assert before is not None
            if not before.cancelled:
                changes.append(OccurrenceChange(Change.REMOVED, before.index, before, None))
        elif before is None:
            changes.append(OccurrenceChange(Change.ADDED, after.index, None, after))
        elif after.cancelled and not before.cancelled:
            changes.append(OccurrenceChange(Change.CANCELLED, before.index, before, after))
        elif before.cancelled and not after.cancelled:
            changes.append(OccurrenceChange(Change.RESTORED, before.index, before, after))
        elif after.cancelled:
            continue
        elif (before.start, before.minutes) != (after.start, after.minutes):
            changes.append(OccurrenceChange(Change.MOVED, before.index, before, after))
        elif before.location != after.location:
            changes.append(OccurrenceChange(Change.PLACE, before.index, before, after))
    return SeriesChange(
        known.uid,
        new.sequence,
        occurrences=tuple(changes),
        summary=_differs(known.summary, new.summary),
        location=_differs(known.location, new.location),
        online_url=_differs(known.online_url, new.online_url),
        findings=findings,
    )


def _differs(before: str, after: str) -> tuple[str, str] | None:
    return None if before == after else (before, after)


Pair = tuple[Occurrence | None, Occurrence | None]


def _by_recurrence_id(known: MeetingSeries, new: MeetingSeries) -> list[Pair]:
    after = {o.recurrence_id: o for o in new.occurrences}
    pairs: list[Pair] = [(o, after.pop(o.recurrence_id, None)) for o in known.occurrences]
    last = len(known.occurrences)
    for extra in sorted(after.values(), key=lambda o: o.recurrence_id):
        last += 1
        pairs.append((None, _renumbered(extra, last)))
    return pairs


def _by_index(known: MeetingSeries, new: MeetingSeries) -> list[Pair]:
    size = max(len(known.occurrences), len(new.occurrences))
    old = dict(enumerate(known.occurrences))
    fresh = dict(enumerate(new.occurrences))
    return [(old.get(i), fresh.get(i)) for i in range(size)]


def _renumbered(occurrence: Occurrence, index: int) -> Occurrence:
    return replace(occurrence, index=index)


def _int(value: object) -> int:
    try:
        return int(str(value or "0").strip() or "0")
    except ValueError:
        return 0
