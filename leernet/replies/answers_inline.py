"""Inline answers: the lines a participant wrote directly below a quoted question.

The question is found by its text, quoted ("> 1. Hoe waardevol ...") or in
Outlook's unmarked original below its "Van:/From:" block; the answer runs
until the next question, the quote or a boundary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leernet.replies import mailtext
from leernet.replies.answers_numbered import numbered_question, strip_number

if TYPE_CHECKING:
    from collections.abc import Sequence

    from leernet.network.model import Question


_MIN_QUESTION = 8  # characters of a quoted line before it can be a question


def inline(lines: list[str], questions: Sequence[Question]) -> list[tuple[int, str]]:
    """Answers written on the lines directly below a quoted question."""
    by_number = {q.number: q for q in questions}
    found: list[tuple[int, str]] = []
    quote = [mailtext.quote_depth(line) for line in lines]
    starts = _question_lines(lines, quote, questions)
    for index, (first, last, question) in enumerate(starts):
        quoted = quote[first] > 0
        stop = starts[index + 1][0] if index + 1 < len(starts) else len(lines)
        collected: list[str] = []
        ended_by_question = index + 1 < len(starts)
        for i in range(last + 1, stop):
            content = lines[i].rstrip()
            if quote[i] and not content.strip(" >"):
                if collected:
                    ended_by_question = False
                    break
                continue  # the empty quoted line between the question and the answer
            if quote[i] or mailtext.is_boundary(lines, i) or numbered_question(content, by_number):
                ended_by_question = False
                break
            collected.append(content)
        if not quoted and not ended_by_question:
            # Outlook's original is not marked: below the last question only the lines
            # typed directly under it are an answer, the request's closing text is not.
            collected = _first_paragraph(collected)
        answer = mailtext.strip_signoff("\n".join(collected)).strip()
        if answer:
            found.append((question.number, answer))
    return found


def _question_lines(
    lines: list[str], quote: list[int], questions: Sequence[Question]
) -> list[tuple[int, int, Question]]:
    """(first line, last line, question) for every line that repeats a question's text."""
    out: list[tuple[int, int, Question]] = []
    i = 0
    while i < len(lines):
        hit = _question_at(lines, quote, i, questions)
        if hit is None:
            i += 1
            continue
        out.append(hit)
        i = hit[1] + 1
    return out


def _question_at(
    lines: list[str], quote: list[int], i: int, questions: Sequence[Question]
) -> tuple[int, int, Question] | None:
    content = _norm(strip_number(mailtext.unquote(lines[i])))
    if len(content) < _MIN_QUESTION:
        return None
    for q in questions:
        target = _norm(q.text)
        if not (target.startswith(content) or content.startswith(target)):
            continue
        if len(content) < min(len(target), 16):
            continue
        if content != target and content.startswith(target) and not quote[i]:
            return None  # question and answer on one line: the numbered reading has it
        j = i
        while len(content) < len(target) and j + 1 < len(lines) and quote[j + 1] == quote[i]:
            longer = content + " " + _norm(mailtext.unquote(lines[j + 1]))
            if not target.startswith(longer):
                break
            content, j = longer, j + 1
        return i, j, q
    return None


def _first_paragraph(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line.strip():
            break
        out.append(line)
    return out


def _norm(text: str) -> str:
    text = text.replace("\xa0", " ").replace("“", '"').replace("”", '"').replace("’", "'")
    return " ".join(text.lower().split())
