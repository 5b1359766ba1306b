"""IMAP responses read as bytes (FETCH, SEARCH, SELECT, LIST), UID sets and quoted names.

Pure functions: ``imap.py`` hands them the lines aioimaplib received.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leernet.errors import MailboxError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

_FETCH_START = re.compile(rb"\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
EXISTS = re.compile(rb"\* \d+ EXISTS")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_LIST_DELIMITER = re.compile(rb'\([^)]*\) (?:NIL|"((?:[^"\\]|\\.)*)")')


@dataclass(frozen=True, slots=True)
class Fetched:
    """One message of a UID FETCH answer; ``data`` is empty when no body part was asked."""

    uid: int
    size: int
    data: bytes


def parse_fetch(lines: Sequence[bytes | bytearray]) -> list[Fetched]:
    """Turn aioimaplib's UID FETCH response lines into (uid, size, bytes) values.

    aioimaplib gives text lines as ``bytes`` and each literal (RFC 3501 4.3) as one
    ``bytearray``; the items of one message may sit before and after its literal
    (``1 FETCH (UID 5 BODY[] {12}``, literal, `` RFC822.SIZE 12)``). A FETCH without
    a UID is an unsolicited flag update (RFC 3501 7.4.2) and is skipped.
    """
    records: list[tuple[list[bytes], list[bytes]]] = []
    after_literal = False
    for line in lines:
        if isinstance(line, bytearray):
            if records:
                records[-1][1].append(bytes(line))
                after_literal = True
            continue
        if _FETCH_START.match(line):
            records.append(([line], []))
        elif after_literal and records:
            records[-1][0].append(line)
        after_literal = False
    out = []
    for text_parts, literals in records:
        text = b" ".join(text_parts)
        uid = _UID.search(text)
        if uid is None:
            continue
        data = literals[0] if literals else b""
        size = _SIZE.search(text)
        out.append(Fetched(int(uid.group(1)), int(size.group(1)) if size else len(data), data))
    return out


def parse_search(lines: Sequence[bytes | bytearray]) -> list[int]:
    """The UIDs of a UID SEARCH answer (aioimaplib strips the ``SEARCH`` word)."""
    uids: list[int] = []
    for line in lines[:-1]:  # the last line is the tagged completion text
        uids.extend(int(word) for word in bytes(line).split() if word.isdigit())
    return sorted(set(uids))


def parse_uidvalidity(lines: Sequence[bytes | bytearray]) -> int:
    """The UIDVALIDITY in a SELECT's answer (RFC 3501 6.3.1)."""
    for line in lines:
        found = _UIDVALIDITY.search(bytes(line))
        if found:
            return int(found.group(1))
    raise MailboxError("the server sent no UIDVALIDITY on SELECT (RFC 3501 6.3.1)")


def parse_delimiter(lines: Sequence[bytes | bytearray]) -> str:
    """The hierarchy delimiter from ``LIST "" ""`` (RFC 3501 6.3.8); empty when flat (NIL)."""
    for line in lines:
        found = _LIST_DELIMITER.match(bytes(line))
        if found:
            return (found.group(1) or b"").decode().replace("\\", "")
    return ""


def server_folder(name: str, delimiter: str) -> str:
    """``leernet/processed`` in the server's hierarchy: ``leernet.processed`` on Dovecot maildir."""
    return (delimiter or "-").join(part for part in name.split("/") if part)


def uid_set(uids: Iterable[int]) -> str:
    """A compact RFC 3501 sequence set: ``1:3,7,9:10``."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        ranges.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(ranges)
