"""The organiser's roll call: "aanwezig: 1, 3, 4" or "afwezig: 2" in a reply to the digest."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(
    r"^\s*(?P<word>aanwezig|afwezig|present|absent|niet aanwezig|not present)\s*[:=-]?\s*"
    r"(?P<numbers>\d[\d\s,;.&en and]*)$",
    re.IGNORECASE,
)
_ABSENT = {"afwezig", "absent", "niet aanwezig", "not present"}


@dataclass(frozen=True, slots=True)
class RollCall:
    present: tuple[int, ...]
    absent: tuple[int, ...]
    unknown: tuple[str, ...]  # lines that looked like a roll call but named no valid number

    @property
    def empty(self) -> bool:
        return not (self.present or self.absent)


def parse_rollcall(text: str, size: int) -> RollCall:
    """Numbers (1..size) marked present or absent; a later line wins for the same number."""
    marks: dict[int, bool] = {}
    unknown: list[str] = []
    for raw in text.splitlines()[:200]:
        line = raw.strip()
        if line.startswith(">"):
            break  # the quoted digest follows
        m = _LINE.match(line)
        if not m:
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
