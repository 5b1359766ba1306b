"""Defaults from the seed: the evaluation questions and session titles, in Dutch and English."""

from __future__ import annotations

from leernet.network.model import Question, QuestionKind, SessionKind

_QUESTIONS = {
    "nl": (
        (
            "Hoe waardevol was deze sessie voor jou? (1 = helemaal niet, 5 = heel erg)",
            "rating",
            False,
        ),
        ("Wat neem je mee naar je eigen praktijk?", "text", True),
        ("Wat kan er beter in een volgende sessie?", "text", False),
        ("Mag je leidinggevende je antwoord op vraag 2 lezen? (ja/nee)", "consent", False),
    ),
    "en": (
        ("How valuable was this session for you? (1 = not at all, 5 = very)", "rating", False),
        ("What will you take back to your own work?", "text", True),
        ("What could be better in a next session?", "text", False),
        ("May your manager read your answer to question 2? (yes/no)", "consent", False),
    ),
}

# Extra questions the seed asks at the kick-off (learning goals) and the closing
# (follow-up or aftercare, and the main takeaway). Numbered after the network's own.
_Rows = tuple[tuple[str, str, bool], ...]

_KICKOFF: dict[str, _Rows] = {
    "nl": (("Wat zijn jouw leerdoelen voor dit netwerk?", "text", False),),
    "en": (("What are your learning goals for this network?", "text", False),),
}
_CLOSING: dict[str, _Rows] = {
    "nl": (
        ("Wil je nog vervolgsessies of andere nazorg? (ja/nee, en wat dan?)", "text", False),
        ("Wat is het belangrijkste dat je uit dit netwerk meeneemt?", "text", True),
    ),
    "en": (
        (
            "Would you like follow-up sessions or other aftercare? (yes/no, and what?)",
            "text",
            False,
        ),
        ("What is the most important thing you take away from this network?", "text", True),
    ),
}

_TITLES = {
    "nl": {
        SessionKind.KICKOFF: "Startmoment: kennismaking en verwachtingen",
        SessionKind.SESSION: "Sessie {n}",
        SessionKind.CLOSING: "Afsluitende sessie",
    },
    "en": {
        SessionKind.KICKOFF: "Kick-off: introductions and expectations",
        SessionKind.SESSION: "Session {n}",
        SessionKind.CLOSING: "Closing session",
    },
}


def _make(rows: tuple[tuple[str, str, bool], ...], start: int) -> tuple[Question, ...]:
    return tuple(
        Question(start + i, text, QuestionKind(kind), share)
        for i, (text, kind, share) in enumerate(rows)
    )


def questions(language: str) -> tuple[Question, ...]:
    """The seed's evaluation questions in ``language``."""
    return _make(_QUESTIONS[language], 1)


def session_questions(
    base: tuple[Question, ...], kind: SessionKind, language: str
) -> tuple[Question, ...]:
    """The questions of one session's evaluation: the network's, plus the seed's extras."""
    extras: dict[SessionKind, dict[str, _Rows]] = {
        SessionKind.KICKOFF: _KICKOFF,
        SessionKind.CLOSING: _CLOSING,
    }
    extra = extras.get(kind)
    if extra is None:
        return base
    return base + _make(extra[language], len(base) + 1)


def session_title(kind: SessionKind, number: int, language: str) -> str:
    """A session's default title by its kind and number."""
    return _TITLES[language][kind].format(n=number)
