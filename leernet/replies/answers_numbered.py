"""Numbered answers in a reply's new text: "1. 4", "Vraag 2: ...", "Q4 - ja", and one-line forms.

A numbered line starts an answer and the lines below it continue it; a line of
short answers ("1. 4, 2: ja; Q3-5") or of answers in a row ("1. 4 / 2. Veel
geleerd / 3. ...") gives several. The forms are listed in
``tests/test_answers.py::TestNumberedForms``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from leernet.network.model import QuestionKind

if TYPE_CHECKING:
    from collections.abc import Mapping

    from leernet.network.model import Question

# A question number, after "vraag", "Q" or "question" or followed by a separator, maybe bold;
# tests/test_answers.py::TestNumberedForms lists the forms.
_NUMBERED = re.compile(
    r"^[*_]{0,2}(?:(?:vraag|question|q)\s?(\d{1,2})[*_]{0,2}(?:\s*[.):=\-–])?"
    r"|(\d{1,2})[*_]{0,2}\s*[.):=\-–])[*_]{0,2}(?:\s+|$|(?<=[:)]))(.*)$",
    re.IGNORECASE,
)
# One "number, separator, short value" of a line of short answers ("1. 4, 2: ja; Q3-5"), read
# pair by pair from where the last one ended: no nested quantifier, so no line can make it slow.
_PAIR_AT = re.compile(
    r"[ \t]*+(?:(?:vraag|q) ?)?+(\d{1,2})[ \t]*+[.):=\-–][ \t]*+([^\s,;]++)[ \t]*+[,;]?+",
    re.IGNORECASE,
)
# A question number inside a line (phones put every answer on one): "1. 4 / 2. ...",
# "1: 4; 2: ...", or bare "1 4 2 veel geleerd 3 ...".
_MARK = re.compile(
    r"(?:^|(?<=[\s/;,|]))(?:(?:vraag|question|q) ?)?+(\d{1,2})(?:[ \t]*+([.):=\-–])|(?=\s))",
    re.IGNORECASE,
)
_MARK_SPLIT = re.compile(r"[/;,|]")
_VALUE = re.compile(r"[^ \t/;,|]")
_MAX_LINE = 2_000  # a line of one-line answers is short; longer lines are read as text only


_TWO = 2  # numbered answers on one line: at least two, or it is a sentence with a number
_THREE_IN_A_ROW = 3  # without separators, three questions in a row from the first


def numbered(lines: list[str], by_number: Mapping[int, Question]) -> list[tuple[int, str]]:
    """The answers in the new text's ``lines``: a numbered line starts one; following lines continue it."""
    found: list[tuple[int, list[str]]] = []
    seen: set[int] = set()
    for raw in lines:
        line = raw.strip()
        pairs = _pairs(line) or _one_line(line, found, by_number)
        if pairs:
            found.extend((n, [v]) for n, v in pairs)
            seen.update(n for n, _ in pairs)
            continue
        m = _NUMBERED.match(line)
        number = int(m.group(1) or m.group(2)) if m else 0
        question = by_number.get(number)
        continues = bool(found) and _is_text(by_number, found[-1][0])
        if m and (question is not None or not continues):
            if question is not None and number in seen and continues:
                found[-1][1].append(raw.rstrip())  # "2." again inside a text answer: a list
                continue
            rest = m.group(3).strip()
            if question is not None:
                rest = _after_question(question, rest)
            found.append((number, [rest]))
            seen.add(number)
        elif found:
            found[-1][1].append(raw.rstrip())
    return [(n, "\n".join(parts).strip()) for n, parts in found]


def _one_line(
    line: str, found: list[tuple[int, list[str]]], by_number: Mapping[int, Question]
) -> list[tuple[int, str]]:
    """Answers written on one line, numbered by the questions' own numbers in order.

    "1. 4 / 2. Veel geleerd / 3. Meer tijd / 4. ja" and "1: 4; 2: ...; 3: ..." need two
    numbers in a row, each with a separator after it and a slash or semicolon before;
    "1 4 2 veel geleerd 3 meer tijd 4 ja" (numbers alone) must name at least three
    questions in a row from the first, so that prose with a number in it is not split.
    """
    if len(line) > _MAX_LINE or not line[:1].isalnum():
        return []
    numbers = sorted(by_number)
    if len(numbers) < _TWO or (found and found[-1][0] >= numbers[-1]):
        return []
    marks = list(_MARK.finditer(line))
    if not marks or marks[0].start() != 0:
        return []
    first = int(marks[0].group(1))
    if first not in by_number or (found and first <= found[-1][0]):
        return []
    separated = marks[0].group(2) is not None
    delimited = True
    chain = [marks[0]]
    wanted = numbers.index(first) + 1
    value_at = _VALUE.search(line, marks[0].end())  # where the current answer's text starts
    for mark in marks[1:]:
        if wanted >= len(numbers):
            break
        if int(mark.group(1)) != numbers[wanted] or (separated and mark.group(2) is None):
            continue
        if value_at is None or value_at.start() >= mark.start():
            continue  # the number is the previous question's value ("1 2 2 goed")
        split = _MARK_SPLIT.search(line, max(value_at.start(), mark.start() - 3), mark.start())
        if separated and not (split or line[mark.end() : mark.end() + 1] in " \t"):
            continue
        delimited = delimited and split is not None
        chain.append(mark)
        wanted += 1
        value_at = _VALUE.search(line, mark.end())
    # Split by "/" or ";" after each answer: two are enough. Otherwise ("1 4 2 x 3 y 4 ja",
    # "1. 4 2. x 3. y 4. ja") at least three questions in a row, from the first.
    whole = first == numbers[0] and len(chain) >= _THREE_IN_A_ROW
    if len(chain) < _TWO or not ((separated and delimited) or whole):
        return []
    out: list[tuple[int, str]] = []
    for i, mark in enumerate(chain):
        end = chain[i + 1].start() if i + 1 < len(chain) else len(line)
        value = line[mark.end() : end].strip().rstrip("/;,|").strip()
        if not value:
            return []
        out.append((int(mark.group(1)), value))
    return out


def numbered_question(line: str, by_number: Mapping[int, Question]) -> bool:
    """Whether ``line`` starts with the number of one of the questions."""
    m = _NUMBERED.match(line.strip())
    return m is not None and int(m.group(1) or m.group(2)) in by_number


def _is_text(by_number: Mapping[int, Question], number: int) -> bool:
    q = by_number.get(number)
    return q is not None and q.kind == QuestionKind.TEXT


def _pairs(line: str) -> list[tuple[int, str]]:
    """Two or more "number, separator, one-word value" pairs filling the line, else []."""
    if len(line) > _MAX_LINE:
        return []
    out: list[tuple[int, str]] = []
    pos = 0
    while pos < len(line):
        m = _PAIR_AT.match(line, pos)
        if m is None or m.end() == pos:
            return []
        out.append((int(m.group(1)), m.group(2)))
        pos = m.end()
    return out if len(out) >= _TWO else []


def strip_number(text: str) -> str:
    """``text`` without the question number it starts with ("1. Hoe ..." -> "Hoe ...")."""
    m = _NUMBERED.match(text.strip())
    return m.group(3) if m else text


@lru_cache(maxsize=64)
def _question_patterns(text: str) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    """Patterns for the full question and for its part up to the "?" (the scale left out)."""
    tokens = re.findall(r"\w+|[^\w\s]", text)

    def pattern(parts: list[str]) -> re.Pattern[str]:
        return re.compile(r"\s*".join(map(re.escape, parts)), re.IGNORECASE)

    stem = tokens[: tokens.index("?") + 1] if "?" in tokens[:-1] else None
    return pattern(tokens), pattern(stem) if stem else None


def _after_question(question: Question, rest: str) -> str:
    """``rest`` without a restated question text before the answer ("Hoe waardevol ...? 4")."""
    if not question.text.strip():
        return rest
    full, stem = _question_patterns(question.text)
    m = full.match(rest)
    if m:
        return rest[m.end() :].strip()
    if stem is not None and (m := stem.match(rest)):
        return re.sub(r"^\s*\([^()\n]{0,120}\)", "", rest[m.end() :]).strip()
    return rest
