"""The organiser's roll call: "aanwezig: 1, 3, 4" or "afwezig: 2" in a reply to the digest."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(
    r"^\s*(?P<word>aanwezig|afwezig|present|absent|niet aanwezig|not present)\b\s*[:=-]?\s*"
    r"(?P<numbers>\d.*)$",
    re.IGNORECASE,
)
# Numbers separated by a comma, semicolon or "&", by the words "en"/"and", or by spaces
# only, maybe with a final full stop. Each separator needs something the others cannot
# match, so a failing line costs one pass.
_NUMBERS = re.compile(
    r"\d{1,3}(?:(?:\s*[,;&]\s*|\s+(?:en|and)\s+|\s+)\d{1,3})*\s*\.?", re.IGNORECASE
)
_MAX_LINE = 300
_ABSENT = {"afwezig", "absent", "niet aanwezig", "not present"}


@dataclass(frozen=True, slots=True)
class RollCall:
    """Who was there and who was not, by digest number, and what was not understood."""

    present: tuple[int, ...]
    absent: tuple[int, ...]
    unknown: tuple[str, ...]  # lines that looked like a roll call but named no valid number

    @property
    def empty(self) -> bool:
        """Whether nothing was read."""
        return not (self.present or self.absent)


def parse_rollcall(text: str, size: int) -> RollCall:
    """Numbers (1..size) marked present or absent; a later line wins for the same number."""
    marks: dict[int, bool] = {}
    unknown: list[str] = []
    for raw in text.splitlines()[:200]:
        line = raw.strip()
        if line.startswith(">"):
            break  # the quoted digest follows
        m = _LINE.match(line[:_MAX_LINE])
        if not m:
            continue
        if len(line) > _MAX_LINE or not _NUMBERS.fullmatch(m.group("numbers")):
            unknown.append(line[:100])  # "afwezig: 2 en dan nee, 4": not guessed
            continue
        present = m.group("word").lower() not in _ABSENT
        numbers = [int(n) for n in re.findall(r"\d+", m.group("numbers"))]
        valid = [n for n in numbers if 1 <= n <= size]
        if len(valid) != len(numbers):
            unknown.append(line[:100])
        for n in valid:
            marks[n] = present
    return RollCall(
        tuple(sorted(n for n, p in marks.items() if p)),
        tuple(sorted(n for n, p in marks.items() if not p)),
        tuple(unknown),
    )
