"""The service's answer to an organiser's invite: an iTIP REPLY with PARTSTAT=ACCEPTED (RFC 5546 3.2.3).

The organiser invited the service address to their series; accepting it makes
their calendar show the service as accepted. The REPLY carries the series'
UID and SEQUENCE, the ORGANIZER as the invite had it and one ATTENDEE: the
service. No RECURRENCE-ID: the answer is for the whole series.
"""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
from icalendar.enums import PARTSTAT

from leernet.organiser.intake.findings import Finding
from leernet.organiser.intake.series import parse

PRODID = "-//leernet//organiser intake//EN"


def accept_reply(ical: bytes, *, attendee: str, attendee_name: str, now: datetime) -> bytes | None:
    """The REPLY (ACCEPTED) to the series in ``ical`` from ``attendee``; None if there is no series."""
    parsed = parse(ical)
    if isinstance(parsed, Finding):
        return None
    masters = [e for e in parsed.events if e.get("RECURRENCE-ID") is None and e.get("UID")]
    if not masters:
        return None
    master = masters[0]
    cal = icalendar.Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("METHOD", "REPLY")
    event = icalendar.Event()
    event.add("UID", str(master["UID"]).strip())
    # RFC 5546 3.2.3: a REPLY carries the UID and SEQUENCE it answers.
    event.add("SEQUENCE", int(str(master.get("SEQUENCE", "0")).strip() or "0"))
    event.add("DTSTAMP", now.astimezone(UTC))
    organizer = master.get("ORGANIZER")
    if organizer is not None:
        event.add("ORGANIZER", organizer)
    start = master.get("DTSTART")
    if start is not None and isinstance(start.dt, datetime) and start.dt.tzinfo is not None:
        event.add("DTSTART", start.dt.astimezone(UTC))
    if master.get("SUMMARY") is not None:
        event.add("SUMMARY", str(master["SUMMARY"]))
    answer = icalendar.vCalAddress(f"mailto:{attendee}")
    answer.params["PARTSTAT"] = str(PARTSTAT.ACCEPTED)
    if attendee_name:
        answer.params["CN"] = attendee_name
    event.add("ATTENDEE", answer)
    cal.add_component(event)
    return bytes(cal.to_ical())
