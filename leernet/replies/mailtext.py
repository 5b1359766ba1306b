"""The text of a reply: its readable body, and where the participant's own text ends.

``reply_text`` prefers text/plain and falls back to text/html turned into text;
a reader that fails raises ``ParseError`` (the processor sets that mail aside).
Quotes survive the conversion as ``>`` lines, so ``leernet.replies.answers`` can
still find answers written between quoted questions. ``new_text`` cuts at the
quoted original (Gmail/Apple/Thunderbird attribution lines, Outlook's
"Van:/From:" block, "-----Original Message-----"), a "-- " signature, "Sent
from my iPhone" lines, disclaimers and the closing greeting.
"""

from __future__ import annotations

import re
from email.message import Message
from functools import lru_cache
from typing import TYPE_CHECKING

from leernet.errors import ParseError
from leernet.replies.charsets import content_charset, decode_bytes
from leernet.replies.html_text import html_to_text

if TYPE_CHECKING:
    from collections.abc import Sequence

_MAX_HTML = 1_000_000
_MAX_DEPTH = 30  # a deeper MIME tree is not a real reply; stop instead of recursing forever


_LONG_LINE = 600  # a paragraph, never a boundary line
_SENT_FROM_LINE = 120  # "Sent from my iPhone" lines are short
_HEADER_LINE = 300  # an attribution or a header line of the quoted original
_SIGNATURE_LINE = 80  # the lines of a signature
_NAME_AFTER_BLANK = 3  # a text, a blank line, a name: a signed-off reply


def reply_text(msg: Message) -> str:
    """The readable body of ``msg``: its text/plain, else its HTML as text.

    A mail without text gives ""; a reader that fails raises :class:`ParseError`, so
    that a bug is never taken for an empty reply (and answered with "answer again").
    """
    try:
        plain, html = _texts(msg, 0, top=True)
        if plain.strip():
            return plain
        if html.strip():
            # Pasted images as data: URIs can make HTML megabytes long; the answers are on top.
            return html_to_text(html[:_MAX_HTML])
    except Exception as exc:
        raise ParseError(f"mail text not read: {type(exc).__name__}: {exc}"[:300]) from exc
    return ""


def _texts(part: Message, depth: int, *, top: bool = False) -> tuple[str, str]:
    """(plain, html) text of ``part``: alternatives choose one branch, other multiparts join."""
    if depth > _MAX_DEPTH:
        return "", ""
    ctype = _content_type(part)
    if not top and _is_attachment(part):
        return "", ""
    if ctype.startswith("multipart/"):
        children = part.get_payload()
        if not isinstance(children, list):
            return "", ""
        pieces = [_texts(c, depth + 1) for c in children if isinstance(c, Message)]
        if ctype == "multipart/alternative":
            # RFC 2046 5.1.4 orders alternatives plainest first; we want the plainest readable one.
            plain = next((p for p, _ in pieces if p.strip()), "")
            html = next((h for _, h in pieces if h.strip()), "")
            return plain, html
        return (
            "\n".join(p for p, _ in pieces if p.strip()),
            "\n".join(h for _, h in pieces if h.strip()),
        )
    if ctype.startswith("message/") and not top:
        return "", ""  # a forwarded or bounced message is not the participant's own text
    if ctype == "text/html":
        return "", _decoded(part)
    if ctype in ("text/plain", "text/markdown", "text/enriched") or (top and ctype == "text"):
        text = _decoded(part)
        if _param(part, "format").lower() == "flowed":
            text = unflow(text, delsp=_param(part, "delsp").lower() == "yes")
        return text, ""
    return "", ""


def _content_type(part: Message) -> str:
    try:
        return str(part.get_content_type()).lower()
    except Exception:
        return "text/plain"


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    return value if isinstance(value, str) else ""


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        return False
    return disposition == "attachment"


def _decoded(part: Message) -> str:
    """The payload as text, whatever the Content-Transfer-Encoding and declared charset."""
    try:
        raw = part.get_payload(decode=True)
    except Exception:
        raw = None
    if raw is None:
        try:
            payload = part.get_payload()
        except Exception:
            return ""
        return payload if isinstance(payload, str) else ""
    if not isinstance(raw, bytes):
        return str(raw)
    return decode_bytes(raw, content_charset(part))


def unflow(text: str, *, delsp: bool = False) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, keep quote depth and hard breaks."""
    out: list[str] = []
    pending: str | None = None
    pending_depth = -1
    for raw_line in text.replace("\r\n", "\n").split("\n"):
        depth = len(raw_line) - len(raw_line.lstrip(">"))
        line = raw_line[depth:]
        line = line.removeprefix(" ")  # RFC 3676 4.4: space-stuffing
        if pending is not None and depth != pending_depth:
            out.append(_quoted(pending, pending_depth))  # 4.5: a depth change ends the paragraph
            pending = None
        flowed = line.endswith(" ") and line != "-- "  # 4.3: the signature separator stays fixed
        if flowed and delsp:
            line = line[:-1]
        pending = line if pending is None else pending + line
        pending_depth = depth
        if not flowed:
            out.append(_quoted(pending, depth))
            pending = None
    if pending is not None:
        out.append(_quoted(pending, pending_depth))
    return "\n".join(out)


def _quoted(line: str, depth: int) -> str:
    return ("> " * depth + line) if depth else line


# --- where the participant's own text ends -------------------------------------------------

_ATTRIBUTION_START = re.compile(r"^(?:op|on|le|am|el|il|den|w dniu)\s", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(  # Gmail nl writes the name after the verb: "... schreef X <x@y>:"
    r"\b(?:schreef|wrote|geschreven|a écrit|schrieb|escribió|ha scritto|skrev)\b[^\n]{0,200}:\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_ON = re.compile(  # "Lerend netwerk <x@y> schreef op 14-01-2027 11:30:" (Thunderbird)
    r"\b(?:schreef|wrote|schrieb) (?:op|on|am)\b[^\n]{0,80}:\s*$", re.IGNORECASE
)
_HEADER_FROM = re.compile(r"^[*_]{0,2}(?:van|from|de|von)[*_]{0,2}\s?:", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^[*_]{0,2}(?:verzonden|sent|datum|date|aan|to|onderwerp|subject|envoyé|objet|à|gesendet|"
    r"an|betreff|cc|bcc|reply-to|beantwoorden aan)[*_]{0,2}\s?:",
    re.IGNORECASE,
)
_ORIGINAL = re.compile(
    r"^-{2,}\s*(?:original message|oorspronkelijk(?: e-?mail)? ?bericht|origineel bericht|"
    r"doorgestuurd bericht|forwarded message|message d'origine|ursprüngliche nachricht|"
    r"mensaje original)\s*-{2,}|^begin (?:forwarded message|doorgestuurd bericht):",
    re.IGNORECASE,
)
_SENT_FROM = re.compile(
    r"^(?:sent from (?:my|outlook|mail for)|sent (?:via|with) |get outlook for|"
    r"(?:verzonden|verstuurd) (?:vanaf|met|via|van) |outlook voor (?:ios|android)|"
    r"envoyé (?:de|depuis) |von meinem .{1,40} gesendet|gesendet von)",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"^[*_\[]{0,2}(?:disclaimer|confidentiality notice|caution:|external email|"
    r"\[?extern(?:al)?\]|let op:? deze e-?mail|opgelet:? deze e-?mail|"
    r"this (?:e-?mail|message)(?: and any attachments?)? (?:is|are|may|contains?|originated)|"
    r"the information (?:contained )?in this (?:e-?mail|message)"
    r"|(?:dit|deze) (?:e-?mail(?:bericht)?|bericht)(?: en (?:de|eventuele) bijlagen?)? (?:is|kan|"
    r"bevat|zijn|werd)|de informatie (?:verzonden )?in dit (?:e-?mail)?bericht|"
    r"aan (?:de inhoud van )?dit bericht kunnen geen rechten)",
    re.IGNORECASE,
)
_SIGNOFF = re.compile(
    r"^(?i:(?:met )?(?:vriendelijke|hartelijke|beste|warme|collegiale|fijne|zonnige|lieve) "
    r"groet(?:en|jes)?|groet(?:en|jes)?|grtz|mvg|vg|bedankt|dank(?:je| je| u)?(?: wel)?|"
    r"alvast bedankt|merci|tot (?:de |een )?volgende(?: keer)?|tot (?:binnenkort|dan|snel)|"
    r"(?:best|kind|warm|kindest|many) regards|regards|best wishes|best|cheers|thanks|thank you|"
    r"many thanks|all the best|cordialement|groetjes)"
    # Possessive: punctuation, name and trailing dots cannot be split in more than one way,
    # so "groeten" and 40,000 dots is one pass, not 800 million tries.
    r"[\s,.!:;-]*+(?:[A-ZÀ-Ý][\w'’.-]*+(?:\s++(?:van |de |der |den )?[A-ZÀ-Ý][\w'’.-]*+){0,2})?"
    r"[\s,.!]*+$",  # the greeting in any case, a name only when it is capitalised
)
_MAX_SIGNOFF = 300  # a closing line is short; a longer line is text, not a greeting
_NAME = re.compile(r"^[A-ZÀ-Ý][a-zà-ÿ'’-]+(?:\s+(?:van |de |der |den )?[A-ZÀ-Ý][\w'’-]+){0,2}$")
_NOT_NAMES = frozenset(
    {
        "ja",
        "nee",
        "neen",
        "yes",
        "no",
        "ok",
        "oké",
        "akkoord",
        "prima",
        "zeker",
        "goed",
        "afwezig",
        "absent",
        "een",
        "twee",
        "drie",
        "vier",
        "vijf",
        "one",
        "two",
        "three",
        "four",
        "five",
        "geen",
        "niets",
        "nothing",
        "none",
        "niet",
    }
)
_LIBRARY_LINES = 400  # the header check of mailparser_reply is quadratic per line: look at the top


def quote_depth(line: str) -> int:
    """How many ``>`` quote this line (RFC 3676 4.5 writes them together, clients also "> > ")."""
    depth = 0
    for ch in line.lstrip(" \t"):
        if ch == ">":
            depth += 1
        elif ch not in " \t":
            break
    return depth


def unquote(line: str) -> str:
    """The line without its quote markers."""
    return line.lstrip(" \t>").strip() if quote_depth(line) else line.strip()


def is_boundary(lines: Sequence[str], i: int) -> bool:
    """Whether line ``i`` starts the quoted original, a signature or a "Sent from" line."""
    line = lines[i].strip()
    if not line or quote_depth(lines[i]) or len(line) > _LONG_LINE:
        return False
    if line in ("--", "-- ") or _ORIGINAL.match(line) or re.fullmatch(r"[_\-]{20,}", line):
        return True
    if len(line) <= _SENT_FROM_LINE and _SENT_FROM.match(line):
        return True
    return _attribution(lines, i) or _header_block(lines, i)


def _attribution(lines: Sequence[str], i: int) -> bool:
    line = lines[i].strip()
    if _ATTRIBUTION_ON.search(line):
        return True
    if not _ATTRIBUTION_START.match(line):
        return False
    if _ATTRIBUTION_END.search(line):
        return True
    # Gmail wraps a long "Op ... schreef X <x@y>:" over two lines in text/plain.
    following = lines[i + 1].strip() if i + 1 < len(lines) else ""
    return (
        bool(following)
        and len(following) <= _HEADER_LINE
        and not quote_depth(lines[i + 1])
        and _ATTRIBUTION_END.search(f"{line} {following}") is not None
    )


def _header_block(lines: Sequence[str], i: int) -> bool:
    if not _HEADER_FROM.match(lines[i].strip()):
        return False
    return any(_HEADER_OTHER.match(lines[j].strip()) for j in range(i + 1, min(i + 6, len(lines))))


def cut_index(lines: Sequence[str], language: str = "nl") -> int:
    """The index of the first line that is no longer the participant's new text."""
    library = _library_headers(language)
    for i in range(len(lines)):
        if is_boundary(lines, i):
            return i
        if i < _LIBRARY_LINES and _library_boundary(library, lines, i):
            return i
    return len(lines)


@lru_cache(maxsize=8)
def _library_headers(language: str) -> re.Pattern[str] | None:
    """mailparser_reply's reply-header pattern (its own languages plus ours), if it loads."""
    try:
        from mailparser_reply.parser import EmailMessage  # noqa: PLC0415 - optional helper

        languages = [language, "nl", "en", "fr", "de", "es", "it"]
        pattern = EmailMessage(text="", languages=list(dict.fromkeys(languages))).HEADER_REGEX
    except Exception:
        return None
    return pattern if isinstance(pattern, re.Pattern) else None


def _library_boundary(pattern: re.Pattern[str] | None, lines: Sequence[str], i: int) -> bool:
    line = lines[i]
    if pattern is None or quote_depth(line) or not line.strip() or len(line) > _HEADER_LINE:
        return False
    following = lines[i + 1] if i + 1 < len(lines) and len(lines[i + 1]) <= _HEADER_LINE else ""
    m = pattern.search(f"{line.strip()}\n{following.strip()}")
    return m is not None and m.start() == 0


def strip_signoff(text: str) -> str:
    """``text`` without a closing greeting, the name or signature under it, or a lone name."""
    lines = text.rstrip().split("\n")
    for i in range(len(lines) - 1, max(-1, len(lines) - 10), -1):
        line = lines[i].strip()
        if (
            line
            and len(line) <= _MAX_SIGNOFF
            and _SIGNOFF.match(line)
            and all(len(rest) <= _SIGNATURE_LINE for rest in lines[i + 1 :])
        ):
            lines = lines[:i]
            break
    while lines and not lines[-1].strip():
        lines.pop()
    if (
        len(lines) >= _NAME_AFTER_BLANK
        and not lines[-2].strip()
        and _NAME.match(lines[-1].strip())
        and lines[-1].strip().lower() not in _NOT_NAMES
    ):
        lines = lines[:-1]  # "... answer\n\nBert": the participant signed with their name
    return "\n".join(lines).rstrip()


def new_text(body: str, language: str = "nl") -> str:
    """The participant's new text: before the quoted original, without quotes and sign-off."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").replace("\u200b", "").split("\n")
    lines = [line.rstrip() for line in lines[: cut_index(lines, language)]]
    lines = [line for line in lines if not quote_depth(line)]
    lines = _without_disclaimers(lines)
    return strip_signoff("\n".join(lines)).strip("\n")


def _without_disclaimers(lines: list[str]) -> list[str]:
    start, seen_content = 0, False
    for i, line in enumerate(lines):
        if i < start:
            continue
        starts_paragraph = i == start or not lines[i - 1].strip()
        if starts_paragraph and _DISCLAIMER.match(line.strip()):
            if not seen_content:  # a banner above the text ("[EXTERN] ..."): drop its paragraph
                start = next((j for j in range(i, len(lines)) if not lines[j].strip()), len(lines))
                continue
            return lines[start:i]
        seen_content = seen_content or bool(line.strip())
    return lines[start:]
