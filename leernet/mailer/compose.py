"""Rendered text + optional iCalendar -> the bytes of one RFC 5322 message.

The MIME is written directly (not through ``EmailMessage.as_bytes``, which costs
~3 ms a message; MAIL-NOTES): parts are base64 (calendar) or quoted-printable
(text, HTML), headers are RFC 2047-encoded where they hold non-ASCII. Shapes:

* invite: ``multipart/mixed[multipart/alternative[text/plain, text/html,
  text/calendar; method=REQUEST], invite.ics]`` — the shape Outlook, Gmail and
  Apple render with Accept/Decline buttons.
* everything else: ``multipart/alternative[text/plain, text/html]``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

_UNSAFE = re.compile(r"[\r\n\x00]+")


_ONE_LINE = 900  # a header this long still fits the 998-octet line limit (RFC 5322 2.1.1)
_SHORT_LINE = 78  # RFC 5322 2.1.1: lines SHOULD stay within 78 characters


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message's texts: a one-line subject, the text part and the HTML part."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a message is from and to, and how it threads."""

    from_name: str
    from_address: str
    to_name: str
    to_address: str
    reply_to: str | None = None  # the plus-address with the participant's token
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: str = "auto-generated"  # RFC 3834; "auto-replied" for confirmations
    language: str = "nl"


def message_id(key: str, domain: str, secret: str) -> str:
    """A stable Message-ID per outbox key: a resend after a crash carries the same one.

    An HMAC of the key with the secret: keys are built from what anyone can read
    (the slug in an invite's UID, an address), and a reply that cites one of our
    Message-IDs names its participant when plus addressing is not available.
    """
    digest = message_id_mac(secret, key)
    return f"<leernet.{digest}@{domain}>"


def message_id_mac(secret: str, key: str) -> str:
    """The secret part of a Message-ID: 128 bits of HMAC-SHA256 in hex."""
    mac = hmac.new(secret.encode("utf-8"), f"leernet-message-id\0{key}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def _clean(value: str) -> str:
    return _UNSAFE.sub(" ", value).strip()


def _addr(name: str, address: str, header: str) -> str:
    name, address = _clean(name), _clean(address)
    single = formataddr((name, address), charset="utf-8")
    if name.isascii() or len(single) + len(header) + 2 <= _ONE_LINE:
        # One encoded-word: every client reads it back exactly (some parsers, Python's
        # among them, put a space between adjacent encoded-words in a display name).
        return single
    # Only a very long name: encoded-words folded with CRLF (RFC 2047 2, RFC 5322 2.2.3),
    # so no line grows past 998 octets.
    encoded = Header(name, "utf-8", header_name=header).encode(linesep="\r\n", maxlinelen=76)
    short = "\r\n" not in encoded and len(header) + len(encoded) + len(address) + 5 <= _SHORT_LINE
    return f"{encoded}{' ' if short else chr(13) + chr(10) + ' '}<{address}>"


def _header_text(value: str) -> str:
    value = _clean(value)
    if value.isascii() and len(value) < _ONE_LINE:
        return value
    # Header folds with a bare LF unless told otherwise; mail wants CRLF (Postfix >= 3.9
    # refuses bare LF: smtpd_forbid_bare_newline).
    return Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n", maxlinelen=76)


def _qp(text: str) -> bytes:
    body = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    # b2a_qp (C) wraps at 76 with soft breaks (RFC 2045 6.7); it writes LF, mail wants CRLF.
    return binascii.b2a_qp(body, istext=True, header=False).replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    raw = base64.b64encode(data)
    return b"\r\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))


def _part(content_type: str, body: bytes, encoding: str, extra: str = "") -> bytes:
    head = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: {encoding}\r\n{extra}"
    return head.encode("ascii") + b"\r\n" + body + b"\r\n"


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode("ascii")]
    for p in parts:
        out.append(f"--{boundary}\r\n".encode("ascii"))
        out.append(p)
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent along: its name, MIME type and bytes."""

    filename: str
    content_type: str
    data: bytes


def _attachment(a: Attachment) -> bytes:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", a.filename)[:80] or "bijlage"
    disposition = f'Content-Disposition: attachment; filename="{name}"\r\n'
    if a.content_type == "message/rfc822":
        # RFC 2046 5.2.1: a message/rfc822 part is 7bit, 8bit or binary, never base64; our
        # own mail is 7bit (QP and base64 inside), so it goes in as it is.
        body = a.data if a.data.endswith(b"\r\n") else a.data + b"\r\n"
        return _part(f'message/rfc822; name="{name}"', body, "7bit", disposition)
    return _part(f'{a.content_type}; name="{name}"', _b64(a.data), "base64", disposition)


def compose(
    envelope: Envelope,
    rendered: Rendered,
    *,
    msg_id: str,
    date: datetime,
    calendar: bytes | None = None,
    method: str = "REQUEST",
    attachments: tuple[Attachment, ...] = (),
) -> bytes:
    """The full message bytes (CRLF line ends)."""
    seed = hashlib.sha256(msg_id.encode("utf-8")).hexdigest()
    headers = [
        f"From: {_addr(envelope.from_name, envelope.from_address, 'From')}",
        f"To: {_addr(envelope.to_name, envelope.to_address, 'To')}",
    ]
    if envelope.reply_to:
        headers.append(f"Reply-To: {_addr(envelope.from_name, envelope.reply_to, 'Reply-To')}")
    headers += [
        f"Subject: {_header_text(rendered.subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {msg_id}",
    ]
    if envelope.in_reply_to:
        headers.append(f"In-Reply-To: {_clean(envelope.in_reply_to)}")
    refs = [r for r in envelope.references if r]
    if refs:
        headers.append(f"References: {_clean(' '.join(refs))}")
    headers += [
        "MIME-Version: 1.0",
        f"Auto-Submitted: {envelope.auto_submitted}",
        f"Content-Language: {'nl-BE' if envelope.language == 'nl' else 'en'}",
    ]
    text = _part('text/plain; charset="utf-8"', _qp(rendered.text), "quoted-printable")
    html = _part('text/html; charset="utf-8"', _qp(rendered.html), "quoted-printable")
    if calendar is None:
        body = _multipart("alternative", f"alt-{seed[:24]}", [text, html])
        if attachments:
            files = [_attachment(a) for a in attachments]
            body = _multipart("mixed", f"mix-{seed[24:48]}", [body, *files])
    else:
        cal_inline = _part(
            f'text/calendar; method={method}; charset="UTF-8"', _b64(calendar), "base64"
        )
        cal_file = _part(
            'application/ics; name="invite.ics"',
            _b64(calendar),
            "base64",
            'Content-Disposition: attachment; filename="invite.ics"\r\n',
        )
        alternative = _multipart("alternative", f"alt-{seed[:24]}", [text, html, cal_inline])
        body = _multipart("mixed", f"mix-{seed[24:48]}", [alternative, cal_file])
    return ("\r\n".join(headers) + "\r\n").encode("ascii") + body
