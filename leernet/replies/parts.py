"""The parts of an incoming mail, read without trusting it: bounded walks, raw names, payloads.

No recursion and at most ``MAX_PARTS`` parts ``MAX_DEPTH`` deep; a file name as
written (not decoded: an RFC 2231 value in "punycode" decodes in quadratic time);
a text payload as UTF-8 bytes unless its charset is one of the slow codecs.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from email.message import Message

from leernet.replies.charsets import SLOW_CODECS, content_charset

MAX_DEPTH = 24  # MIME nesting we look into; real mail nests 3-4 levels
MAX_PARTS = 400


def walk(msg: Message) -> Iterator[Message]:
    """Parts depth-first without recursion; not into forwarded messages (message/rfc822)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        yield part
        payload = part.get_payload()
        if (
            depth < MAX_DEPTH
            and isinstance(payload, list)
            and part.get_content_maintype() != "message"
        ):
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))


def raw_filename(part: Message) -> str:
    """The file name as written, not decoded.

    get_filename() decodes an RFC 2231 value in its declared charset, and
    "punycode" makes that quadratic (0.8 s for 80 kB).
    """
    for header, name in (("content-disposition", "filename"), ("content-type", "name")):
        value = part.get_param(name, None, header=header)
        if isinstance(value, tuple):
            value = value[2]  # RFC 2231 (charset, language, value)
        if value:
            return str(value).strip().strip('"')
    return ""


def decoded_payload(part: Message) -> bytes:
    """A leaf part's payload, as UTF-8 where its charset says otherwise (slow codecs: as is)."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return b""
    charset = content_charset(part) or "utf-8"
    if charset.lower() not in ("utf-8", "utf8", "us-ascii", "ascii"):
        try:
            if codecs.lookup(charset).name in SLOW_CODECS:
                return data  # quadratic to decode; a calendar is UTF-8 (RFC 5545 3.1.4)
            return data.decode(charset, errors="replace").encode("utf-8")
        except LookupError:
            return data
    return data
