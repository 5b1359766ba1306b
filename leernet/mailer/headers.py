"""Careful readers of the headers that decide whether a reply is trusted.

Everything here works on ``compat32`` messages (header values are raw,
unfolded-on-demand strings: parsing them ourselves is 4-5x cheaper than
``policy.default``) and never raises.
"""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.utils import getaddresses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.message import Message

# RFC 5322 3.4.1 dot-atom addr-spec, ASCII only. Quoted local parts, IP-literal
# domains and 8-bit addresses are legal but never used by participants; refusing
# them leaves no room for parser differentials between us and the sender's MTA.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})+"
_ADDR_RE = re.compile(rf"^{_ADDR_SPEC}$")
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_WORD = r"[^\s\"<>@,;:()\[\]\\]+"
_PHRASE = rf"(?:{_QUOTED}|{_WORD})(?:\s+(?:{_QUOTED}|{_WORD}))*"
_NAME_ADDR_RE = re.compile(rf"^(?:{_PHRASE})?\s*<({_ADDR_SPEC})>$")
_TRAILING_COMMENT_RE = re.compile(r"\s*\([^()\\]*\)$")  # legacy "addr (Name)"
_COMMENT_RE = re.compile(r'\([^()"<>\\]*\)')
_FOLD_RE = re.compile(r"\r?\n[ \t]")
_MSGID_RE = re.compile(r"<([^<>\s]{1,250})>")

# Google treats these as one mailbox: an address at one is the same person at the other.
_EQUIVALENT_DOMAINS = {"googlemail.com": "gmail.com"}


MAX_VALUE = 16 * 1024  # longer header values are cut: address parsing is superlinear


_LINE_LIMIT = 998  # RFC 5322 2.1.1
_VISIBLE_FIRST, _VISIBLE_LAST = 33, 126  # printable US-ASCII (RFC 5322 3.2.3 atext and specials)


def header_text(msg: Message, name: str) -> str:
    """The first ``name`` header as text ('' if absent); raw 8-bit bytes stay as surrogates."""
    values = all_headers(msg, name)
    return values[0] if values else ""


def all_headers(msg: Message, name: str) -> list[str]:
    """Every ``name`` header as text, in order (topmost first).

    Read with ``raw_items``: compat32's ``get`` turns a value with 8-bit bytes
    into a ``Header`` whose ``str`` has lost them.
    """
    wanted = name.lower()
    return [
        _FOLD_RE.sub(" ", str(value)[:MAX_VALUE]).strip()
        for key, value in msg.raw_items()
        if key.lower() == wanted
    ][:100]


def strict_address(value: str) -> str | None:
    """The one address in a From value, lower case, or None if it is not exactly one plain one.

    Refuses groups, lists, several ``@``, a bare address with a display name
    glued on, and addresses whose only readable form is inside an encoded-word
    (``=?utf-8?q?bert=40example.com?=``): the address is never decoded.
    """
    if len(value) > _LINE_LIMIT:  # nothing real is longer
        return None
    text = _TRAILING_COMMENT_RE.sub("", value.strip())
    if "<" in text:  # comments in the display name, "Bert Claes (HR) <bert@...>"
        name, _, rest = text.rpartition("<")
        text = f"{_COMMENT_RE.sub(' ', name).strip()} <{rest}"
    match = _NAME_ADDR_RE.match(text)
    if match:
        address = match.group(1)
    elif _ADDR_RE.match(text):
        address = text
    else:
        return None
    # A second opinion from the standard library: it must see the same single address.
    seen = getaddresses([value])
    if len(seen) != 1 or seen[0][1].lower() != address.lower():
        return None
    return address.lower()


def from_address(msg: Message) -> tuple[str | None, str]:
    """The sender's address if the From header is exactly one plain address, and why not."""
    values = all_headers(msg, "From")
    if len(values) != 1:
        return None, f"message has {len(values)} From headers"
    address = strict_address(values[0])
    if address is None:
        return None, f"From {values[0][:120]!r} is not exactly one plain address"
    return address, ""


def same_mailbox(a: str, b: str) -> bool:
    """Case-insensitive address equality; gmail.com and googlemail.com are one domain."""
    return _canonical(a) == _canonical(b)


def _canonical(address: str) -> str:
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local}@{_EQUIVALENT_DOMAINS.get(domain, domain)}"


def recipient_addresses(msg: Message) -> list[str]:
    """Bare addresses (lower case) in To, Cc, Delivered-To and X-Original-To, in that order."""
    found: list[str] = []
    for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
        for _, address in getaddresses(all_headers(msg, name)):
            if address and address.lower() not in found:
                found.append(address.lower())
    return found


def message_ids(msg: Message) -> list[str]:
    """Message-IDs from In-Reply-To then References (newest first), with angle brackets."""
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        values = _MSGID_RE.findall(" ".join(all_headers(msg, name)))
        if name == "References":
            values.reverse()
        for value in values:
            if f"<{value}>" not in ids:
                ids.append(f"<{value}>")
    return ids[:50]


def own_message_id(msg: Message) -> str:
    """The mail's own Message-ID as ``<id>`` when it is printable ASCII, else ''.

    It goes back out in our In-Reply-To (RFC 5322 3.6.4): 8-bit bytes or stray text
    from a broken client must not reach a header we write.
    """
    found = _MSGID_RE.search(header_text(msg, "Message-ID"))
    if found is None or not all(_VISIBLE_FIRST <= ord(c) <= _VISIBLE_LAST for c in found.group(1)):
        return ""
    return f"<{found.group(1)}>"


# DMARC results (RFC 7489 11.2) that do not verify the From domain. "none" (the
# domain publishes no policy) passes: the reply token or our secret Message-ID and
# an exact From still have to match. An error is not a pass: fail safe.
DMARC_REJECT = frozenset({"fail", "temperror", "permerror"})
_DMARC_RE = re.compile(r"(?:^|;)\s*dmarc\s*=\s*([a-z]+)", re.IGNORECASE)
MAX_AUTH_RESULTS = 8 * 1024  # of one Authentication-Results header read; real ones are < 2 KB


def dmarc_result(msg: Message, authserv_id: str) -> str | None:
    """The DMARC verdict of our own server's Authentication-Results headers, else None.

    RFC 8601 2.2: ``authserv-id [version]; method=result ...``. Only headers with
    our authserv-id are read, and every one of them (one per milter): the worst
    verdict counts, so a "pass" added by a sender below ours changes nothing.
    Without an authserv-id nothing is trusted and None is returned.
    """
    if not authserv_id:
        return None
    wanted = authserv_id.strip().lower()
    if wanted == MICROSOFT_365:
        return _exchange_online_dmarc(all_headers(msg, "Authentication-Results")[:1])
    found: list[str] = []
    for value in all_headers(msg, "Authentication-Results"):
        text = strip_comments(value[:MAX_AUTH_RESULTS])
        head, _, rest = text.partition(";")
        parts = head.split()
        if not parts or parts[0].lower() != wanted:
            continue
        match = _DMARC_RE.search(rest)
        found.append(match.group(1).lower() if match else "none")
    rejected = [r for r in found if r in DMARC_REJECT]
    if rejected:
        return rejected[0]
    if "pass" in found:
        return "pass"
    return found[0] if found else None


MICROSOFT_365 = "microsoft365"  # LEERNET_AUTHSERV_ID for Exchange Online
_COMPAUTH_FAIL_RE = re.compile(r"(?:^|;)\s*compauth\s*=\s*fail\b", re.IGNORECASE)


def _exchange_online_dmarc(topmost: list[str]) -> str | None:
    """The verdict of the header Exchange Online prepends: it has no authserv-id.

    ``spf=pass (…) smtp.mailfrom=…; dkim=…; dmarc=pass action=none header.from=…;
    compauth=pass reason=100``. Only the topmost header is read (a sender's own
    are below it); one that starts with an authserv-id is not Microsoft's.
    compauth=fail is Microsoft's own spoofing verdict: read as a DMARC fail.
    """
    if not topmost:
        return None
    text = strip_comments(topmost[0][:MAX_AUTH_RESULTS])
    first = text.split(";", 1)[0].split()
    if not first or "=" not in first[0]:
        return None
    if _COMPAUTH_FAIL_RE.search(text):
        return "fail"
    match = _DMARC_RE.search(text)
    return match.group(1).lower() if match else "none"


def strip_comments(value: str) -> str:
    """``value`` with its RFC 5322 comments (nested parentheses) blanked, in one pass.

    A quoted string keeps its parentheses; a backslash escapes the next character.
    """
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for match in _COMMENT_TOKEN.finditer(value):
        piece = match.group()
        if depth == 0:
            out.append(value[start : match.start()])
        start = match.end()
        if piece[0] == "\\":  # a quoted-pair
            if depth == 0:
                out.append(piece)
        elif quoted:
            out.append(piece)
            quoted = piece != '"'
        elif piece == '"':
            if depth == 0:
                quoted = True
                out.append(piece)
        elif piece == "(":
            if depth == 0:
                out.append(" ")
            depth += 1
        elif depth:
            depth -= 1
        else:
            out.append(piece)  # a stray ")"
    if depth == 0:
        out.append(value[start:])
    return "".join(out)


_COMMENT_TOKEN = re.compile(r'\\.?|[()"]', re.DOTALL)


def decoded(value: str) -> str:
    """An RFC 2047 header value as text; the raw value if it does not decode."""
    if any("\udc80" <= c <= "\udcff" for c in value):
        # compat32 keeps raw 8-bit header bytes as surrogates; clients that send them use UTF-8.
        raw = value.encode("utf-8", "surrogateescape")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    if "?punycode?" in value.lower():
        return value  # quadratic to decode (51 s for 320 kB); no client writes it
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def addresses_in(text: str) -> list[str]:
    """Every plain address in free text, lower case, first occurrence order."""
    found: list[str] = []
    # Token by token: a regex search over the whole text backtracks quadratically.
    for word in text.split():
        if "@" not in word:
            continue
        address = word.strip("<>()[]{},;:\"'.!?").removeprefix("mailto:")
        if _ADDR_RE.match(address) and address.lower() not in found:
            found.append(address.lower())
    return found


def message_id(raw: bytes) -> str | None:
    """The first Message-ID header of the header section, unfolded (a scan, not a parse)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    found = _MESSAGE_ID.search(head)
    if found is None:
        return None
    text = " ".join(found.group(1).decode("utf-8", "replace").split())[:998]
    return text or None


# At the start of a header line; RFC 5322 2.2.3: a folded value continues on lines that
# start with white space.
_MESSAGE_ID = re.compile(rb"^message-id[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
