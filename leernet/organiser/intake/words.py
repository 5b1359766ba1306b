"""What an organiser's short answer says: a confirmation (START/ja/yes/oui) or a command (status, export).

Fail safe (STYLE 17): a confirmation counts only as a word alone on a line of
the organiser's new text (before any quote), and not when any word of it says
no; anything else is "not confirmed" and gets a new preview, never an action.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from leernet.replies.mailtext import new_text

CONFIRM = frozenset({"start", "ja", "yes", "oui"})
_REFUSE = frozenset({"nee", "neen", "no", "non", "niet", "stop", "annuleer", "cancel", "annuler"})
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|antw|antwoord|tr|fw|fwd|wg|doorst)\s*:\s*)+", re.IGNORECASE
)


class Command(StrEnum):
    """What an organiser's mail asks for."""

    STATUS = "status"
    EXPORT = "export"


_COMMANDS = {
    "status": Command.STATUS,
    "stand": Command.STATUS,
    "stand van zaken": Command.STATUS,
    "overzicht": Command.STATUS,
    "statut": Command.STATUS,
    "etat": Command.STATUS,
    "etat des lieux": Command.STATUS,
    "export": Command.EXPORT,
    "exporteer": Command.EXPORT,
    "exporteren": Command.EXPORT,
    "exporter": Command.EXPORT,
    "exportation": Command.EXPORT,
}


def _word(line: str) -> str:
    plain = unicodedata.normalize("NFKD", line)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", plain)).strip()


def confirms(body: str, language: str = "nl") -> bool:
    """True when the organiser's new text has START/ja/yes/oui alone on a line and no word says no."""
    lines = [_word(line) for line in new_text(body, language).split("\n")]
    words = {w for line in lines for w in line.split()}
    return any(line in CONFIRM for line in lines) and not words & _REFUSE


def command(subject: str, body: str, language: str = "nl") -> Command | None:
    """``status`` or ``export`` (nl/en/fr) opening the subject or the first line of the new text.

    What follows the word may name the network ("status hr-ovl-2027").
    """
    said = _leading(_REPLY_PREFIX.sub("", subject))
    if said is not None:
        return said
    first = next((line for line in new_text(body, language).split("\n") if line.strip()), "")
    return _leading(first)


# Words that may open a longer line ("status hr-ovl-2027"). Not "overzicht" or "stand": a
# reply to a digest ("Re: Overzicht: sessie 1") is a roll call, never a command.
_LEADING = {"status", "statut", "export", "exporteer", "exporteren", "exporter"}


def _leading(line: str) -> Command | None:
    words = _word(line).split()
    whole = _COMMANDS.get(" ".join(words))
    if whole is not None or not words or words[0] not in _LEADING:
        return whole
    return _COMMANDS[words[0]]
