"""An organiser's mail -> its parts: the meeting series, a participant list, a network file.

Clients put these in different places: Outlook sends the series as the
``text/calendar`` part of a ``multipart/alternative`` with the list attached
beside it; Google sends the same calendar twice (inline and as
``invite.ics``); Apple Mail attaches ``iCal-....ics``. This module only finds
and decodes the parts; :mod:`series`, :mod:`participant_list` and
:mod:`intake` read them. It is pure: bytes in, values out; it never raises on
a malformed mail (a part that cannot be decoded is left out).
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from pathlib import PurePath

from leernet.replies.charsets import decode_bytes

MAX_PARTS = 50  # an invite with a list is 3-6 parts; more is not an organiser writing
MAX_PART_BYTES = 2 * 1024 * 1024

_CALENDAR_TYPES = {"text/calendar", "application/ics", "text/x-vcalendar"}
_LIST_SUFFIXES = {".xlsx", ".xlsm", ".csv", ".xls", ".ods"}
_LIST_TYPES = {
    "text/csv",
    "application/csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
}


_MIN_HITS = 3  # words of a language before the mail counts as written in it


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment of the organiser's mail."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OrganiserRequest:
    """An organiser's mail, as the desk reads it."""

    sender: str  # the From address, lower case ("" when there is not exactly one)
    sender_name: str
    subject: str
    message_id: str
    language: str  # "nl", "en", "fr" from Content-Language, or ""
    calendars: tuple[bytes, ...]  # distinct calendar objects, the inline one first
    lists: tuple[Attachment, ...]  # spreadsheets and CSV files
    network_files: tuple[Attachment, ...]  # *.toml
    text: str  # the first text/plain part (for words such as START or status)


def read_request(raw: bytes) -> OrganiserRequest:
    """Find the parts of an organiser's mail; never raises."""
    return request_of(email.message_from_bytes(raw, policy=email.policy.default))


def request_of(msg: Message) -> OrganiserRequest:
    """The same for a message already parsed (any policy, compat32 included); never raises."""
    senders = getaddresses([str(v) for v in msg.get_all("From", [])])
    sender_name, sender = senders[0] if len(senders) == 1 else ("", "")
    calendars: list[bytes] = []
    lists: list[Attachment] = []
    files: list[Attachment] = []
    text = ""
    for count, part in enumerate(msg.walk()):
        if count > MAX_PARTS:
            break
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = _filename(part)
        suffix = PurePath(filename).suffix.lower()
        if ctype in _CALENDAR_TYPES or suffix == ".ics":
            data = _payload(part)
            # Google and Thunderbird send the same calendar inline and as invite.ics.
            if data and _same(data) not in {_same(c) for c in calendars}:
                calendars.append(data)
        elif suffix in _LIST_SUFFIXES or (ctype in _LIST_TYPES and filename):
            data = _payload(part)
            if data is not None:
                lists.append(Attachment(filename or "list.csv", data))
        elif suffix == ".toml":
            data = _payload(part)
            if data is not None:
                files.append(Attachment(filename, data))
        elif ctype == "text/plain" and not text and not filename:
            text = _text(part)
    return OrganiserRequest(
        sender=sender.strip().lower() if "@" in sender else "",
        sender_name=sender_name.strip(),
        subject=_header(msg.get("Subject", "")),
        message_id=str(msg.get("Message-ID", "")).strip(),
        language=_language(str(msg.get("Content-Language", ""))) or guess_language(text),
        calendars=tuple(calendars),
        lists=tuple(lists),
        network_files=tuple(files),
        text=text,
    )


def _same(calendar: bytes) -> bytes:
    return calendar.replace(b"\r\n", b"\n").strip()


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except (ValueError, LookupError):
        return ""
    return PurePath(name.replace("\\", "/")).name[:200]


def _payload(part: Message) -> bytes | None:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, LookupError):
        return None
    if not isinstance(data, bytes) or len(data) > MAX_PART_BYTES:
        return None
    return data


def _text(part: Message) -> str:
    data = _payload(part)
    if data is None:
        return ""
    return decode_bytes(data[:80_000], part.get_content_charset() or "utf-8")[:20_000]


def _header(value: object) -> str:
    """A header as text: compat32 leaves RFC 2047 words encoded, policy default decodes them."""
    try:
        return str(make_header(decode_header(str(value)))).strip()
    except (ValueError, LookupError, UnicodeError):
        return str(value).strip()


_WORDS = {
    "nl": frozenset(
        [
            "de",
            "het",
            "een",
            "en",
            "je",
            "jij",
            "u",
            "van",
            "met",
            "voor",
            "uitgenodigd",
            "bent",
            "hierbij",
            "deelnemers",
            "dag",
            "groeten",
        ]
    ),
    "en": frozenset(
        [
            "the",
            "and",
            "you",
            "your",
            "of",
            "with",
            "for",
            "invited",
            "have",
            "been",
            "attached",
            "please",
            "participants",
            "dear",
            "regards",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "et",
            "vous",
            "de",
            "des",
            "pour",
            "avec",
            "invité",
            "invitée",
            "ci",
            "joint",
            "participants",
            "bonjour",
        ]
    ),
}


def guess_language(text: str) -> str:
    """Without Content-Language (Google, Apple): the language most of the first words are in, if clear."""
    words = re.findall(r"[a-zà-ÿ]+", text[:2000].lower())
    hits = {lang: sum(w in known for w in words) for lang, known in _WORDS.items()}
    best = max(hits, key=lambda lang: hits[lang])
    others = max(v for lang, v in hits.items() if lang != best)
    return best if hits[best] >= _MIN_HITS and hits[best] >= 2 * others else ""


def _language(header: str) -> str:
    tag = header.split(",", maxsplit=1)[0].strip().lower()[:2]
    return tag if tag in {"nl", "en", "fr"} else ""
