"""What an answer's words mean: a rating from 1 to 5, and whether a reply says its writer was absent."""

from __future__ import annotations

import re

from leernet.records.facts import MAX_RATING

_WORD_RATINGS = {
    "een": 1,
    "één": 1,
    "eén": 1,
    "one": 1,
    "twee": 2,
    "two": 2,
    "drie": 3,
    "three": 3,
    "vier": 4,
    "four": 4,
    "vijf": 5,
    "five": 5,
}
_RATING = re.compile(
    r"^(-?\d+(?:[.,]\d+)?|[a-zéè]+)\b\s*(?:(?:/|van|op|uit|out\s+of|of)\s*(\d+))?", re.IGNORECASE
)
_WORD_RATING_REST = re.compile(r"^(?:[!.,;:()]|ster|star|punt|point|op\b|van\b|uit\b|out\b)")
_RATING_RANGE = re.compile(r"^\d\s*(?:-|–|of|or|à|a|tot|to|en|and)\s*\d\b", re.IGNORECASE)
# Absence is said by the participant about themself ("Afwezig", "Ik was er niet bij", "I wasn't
# there"); "mijn collega was afwezig" is not their absence.
_ABSENT = re.compile(
    r"^\W*(?:afwezig|absent|niet aanwezig|not present)\b"
    r"|\b(?:ik|i)\s+(?:was|ben|am)\s+(?:er\s+)?(?:\w+\s+){0,2}"
    r"(?:afwezig|absent|niet aanwezig|niet bij|not there|not present)\b"
    r"|\bik kon (?:\w+ ){0,2}niet (?:aanwezig zijn|komen|deelnemen|erbij zijn)\b"
    r"|\bik was (?:\w+ ){0,2}verhinderd\b|\bi wasn'?t there\b|\bi was unable to attend\b"
    r"|\bi (?:could|did)(?: not|n'?t) attend\b|\bi missed (?:the|this) session\b"
    r"|^\W*(?:could not|couldn'?t|did not|didn'?t) attend\b",
    re.IGNORECASE,
)
_GREETING_LINE = re.compile(
    r"^(?:dag|hoi|hallo|beste|hey|hi|hello|dear|goedemorgen|goedemiddag|goeiemorgen|"
    r"goeiemiddag|goedenavond)\b[^.?!\n]{0,40}[,!:]?\s*$",
    re.IGNORECASE,
)


def rating(text: str) -> int | None:
    """The rating from 1 to 5 that ``text`` starts with ("4", "vier", "4/5", "★★★★"), else None."""
    first = text.split("\n", 1)[0].strip().lower()
    stars = first.count("★") + first.count("⭐")
    if stars:
        return stars if 1 <= stars <= MAX_RATING else None
    if first.strip("* ") == "" and first.count("*"):
        n = first.count("*")
        return n if n <= MAX_RATING else None
    first = first.strip(" *_\"'“”:-")
    if _RATING_RANGE.match(first):
        return None  # "3 of 4": the participant did not choose
    m = _RATING.match(first)
    if m is None:
        return None
    word, scale = m.group(1), m.group(2)
    if scale is not None and scale != "5":
        return None
    rest = first[m.end() :].strip()
    if word.isalpha() and rest and not _WORD_RATING_REST.match(rest):
        return None  # "een goede sessie" is not a rating of 1
    value = _WORD_RATINGS.get(word) if word.isalpha() else None
    if value is None and re.fullmatch(r"-?\d+", word):
        value = int(word)
    return value if value is not None and 1 <= value <= MAX_RATING else None


def says_absent(fresh: str) -> bool:
    """Whether the participant's new text says they were not there ("Afwezig", "I wasn't there")."""
    lines = [line.strip() for line in fresh.split("\n", 100)[:100] if line.strip()]
    if any(re.fullmatch(r"\W*(?:afwezig|absent)\W*", line, re.IGNORECASE) for line in lines):
        return True
    if lines and _GREETING_LINE.match(lines[0]):
        lines = lines[1:]
    if not lines:
        return False
    sentence = re.split(r"(?<=[.!?])\s", lines[0], maxsplit=1)[0]
    return _ABSENT.search(sentence) is not None
