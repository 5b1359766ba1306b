"""The few iCalendar content lines written per recipient: DTSTAMP, ORGANIZER, ATTENDEE.

They are written by hand, not through icalendar, because an invite's other
lines are built once per network and these are put into those bytes for each
participant (:mod:`leernet.calendar.invite`); a copy then costs microseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

_MIN_FOLD = 5  # room for a 4-octet UTF-8 character after the leading space
_CONTINUATION = 0x80  # 10xxxxxx: a UTF-8 continuation byte


def dtstamp_line(moment: datetime) -> bytes:
    """``DTSTAMP`` in UTC, as RFC 5545 3.8.7.2 requires."""
    return moment.astimezone(UTC).strftime("DTSTAMP:%Y%m%dT%H%M%SZ\r\n").encode()


def organizer_line(name: str, address: str) -> bytes:
    """The ORGANIZER line of one participant's invite: the service, answered at their reply address."""
    return fold(f"ORGANIZER;CN={param(name)}:mailto:{bare_address(address)}")


def attendee_line(name: str, address: str, *, rsvp: bool) -> bytes:
    # RFC 5546 3.2.2: a REQUEST asks the ATTENDEE for a reply; a CANCEL (3.2.5) asks none.
    """The participant's ATTENDEE line, asking for an answer when ``rsvp``."""
    params = f"CN={param(name)};ROLE=REQ-PARTICIPANT"
    if rsvp:
        params += ";PARTSTAT=NEEDS-ACTION;RSVP=TRUE"
    return fold(f"ATTENDEE;{params}:mailto:{bare_address(address)}")


def param(value: str) -> str:
    """A quoted parameter value; RFC 6868 caret-encodes what a quoted value cannot hold."""
    encoded = value.replace("^", "^^").replace('"', "^'").replace("\r\n", "^n")
    return '"' + encoded.replace("\n", "^n").replace("\r", "^n") + '"'


def bare_address(address: str) -> str:
    """``address`` if it is safe after ``mailto:``; anything else would break the line."""
    if any(c in address for c in '\r\n"<>; ,:') or "@" not in address:
        raise ValueError(f"not a bare mail address: {address!r}")
    return address


def fold(line: str, limit: int = 75) -> bytes:
    """Fold at ``limit`` octets without splitting a UTF-8 sequence (RFC 5545 3.1)."""
    if limit < _MIN_FOLD:
        raise ValueError(f"cannot fold at {limit} octets")
    data = line.encode()
    if len(data) <= limit:
        return data + b"\r\n"
    chunks: list[bytes] = []
    start, room = 0, limit
    while len(data) - start > room:
        end = start + room
        while data[end] & 0xC0 == _CONTINUATION:  # never cut inside a multibyte character
            end -= 1
        chunks.append(data[start:end])
        start, room = end, limit - 1  # a continuation line starts with one space
    chunks.append(data[start:])
    return b"\r\n ".join(chunks) + b"\r\n"
