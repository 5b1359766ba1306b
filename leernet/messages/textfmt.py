"""Dates, times and numbers written the way people read them, in Dutch (Flemish) or English.

Pure and locale-free: the ``locale`` module depends on what the machine has
installed and is process-wide, so the few words we need are spelled out here.
Flemish usage writes times as ``9.30 uur`` and decimals with a comma.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from leernet.network.model import language as as_language

if TYPE_CHECKING:
    from collections.abc import Sequence
    from zoneinfo import ZoneInfo

DAYS = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "nl": (
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}
_AND = {"nl": "en", "en": "and"}


def long_date(d: date | datetime, language: str) -> str:
    """``donderdag 14 januari 2027`` / ``Thursday 14 January 2027`` (a datetime as it stands)."""
    lang = as_language(language)
    day = d.date() if isinstance(d, datetime) else d
    return f"{DAYS[lang][day.weekday()]} {day.day} {MONTHS[lang][day.month - 1]} {day.year}"


def clock(moment: datetime, language: str) -> str:
    """``9.30`` (nl) / ``9:30`` (en)."""
    sep = ":" if as_language(language) == "en" else "."
    return f"{moment.hour}{sep}{moment.minute:02d}"


def time_range(start: datetime, end: datetime, language: str) -> str:
    """``9.30 – 12.00 uur`` (nl) / ``9:30–12:00`` (en); both ends as they stand."""
    if as_language(language) == "en":
        return f"{clock(start, 'en')}–{clock(end, 'en')}"
    return f"{clock(start, 'nl')} – {clock(end, 'nl')} uur"


def when(start: datetime, end: datetime, zone: ZoneInfo, language: str) -> str:
    """The date and the time range of a session, in ``zone``.

    ``donderdag 14 januari 2027, 9.30 – 12.00 uur``; a session running past
    midnight names its end date too, so nobody reads the wrong day.
    """
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    text = f"{long_date(local_start, language)}, {time_range(local_start, local_end, language)}"
    if local_end.date() != local_start.date():
        text += f" ({long_date(local_end, language)})"
    return text


def decimal(value: float, language: str, places: int = 1) -> str:
    """``3,8`` (nl) / ``3.8`` (en)."""
    text = f"{value:.{places}f}"
    return text if as_language(language) == "en" else text.replace(".", ",")


def join_names(names: Sequence[str], language: str) -> str:
    """``Bert``, ``Bert en Sofie``, ``Bert, Sofie en Jan`` (English: ``and``)."""
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} {_AND[as_language(language)]} {names[-1]}"


def shorten(text: str, limit: int = 70) -> str:
    """A question short enough for a list: without its trailing ``(...)`` hint, cut at ``limit``."""
    short = " ".join(text.split())
    if short.endswith(")") and "(" in short:
        head = short[: short.rfind("(")].rstrip()
        if head:
            short = head
    if len(short) > limit:
        cut = short[: limit - 1]
        if " " in cut[limit // 2 :]:
            cut = cut[: cut.rfind(" ")]  # end at a word, not in the middle of one
        short = cut.rstrip(" ,;:") + "…"
    return short
