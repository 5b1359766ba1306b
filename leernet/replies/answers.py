"""Evaluation answers from the text of a reply (Dutch or English, top-posted or inline).

Two readings are combined. Numbered lines in the participant's new text
("1. 4", "Vraag 2: ...", "Q4 - ja") give the answers above the quote; lines
written directly below a quoted question ("> 1. Hoe waardevol ...", or Outlook's
unmarked original after its "Van:/From:" block) give inline answers. A number
above wins over an inline answer to the same question. What cannot be read is
not guessed: it becomes a note for the organiser. A failure of the reader itself is a
:class:`~leernet.errors.ParseError`, never an empty result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from leernet.errors import ParseError
from leernet.network.model import QuestionKind
from leernet.replies import consent, mailtext

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from leernet.network.model import Question

_MAX_CHARS = 200_000  # a reply with its quote is a few kB; beyond this it is junk
_MAX_ANSWER = 10_000
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
_NOTES = {
    "nl": {
        "rating": "vraag {n}: '{v}' is geen score van 1 tot 5",
        "yes_no": "vraag {n}: '{v}' is geen ja of nee",
        "consent_no": "vraag {n}: '{v}' is geen duidelijke ja; we lezen het als nee",
        "unknown": "vraag {n} bestaat niet; '{v}' niet gelezen",
        "twice": "vraag {n} twee keer beantwoord; het eerste antwoord is bewaard",
        "no_numbers": "geen genummerde antwoorden gevonden",
        "truncated": "antwoord te lang; alleen het begin is gelezen",
        "absent_and_answers": "meldt afwezig maar beantwoordt ook vragen",
    },
    "en": {
        "rating": "question {n}: '{v}' is not a rating from 1 to 5",
        "yes_no": "question {n}: '{v}' is not yes or no",
        "consent_no": "question {n}: '{v}' is not a clear yes; we read it as no",
        "unknown": "question {n} does not exist; '{v}' not read",
        "twice": "question {n} answered twice; kept the first answer",
        "no_numbers": "no numbered answers found",
        "truncated": "reply too long; only its start was read",
        "absent_and_answers": "says absent but also answers questions",
    },
}

Answer = int | bool | str


@dataclass(frozen=True, slots=True)
class ParsedAnswers:
    """What one reply said: absent, answers by question number ("1", "2", ...), and notes."""

    absent: bool
    answers: Mapping[str, Answer] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.answers and not self.absent


def new_text(body: str, language: str = "nl") -> str:
    """The participant's own new text in ``body``: quote, signature and disclaimer removed.

    Raises :class:`ParseError` when the reader fails (a bug, not an empty reply).
    """
    try:
        return mailtext.new_text(body[:_MAX_CHARS], language)
    except Exception as exc:
        raise ParseError(f"reply text not read: {type(exc).__name__}: {exc}"[:300]) from exc


def parse_answers(body: str, questions: Sequence[Question], language: str = "nl") -> ParsedAnswers:
    """Read the answers to ``questions`` from a reply's text.

    Raises :class:`ParseError` when the reader fails: that is not "no answers" (STYLE 17),
    so the mail is set aside for a person instead of asking the participant again.
    """
    try:
        return _Reader(questions, language).read(body)
    except Exception as exc:
        raise ParseError(f"answers not read: {type(exc).__name__}: {exc}"[:300]) from exc


class _Reader:
    def __init__(self, questions: Sequence[Question], language: str) -> None:
        self.by_number = {q.number: q for q in questions}
        self.questions = tuple(questions)
        self.texts = _NOTES.get(language, _NOTES["nl"])
        self.language = language
        self.notes: list[str] = []

    def note(self, key: str, n: int | str = "", v: str = "") -> None:
        short = v if len(v) <= 40 else v[:37] + "..."
        text = self.texts[key].format(n=n, v=short.replace("\n", " "))
        if text not in self.notes:
            self.notes.append(text)

    def read(self, body: str) -> ParsedAnswers:
        text = body.replace("\r\n", "\n").replace("\r", "\n")
        if len(text) > _MAX_CHARS:
            text = text[:_MAX_CHARS]
            self.note("truncated")
        fresh = mailtext.new_text(text, self.language)
        top = self.numbered(fresh.split("\n"))
        inline = self.inline(text.split("\n"))
        answers: dict[int, Answer] = {}
        for number, raw in [*top, *inline]:
            question = self.by_number.get(number)
            if question is None:
                self.note("unknown", number, raw)
                continue
            value = self.value(question, raw)
            if value is None:
                continue
            if number in answers:
                if answers[number] != value:
                    self.note("twice", number)
                continue
            answers[number] = value
        absent = not top and _says_absent(fresh)
        if absent and answers:
            self.note("absent_and_answers")
        if not top and not inline and not absent and fresh.strip():
            self.note("no_numbers")
        return ParsedAnswers(
            absent=absent,
            answers={str(n): answers[n] for n in sorted(answers)},
            notes=tuple(self.notes),
        )

    def numbered(self, lines: list[str]) -> list[tuple[int, str]]:
        """Answers in the new text: a numbered line starts one; following lines continue it."""
        found: list[tuple[int, list[str]]] = []
        seen: set[int] = set()
        for raw in lines:
            line = raw.strip()
            pairs = _pairs(line) or self._one_line(line, found)
            if pairs:
                found.extend((n, [v]) for n, v in pairs)
                seen.update(n for n, _ in pairs)
                continue
            m = _NUMBERED.match(line)
            number = int(m.group(1) or m.group(2)) if m else 0
            question = self.by_number.get(number)
            continues = bool(found) and self._is_text(found[-1][0])
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

    def _one_line(self, line: str, found: list[tuple[int, list[str]]]) -> list[tuple[int, str]]:
        """Answers written on one line, numbered by the questions' own numbers in order.

        "1. 4 / 2. Veel geleerd / 3. Meer tijd / 4. ja" and "1: 4; 2: ...; 3: ..." need two
        numbers in a row, each with a separator after it and a slash or semicolon before;
        "1 4 2 veel geleerd 3 meer tijd 4 ja" (numbers alone) must name at least three
        questions in a row from the first, so that prose with a number in it is not split.
        """
        if len(line) > _MAX_LINE or not line[:1].isalnum():
            return []
        numbers = sorted(self.by_number)
        if len(numbers) < 2 or (found and found[-1][0] >= numbers[-1]):
            return []
        marks = list(_MARK.finditer(line))
        if not marks or marks[0].start() != 0:
            return []
        first = int(marks[0].group(1))
        if first not in self.by_number or (found and first <= found[-1][0]):
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
        whole = first == numbers[0] and len(chain) >= 3
        if len(chain) < 2 or not ((separated and delimited) or whole):
            return []
        out: list[tuple[int, str]] = []
        for i, mark in enumerate(chain):
            end = chain[i + 1].start() if i + 1 < len(chain) else len(line)
            value = line[mark.end() : end].strip().rstrip("/;,|").strip()
            if not value:
                return []
            out.append((int(mark.group(1)), value))
        return out

    def _numbered_line(self, line: str) -> bool:
        m = _NUMBERED.match(line.strip())
        return m is not None and int(m.group(1) or m.group(2)) in self.by_number

    def _is_text(self, number: int) -> bool:
        q = self.by_number.get(number)
        return q is not None and q.kind == QuestionKind.TEXT

    def inline(self, lines: list[str]) -> list[tuple[int, str]]:
        """Answers written on the lines directly below a quoted question."""
        found: list[tuple[int, str]] = []
        quote = [mailtext.quote_depth(line) for line in lines]
        starts = self._question_lines(lines, quote)
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
                if quote[i] or mailtext.is_boundary(lines, i) or self._numbered_line(content):
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
        self, lines: list[str], quote: list[int]
    ) -> list[tuple[int, int, Question]]:
        """(first line, last line, question) for every line that repeats a question's text."""
        out: list[tuple[int, int, Question]] = []
        i = 0
        while i < len(lines):
            hit = self._question_at(lines, quote, i)
            if hit is None:
                i += 1
                continue
            out.append(hit)
            i = hit[1] + 1
        return out

    def _question_at(
        self, lines: list[str], quote: list[int], i: int
    ) -> tuple[int, int, Question] | None:
        content = _norm(_strip_number(mailtext.unquote(lines[i])))
        if len(content) < 8:
            return None
        for q in self.questions:
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

    def value(self, question: Question, raw: str) -> Answer | None:
        text = raw.strip()
        if not text:
            return None
        kind = question.kind
        if kind == QuestionKind.RATING:
            rating = _rating(text)
            if rating is None:
                self.note("rating", question.number, text)
            return rating
        if kind is QuestionKind.CONSENT:
            # Only an unambiguous yes shares anything; every other answer is a no.
            text = mailtext.strip_signoff(text).strip()
            given = consent.consents(text)
            if not given and consent.read_yes_no(text) is not consent.Said.NO:
                self.note("consent_no", question.number, text)
            return given
        if kind is QuestionKind.YES_NO:
            said = consent.read_yes_no(text)
            if said is consent.Said.UNKNOWN:
                self.note("yes_no", question.number, text)
                return None
            return said is consent.Said.YES
        return text[:_MAX_ANSWER]


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
    return out if len(out) >= 2 else []


def _rating(text: str) -> int | None:
    first = text.split("\n", 1)[0].strip().lower()
    stars = first.count("★") + first.count("⭐")
    if stars:
        return stars if 1 <= stars <= 5 else None
    if first.strip("* ") == "" and first.count("*"):
        n = first.count("*")
        return n if n <= 5 else None
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
    return value if value is not None and 1 <= value <= 5 else None


def _says_absent(fresh: str) -> bool:
    lines = [line.strip() for line in fresh.split("\n", 100)[:100] if line.strip()]
    if any(re.fullmatch(r"\W*(?:afwezig|absent)\W*", line, re.IGNORECASE) for line in lines):
        return True
    if lines and _GREETING_LINE.match(lines[0]):
        lines = lines[1:]
    if not lines:
        return False
    sentence = re.split(r"(?<=[.!?])\s", lines[0], maxsplit=1)[0]
    return _ABSENT.search(sentence) is not None


def _first_paragraph(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line.strip():
            break
        out.append(line)
    return out


def _strip_number(text: str) -> str:
    m = _NUMBERED.match(text.strip())
    return m.group(3) if m else text


def _norm(text: str) -> str:
    text = text.replace("\xa0", " ").replace("“", '"').replace("”", '"').replace("’", "'")
    return " ".join(text.lower().split())


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
