"""Evaluation answers from the text of a reply (Dutch or English, top-posted or inline).

Two readings are combined. Numbered lines in the participant's new text
("1. 4", "Vraag 2: ...", "Q4 - ja") give the answers above the quote; lines
written directly below a quoted question ("> 1. Hoe waardevol ...", or Outlook's
unmarked original after its "Van:/From:" block) give inline answers. A number
above wins over an inline answer to the same question. What cannot be read is
not guessed: it becomes a note for the organiser. A failure of the reader itself is a
:class:`~leernet.errors.ParseError`, never an empty result.

The readings are in ``answers_numbered`` and ``answers_inline``; what one
answer's words mean (a rating, absence) in ``answers_words``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leernet.errors import ParseError
from leernet.network.model import QuestionKind
from leernet.replies import answers_words as words
from leernet.replies import consent, mailtext
from leernet.replies.answers_inline import inline as inline_answers
from leernet.replies.answers_numbered import numbered

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from leernet.network.model import Question

_MAX_CHARS = 200_000  # a reply with its quote is a few kB; beyond this it is junk
_MAX_ANSWER = 10_000
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


_SHOWN = 40  # characters of an answer quoted in a note to the organiser


@dataclass(frozen=True, slots=True)
class ParsedAnswers:
    """What one reply said: absent, answers by question number ("1", "2", ...), and notes."""

    absent: bool
    answers: Mapping[str, Answer] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether no answer was read."""
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
        short = v if len(v) <= _SHOWN else v[: _SHOWN - 3] + "..."
        text = self.texts[key].format(n=n, v=short.replace("\n", " "))
        if text not in self.notes:
            self.notes.append(text)

    def read(self, body: str) -> ParsedAnswers:
        text = body.replace("\r\n", "\n").replace("\r", "\n")
        if len(text) > _MAX_CHARS:
            text = text[:_MAX_CHARS]
            self.note("truncated")
        fresh = mailtext.new_text(text, self.language)
        top = numbered(fresh.split("\n"), self.by_number)
        inline = inline_answers(text.split("\n"), self.questions)
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
        absent = not top and words.says_absent(fresh)
        if absent and answers:
            self.note("absent_and_answers")
        if not top and not inline and not absent and fresh.strip():
            self.note("no_numbers")
        return ParsedAnswers(
            absent=absent,
            answers={str(n): answers[n] for n in sorted(answers)},
            notes=tuple(self.notes),
        )

    def value(self, question: Question, raw: str) -> Answer | None:
        text = raw.strip()
        if not text:
            return None
        kind = question.kind
        if kind == QuestionKind.RATING:
            rating = words.rating(text)
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
