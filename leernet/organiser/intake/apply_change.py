"""A change from the organiser's calendar applied to the registered network file, as ``leernet update`` takes it.

The result is a new network file: the same sessions, numbers and series slots
(RECURRENCE-IDs stay stable, as :mod:`leernet.network.changes` requires), with moved
sessions given their own start, cancelled ones ``cancelled = true``, and the
name, place or link of the network changed. A series cannot grow once the
invites are out: an added occurrence is a finding, not applied. The comment
stamp is renewed with the organiser's new SEQUENCE (and RECURRENCE-IDs, when
the whole series was re-timed) so the next update is read against it.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import tomli_w

from leernet.organiser.intake.findings import Finding, Say, error
from leernet.organiser.intake.remember import stamp
from leernet.organiser.intake.series import MeetingSeries
from leernet.organiser.intake.series_change import Change, SeriesChange


def apply_change(
    source: str, known: MeetingSeries, change: SeriesChange, new: MeetingSeries | None = None
) -> tuple[str, tuple[Finding, ...]]:
    """The network file with ``change`` applied, and what could not be applied."""
    data = tomllib.loads(source)
    head: dict[str, Any] = data["network"]
    zone = ZoneInfo(str(head.get("timezone", "Europe/Brussels")))
    findings: list[Finding] = []
    sessions: list[dict[str, Any]] = data.setdefault("sessions", [])

    def entry(number: int) -> dict[str, Any]:
        found = next((s for s in sessions if s.get("number") == number), None)
        if found is None:
            found = {"number": number}
            sessions.append(found)
        return found

    def local(moment: datetime) -> datetime:
        return moment.astimezone(zone).replace(tzinfo=None)

    if change.whole_series_cancelled:
        for o in known.occurrences:
            entry(o.index)["cancelled"] = True
    for c in change.occurrences:
        if c.change is Change.ADDED:
            when = local(c.after.start).strftime("%d/%m/%Y %H:%M") if c.after else ""
            findings.append(error(Say.SERIES_GROWS, value=when))
            continue
        target = entry(c.number)
        if c.change in {Change.CANCELLED, Change.REMOVED}:
            target["cancelled"] = True
            continue
        if c.after is None:
            continue
        if c.change is Change.RESTORED:
            target.pop("cancelled", None)
        if c.change in {Change.MOVED, Change.RESTORED}:
            target["start"] = local(c.after.start)
            target["minutes"] = c.after.minutes
        if c.change is Change.PLACE or c.after.location:
            target["location"] = c.after.location
    if change.summary:
        head["name"] = change.summary[1]
    if change.location:
        head["location"] = change.location[1]
    if change.online_url:
        head["online_url"] = change.online_url[1]
    sessions.sort(key=lambda s: int(s.get("number", 0)))
    renewed = new if new is not None else replace(known, sequence=change.sequence)
    return stamp(tomli_w.dumps(data), renewed), tuple(findings)
