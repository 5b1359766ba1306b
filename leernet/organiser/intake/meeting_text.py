"""The words of an organiser's meeting: its goal, its place and its online link.

Clients append their own boilerplate to DESCRIPTION (Outlook's Teams block
under a line of underscores, Google's block between ``-::~:~::~`` lines); that
is cut before the goal is taken. The goal is a ``Doel:``/``Goal:``/``But:``
line when there is one, else the first paragraph.
"""

from __future__ import annotations

import re

MAX_GOAL_CHARS = 1000

# Where a client's own text starts: Outlook/Teams, Google Calendar, Zoom's plug-in.
_BOILERPLATE = re.compile(
    r"^(?:_{10,}|-::~[:~]+-?|Microsoft Teams[- ](?:meeting|vergadering|Meeting)|"
    r"Réunion Microsoft Teams|Join Zoom Meeting|Deelnemen aan Zoom-vergadering)\s*$",
    re.MULTILINE | re.IGNORECASE,
)
_GOAL_LINE = re.compile(r"^\s*(?:doel|goal|but|objectif)\s*:\s*(.*)$", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>\"']{1,500}", re.IGNORECASE)
_MEETING_HOSTS = re.compile(
    r"^https://(?:[a-z0-9-]+\.)*(?:teams\.microsoft\.com|teams\.live\.com|meet\.google\.com|"
    r"zoom\.us|webex\.com|whereby\.com|meet\.jit\.si)(?:/|$)",
    re.IGNORECASE,
)
# Labels clients put in LOCATION for an online meeting: not a place.
_ONLINE_LABELS = re.compile(
    r"^(?:Microsoft Teams(?:[- ](?:meeting|vergadering))?|Réunion Microsoft Teams|"
    r"Google Meet|Zoom|Online|Teams)$",
    re.IGNORECASE,
)


def client_text(description: str) -> str:
    """DESCRIPTION without the block a client appended (Teams, Google Meet, Zoom)."""
    text = description.replace("\r\n", "\n").replace("\r", "\n")
    cut = _BOILERPLATE.search(text)
    return (text[: cut.start()] if cut else text).strip()


def goal(description: str) -> str:
    """A ``Doel:`` line (with the lines right after it) wins; else the first paragraph."""
    lines = client_text(description).split("\n")
    for at, line in enumerate(lines):
        found = _GOAL_LINE.match(line)
        if found is None:
            continue
        taken = [found[1].strip()]
        for more in lines[at + 1 :]:
            if not more.strip() or _GOAL_LINE.match(more) or re.match(r"^\s*\w+\s*:", more):
                break
            taken.append(more.strip())
        said = _short(" ".join(t for t in taken if t))
        return said[:1].upper() + said[1:]
    paragraph: list[str] = []
    for line in lines:
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    return _short(" ".join(paragraph))


def _short(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:MAX_GOAL_CHARS]


def place(location: str) -> str:
    """LOCATION as a place: without links or an online label; Apple's line breaks become commas."""
    text = _URL.sub("", location)
    parts = [p.strip(" ;,") for p in re.split(r"[\r\n]+", text)]
    text = ", ".join(p for p in parts if p)
    text = re.sub(r"\s+", " ", text).strip(" ;,")
    return "" if _ONLINE_LABELS.match(text) else text[:200]


def online_url(candidates: list[str], location: str, description: str) -> str:
    """The meeting link: a client's own property first, then LOCATION, then a known host in DESCRIPTION."""
    for value in candidates:
        found = _URL.search(value)
        if found:
            return _trim(found[0])
    found = _URL.search(location)
    if found:
        return _trim(found[0])
    for match in _URL.finditer(description):
        if _MEETING_HOSTS.match(match[0]):
            return _trim(match[0])
    return ""


def _trim(url: str) -> str:
    # A link at the end of a sentence or in brackets: the punctuation is not part of it.
    return url.rstrip(".,;:!?)>]")
