"""Text bytes of incoming mail as str: the charset as written, and a decoding that never fails.

Outlook's "iso-8859-1" is read as windows-1252 (as WHATWG Encoding does); an
unknown or slow codec falls back to UTF-8, then windows-1252, then Latin-1.
"""

from __future__ import annotations

import codecs
from email.message import Message

# Codecs whose decoding is quadratic: "punycode" took 51 s for 320 kB. No mail client
# labels text with them; such a label is treated as unknown (UTF-8, then Latin-1).
SLOW_CODECS = frozenset({"punycode"})
_LATIN1_ALIASES = frozenset(
    {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii"}
)


def content_charset(part: Message) -> str:
    """The charset parameter as written, lower case ("" when absent or unreadable).

    Not ``get_content_charset()``: it decodes an RFC 2231 ``charset*=`` value in the
    charset that value declares, and "punycode" makes that quadratic.
    """
    try:
        value = part.get_param("charset")
    except Exception:
        return ""
    if isinstance(value, tuple):
        value = value[2]  # RFC 2231 (charset, language, value): a charset name is ASCII
    return value.strip().lower() if isinstance(value, str) and value.isascii() else ""


def decode_bytes(raw: bytes, charset: str) -> str:
    """Decode ``raw`` with ``charset``, falling back to UTF-8 and then Latin-1; never raises."""
    name = charset.strip().strip('"').lower()
    if name in _LATIN1_ALIASES:
        # Outlook labels text iso-8859-1 yet writes windows-1252 bytes (curly quotes, €);
        # WHATWG Encoding maps these labels to windows-1252 for the same reason.
        name = "windows-1252"
    codec = None
    if name:
        try:
            codec = codecs.lookup(name).name
        except (LookupError, ValueError):
            codec = None
        if codec in SLOW_CODECS:
            codec = None
    if codec is not None:
        try:
            return raw.decode(codec)
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lenient = raw.decode("utf-8", errors="replace")
    if lenient.count("\ufffd") * 100 <= len(lenient):
        return lenient  # mostly UTF-8 with a stray byte: keep the UTF-8 reading
    try:
        return raw.decode("windows-1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # every byte is a Latin-1 character: this cannot fail
