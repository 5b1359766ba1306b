"""The building blocks of the demo's simulated mail: MIME parts, a received message, dates.

Mail clients do not write MIME the way :mod:`email.generator` does, and the
point of the demo (and of the end-to-end tests) is to meet the shapes real
clients send, so parts are written byte by byte here, with CRLF line ends
(RFC 5322 2.1) and deterministic boundaries derived from the Message-ID.
"""

from __future__ import annotations

import base64
import binascii
import email
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.policy import default
from email.utils import format_datetime, formataddr, getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from leernet.messages import textfmt

if TYPE_CHECKING:
    from collections.abc import Sequence
    from email.message import EmailMessage

BRUSSELS = ZoneInfo("Europe/Brussels")
# The day and month names the clients write are the ones our own messages use.
_NL_DAYS = textfmt.DAYS["nl"]
_NL_MONTHS = textfmt.MONTHS["nl"]
_NL_MONTHS_SHORT = (
    "jan.",
    "feb.",
    "mrt.",
    "apr.",
    "mei",
    "jun.",
    "jul.",
    "aug.",
    "sep.",
    "okt.",
    "nov.",
    "dec.",
)
_QUESTION = re.compile(r"^(\d{1,2})[.)]\s")


# ---------------------------------------------------------------- writing MIME


def lines(text: str) -> list[str]:
    """The lines of ``text``."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def crlf(text: str) -> str:
    """``text`` with CRLF line ends."""
    return "\r\n".join(lines(text))


def qp(text: str, charset: str = "utf-8") -> bytes:
    """Quoted-printable (RFC 2045 6.7) with soft breaks at 76 and CRLF line ends."""
    body = "\n".join(lines(text)).encode(charset)
    return binascii.b2a_qp(body, istext=True, header=False).replace(b"\n", b"\r\n")


def b64(data: bytes) -> bytes:
    """Base64 in lines of 76, as mail clients write it."""
    raw = base64.b64encode(data)
    return b"\r\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))


def eight_bit(text: str) -> bytes:
    """``text`` as 8-bit UTF-8 bytes."""
    return crlf(text).encode("utf-8")


def part(headers: Sequence[str], body: bytes) -> bytes:
    """One body part: its header lines, an empty line, the body ending in a line break.

    The CRLF before the next boundary belongs to the boundary (RFC 2046 5.1.1),
    so a body's own last line break needs one more, as clients write it.
    """
    head = ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8")
    return head + body.rstrip(b"\r\n") + b"\r\n\r\n"


def multipart(
    subtype: str, boundary: str, parts: Sequence[bytes], *, params: str = "", preamble: str = ""
) -> bytes:
    """A multipart entity, its Content-Type line first (usable as a part or a whole body)."""
    head = f'Content-Type: multipart/{subtype};{params}\r\n\tboundary="{boundary}"\r\n\r\n'
    out = [head.encode("ascii")]
    if preamble:
        out.append(preamble.encode("ascii") + b"\r\n")
    out.extend(f"--{boundary}\r\n".encode("ascii") + p for p in parts)
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


def message(headers: Sequence[str], entity: bytes) -> bytes:
    """Top-level header lines followed by an entity that starts with its own Content-* lines."""
    return ("\r\n".join(headers) + "\r\n").encode("utf-8") + entity


def text_part(content_type: str, body: bytes, encoding: str, *extra: str) -> bytes:
    """One MIME text part."""
    return part(
        [f"Content-Type: {content_type}", f"Content-Transfer-Encoding: {encoding}", *extra], body
    )


def address(name: str, addr: str) -> str:
    """A From or To header value."""
    return formataddr((name, addr), charset="utf-8") if name else addr


def subject_header(value: str) -> str:
    """A Subject header value, encoded when it is not ASCII."""
    if value.isascii():
        return f"Subject: {value}"
    return "Subject: " + Header(value, "utf-8", header_name="Subject").encode(
        maxlinelen=76, linesep="\r\n"
    )


def date_header(moment: datetime, *, local: bool = False) -> str:
    """RFC 5322 Date: ``local`` in Brussels time as desktop clients write it, else UTC."""
    when = moment.astimezone(BRUSSELS if local else UTC)
    return f"Date: {format_datetime(when)}"


def token(seed: str, tag: str, length: int = 24) -> str:
    """A deterministic hex string: boundaries and ids that do not change between runs."""
    return hashlib.sha256(f"{tag}\0{seed}".encode()).hexdigest()[:length]


def uuid_like(seed: str, tag: str) -> str:
    """A stable UUID-looking id for ``seed`` and ``tag``."""
    h = token(seed, tag, 32).upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def references(received: Received) -> list[str]:
    """In-Reply-To and References for an answer to ``received`` (RFC 5322 3.6.4)."""
    if not received.message_id:
        return []
    refs = " ".join([*received.references, received.message_id])
    return [f"In-Reply-To: {received.message_id}", f"References: {refs}"]


def word_html(paragraphs: list[str], answers: frozenset[int] = frozenset()) -> bytes:
    """Outlook's Word HTML: one MsoNormal paragraph per line; answers in blue."""
    out = []
    for i, line in enumerate(paragraphs):
        inner = html.escape(line) if line else "&nbsp;"
        if i in answers:
            inner = f'<span style="color:#0070C0">{inner}</span>'
        out.append(f'<p class="MsoNormal">{inner}<o:p></o:p></p>')
    return (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv='
        '"Content-Type" content="text/html; charset=utf-8"></head><body lang="NL-BE">'
        f'<div class="WordSection1">{"".join(out)}</div></body></html>'
    ).encode()


# ------------------------------------------------------- reading what was received


@dataclass(frozen=True, slots=True)
class Received:
    """The parts of a received message a simulated person looks at."""

    from_name: str
    from_addr: str
    to_name: str
    to_addr: str
    reply_to: str
    return_path: str
    subject: str
    message_id: str
    references: tuple[str, ...]
    date: datetime
    text: str
    html: str
    header_block: bytes
    msg: EmailMessage


def _first(msg: EmailMessage, name: str) -> tuple[str, str]:
    values = msg.get_all(name) or []
    pairs = getaddresses([str(v) for v in values])
    return pairs[0] if pairs else ("", "")


def read(raw: bytes) -> Received:
    """A received message as the cast reads it."""
    msg = email.message_from_bytes(raw, policy=default)
    from_name, from_addr = _first(msg, "From")
    to_name, to_addr = _first(msg, "To")
    _, reply_to = _first(msg, "Reply-To")
    _, return_path = _first(msg, "Return-Path")
    try:
        sent = parsedate_to_datetime(str(msg["Date"]))
    except (TypeError, ValueError):
        sent = datetime(1970, 1, 1, tzinfo=UTC)
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    text_body = msg.get_body(("plain",))
    html_body = msg.get_body(("html",))
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    return Received(
        from_name=from_name,
        from_addr=from_addr,
        to_name=to_name,
        to_addr=to_addr,
        reply_to=reply_to or from_addr,
        return_path=return_path,
        subject=str(msg.get("Subject", "")),
        message_id=str(msg.get("Message-ID", "")).strip(),
        references=tuple(str(msg.get("References", "")).split()),
        date=sent,
        text=text_body.get_content() if text_body is not None else "",
        html=html_body.get_content() if html_body is not None else "",
        header_block=raw[: end if end >= 0 else len(raw)],
        msg=msg,
    )


def first_name(name: str, addr: str) -> str:
    """The first name of a participant, for the cast's greeting."""
    if name:
        return name.split(maxsplit=1)[0]
    return addr.split("@", maxsplit=1)[0].split(".", maxsplit=1)[0].capitalize()


def inner_html(html: str) -> str:
    """What is inside <body>: clients drop the original's head when they quote it."""
    m = re.search(r"<body[^>]*>(.*)</body>", html, re.DOTALL | re.IGNORECASE)
    return m.group(1) if m else html


def question_number(line: str) -> int | None:
    """The number of a question line of our evaluation request ("1. Hoe waardevol ...")."""
    m = _QUESTION.match(line.strip())
    return int(m.group(1)) if m else None


def flowed(line: str, prefix: str = "", width: int = 72) -> list[str]:
    """One line as RFC 3676 format=flowed lines: soft breaks end in a space."""
    if len(prefix) + len(line) <= width or " " not in line:
        return [prefix + line]
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(prefix) + len(current) + len(word) + 1 > width:
            out.append(prefix + current + " ")
            current = word
        else:
            current = f"{current} {word}" if current else word
    out.append(prefix + current)
    return out


# ------------------------------------------------------------------ dates in Dutch


def nl_gmail(moment: datetime) -> str:
    """Gmail's attribution date: ``do 14 jan. 2027 om 12:30``."""
    t = moment.astimezone(BRUSSELS)
    return (
        f"{_NL_DAYS[t.weekday()][:2]} {t.day} {_NL_MONTHS_SHORT[t.month - 1]} {t.year} om {t:%H:%M}"
    )


def nl_apple(moment: datetime) -> str:
    """Apple Mail's: ``14 jan. 2027 om 12:30``."""
    t = moment.astimezone(BRUSSELS)
    return f"{t.day} {_NL_MONTHS_SHORT[t.month - 1]} {t.year} om {t:%H:%M}"


def nl_outlook(moment: datetime) -> str:
    """Outlook's "Verzonden:" line: ``donderdag 14 januari 2027 12:30``."""
    t = moment.astimezone(BRUSSELS)
    return f"{_NL_DAYS[t.weekday()]} {t.day} {_NL_MONTHS[t.month - 1]} {t.year} {t:%H:%M}"


def nl_thunderbird(moment: datetime) -> str:
    """Thunderbird's: ``14-01-2027 om 12:30``."""
    return f"{moment.astimezone(BRUSSELS):%d-%m-%Y om %H:%M}"


def nl_day(moment: datetime) -> str:
    """A day written out in Dutch ("dinsdag 12 januari")."""
    t = moment.astimezone(BRUSSELS)
    return f"{_NL_DAYS[t.weekday()]} {t.day} {_NL_MONTHS[t.month - 1]}"
