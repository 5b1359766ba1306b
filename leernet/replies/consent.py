"""Reading yes and no where a person's privacy depends on it.

Consent to share with a manager is given only by an unambiguous yes: the whole
answer, once greeting punctuation and a sign-off are gone, is one of a short,
closed list of phrases per language ("ja", "ja hoor", "yes please", "akkoord",
"ok" alone, ...). Everything else is a no: any negation anywhere ("Zeker niet",
"Ok, liever niet", "Sure, but no"), mixed or conditional wording ("ja, maar enkel
vraag 2"), or wording we do not know. STYLE rule 17: when unsure, the answer is no.

An ordinary yes/no question (not about sharing) is read the same way for yes,
but a text that is neither a clear yes nor carries a negation is "unknown"
rather than no, so the participant is asked about it instead.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

# The closed lists. No phrase here may contain a word of ``_NEGATIONS``.
_YES: frozenset[str] = frozenset(
    {
        # Dutch, as Flemish participants write it
        "ja",
        "jaa",
        "ja hoor",
        "ja graag",
        "ja zeker",
        "ja zeker hoor",
        "ja dat mag",
        "ja prima",
        "ja ok",
        "ja oke",
        "ja akkoord",
        "jazeker",
        "jawel",
        "jep",
        "akkoord",
        "ok",
        "oke",
        "okee",
        "okay",
        "dat mag",
        "mag",
        "dat is goed",
        "is goed",
        "prima",
        "goed",
        "zeker",
        "zeker hoor",
        "natuurlijk",
        "uiteraard",
        # English
        "yes",
        "yes please",
        "yes sure",
        "yes of course",
        "yes that's fine",
        "yes thats fine",
        "yes ok",
        "yes okay",
        "yep",
        "yeah",
        "agreed",
        "i agree",
        "sure",
        "of course",
        "certainly",
        "fine",
        "absolutely",
        # French (for participants who answer in French)
        "oui",
        "oui volontiers",
        "d'accord",
        "oui d'accord",
    }
)
# Words that make any answer a no, whatever else it says (compared per word, lower case,
# accents removed). "n't" covers don't, won't, isn't, ...
_NEGATIONS: frozenset[str] = frozenset(
    {
        "nee",
        "neen",
        "neeje",
        "niet",
        "niets",
        "geen",
        "nooit",
        "liever",  # "liever niet", "liever zelf vertellen": a preference, not a yes
        "stop",
        "no",
        "nope",
        "nah",
        "not",
        "never",
        "none",
        "nothing",
        "neither",
        "nor",
        "rather",  # "rather not"
        "non",
        "pas",  # French "ne ... pas"
        "jamais",
        "nein",
        "nicht",
        "kein",
        "keine",
    }
)
# Words that make a yes conditional or mixed: not in the closed list anyway, but named so
# that an ordinary yes/no question is not read as a plain yes either.
_DOUBT: frozenset[str] = frozenset(
    {"maar", "but", "mais", "misschien", "maybe", "perhaps", "enkel", "alleen", "only", "if", "als"}
)
_WORD = re.compile(r"[a-z']+")
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")  # punctuation, emoji and spaces around the answer
_MAX = 200  # a yes is a few words; longer text is never read as one


class Said(StrEnum):
    """What a yes/no answer says."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def _plain(text: str) -> str:
    """Lower case, accents removed, curly quotes straightened, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'").replace("‘", "'"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def _words(plain: str) -> list[str]:
    words = _WORD.findall(plain)
    # "don't", "isn't", "won't": the "n't" is a negation of its own.
    return [w for word in words for w in (["not"] if word.endswith("n't") else [word])]


def has_negation(text: str) -> bool:
    """Whether ``text`` says no or not anywhere (nee, niet, geen, no, not, never, n't, ...)."""
    return any(w in _NEGATIONS for w in _words(_plain(text[: _MAX * 50])))


def read_yes_no(text: str) -> Said:
    """A yes only when the whole answer is an unambiguous yes; a no when it negates anything."""
    plain = _plain(text[: _MAX * 50])
    words = _words(plain)
    if any(w in _NEGATIONS for w in words):
        return Said.NO
    if len(plain) > _MAX or any(w in _DOUBT for w in words):
        return Said.UNKNOWN
    phrase = " ".join(_EDGE.sub("", plain).replace(",", " ").replace("!", " ").split())
    return Said.YES if phrase in _YES else Said.UNKNOWN


def consents(text: str) -> bool:
    """Whether ``text`` gives consent: only an unambiguous yes does; doubt is a no."""
    return read_yes_no(text) is Said.YES
