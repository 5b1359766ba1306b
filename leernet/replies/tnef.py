"""Outlook's meeting responses: a TNEF ``winmail.dat`` or only an "Accepted:" subject.

Outlook and Exchange (MS-OXTNEF) may send a meeting response as one
``application/ms-tnef`` attachment instead of a text/calendar part. Its message
class (MS-OXOCAL 2.2.6.1: ``IPM.Schedule.Meeting.Resp.Pos/Neg/Tent``) says what
the participant answered. Such a mail is not an evaluation: it is set aside for
the organiser and never answered. Pure: bytes in, values out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import Message

from tnefparse.tnef import TNEF, TNEFObject

log = logging.getLogger("leernet.tnef")

TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
# The message class is among the first attributes Outlook writes; a winmail.dat is
# not walked further (its attachments can be megabytes and are none of our business).
# tnefparse's own TNEF() copies the rest of the stream for every attribute (quadratic)
# and its decode_mapi trusts the property count (2**32 loops on 8 bytes), so only
# its attribute reader is used, on a memoryview, for a bounded number of attributes.
_MAX_OBJECTS = 64
_HEADER = 6  # signature (4) and key (2) open every TNEF stream
_CLASS_PREFIX = "ipm.schedule.meeting."
_RESPONSES = {
    "resp.pos": "accepted",
    "resp.neg": "declined",
    "resp.tent": "tentative",
}
# Subjects Outlook, Exchange and OWA write on a meeting response (nl/en/fr/de).
_RESPONSE_SUBJECT = re.compile(
    r"^\s*(?P<word>accepted|declined|tentative|tentatively accepted|"
    r"geaccepteerd|aanvaard|geweigerd|afgewezen|voorlopig(?: geaccepteerd| aanvaard)?|"
    r"accepté|refusé|provisoire|provisoirement accepté|"
    r"accepté provisoirement|zugesagt|abgelehnt|abgesagt|mit vorbehalt(?: angenommen)?|"
    r"vorläufig zugesagt)\s*:",
    re.IGNORECASE,
)
_SUBJECT_RESPONSES = {
    "accepted": "accepted",
    "geaccepteerd": "accepted",
    "aanvaard": "accepted",
    "accepté": "accepted",
    "zugesagt": "accepted",
    "declined": "declined",
    "geweigerd": "declined",
    "afgewezen": "declined",
    "refusé": "declined",
    "abgelehnt": "declined",
    "abgesagt": "declined",
}


def message_class(data: bytes) -> str:
    """The TNEF message class (attMessageClass), '' when absent; raises ValueError if not TNEF."""
    view = memoryview(data)
    if len(view) < _HEADER or int.from_bytes(view[:4], "little") != TNEF.TNEF_SIGNATURE:
        msg = "not a TNEF stream (wrong signature)"
        raise ValueError(msg)
    offset = 6  # signature (4) and legacy key (2), MS-OXTNEF 2.1.3.1
    for _ in range(_MAX_OBJECTS):
        if offset + TNEF.MIN_OBJ_SIZE > len(view):
            break
        obj = TNEFObject(view[offset:])  # a memoryview: no copy of the rest per attribute
        if obj.length <= 0:
            break
        offset += obj.length
        if obj.level == TNEF.LVL_MESSAGE and obj.name == TNEF.ATTMESSAGECLASS:
            # attMessageClass is a null-terminated string in the OEM code page (ASCII here).
            return bytes(obj.data).decode("latin-1").rstrip("\x00").strip()
    return ""


@dataclass(frozen=True, slots=True)
class MeetingResponse:
    """An Outlook meeting response without a calendar part: what it answered, and how we know."""

    answer: str  # accepted | declined | tentative | unknown (PARTSTAT's words, lower case)
    reason: str


def meeting_response(msg: Message, parts: list[Message], subject: str) -> MeetingResponse | None:
    """``msg`` as an Outlook meeting response without a calendar part, or None.

    ``parts`` are its MIME parts (walked by the caller with its limits); the caller
    has already found no text/calendar part. A winmail.dat that cannot be read
    counts too: a parser failure sets the mail aside, it never makes it an evaluation.
    """
    for part in parts:
        filename = str(part.get_filename("") or "").lower()
        if part.get_content_type() not in TNEF_TYPES and filename != "winmail.dat":
            continue
        data = part.get_payload(decode=True)
        try:
            klass = message_class(data if isinstance(data, bytes) else b"")
        except Exception as exc:  # tnefparse raises what struct and slicing raise
            log.warning(
                "winmail.dat not readable: %s",
                exc,
                extra={"event": "tnef.unreadable", "message_id": msg.get("Message-ID", "")},
            )
            why = f"Outlook TNEF attachment (winmail.dat) that cannot be read: {exc}"[:300]
            return MeetingResponse("unknown", why)
        lowered = klass.lower()
        if lowered.startswith(_CLASS_PREFIX):
            kind = lowered.removeprefix(_CLASS_PREFIX)
            answer = _RESPONSES.get(kind, "unknown")
            why = (
                f"Outlook meeting response as TNEF ({klass[:60]}: {answer}) without a calendar part"
            )
            return MeetingResponse(answer, why)
        if klass and not _RESPONSE_SUBJECT.match(subject):
            return None  # an ordinary Outlook mail (IPM.Note) wrapped in TNEF
    found = _RESPONSE_SUBJECT.match(subject)
    if found:
        word = found.group("word").lower()
        answer = _SUBJECT_RESPONSES.get(word, "tentative")
        why = f"meeting response subject {subject[:60]!r} ({answer}) without a calendar part"
        return MeetingResponse(answer, why)
    return None
