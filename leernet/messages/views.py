"""The context of every message kind, built from the model and from what the store recorded.

Templates only show values (STYLE rule 11): every function here returns a dict
of plain strings, numbers, booleans and lists of dicts, with dates already
written out in the network's zone and language. Every context holds
``network``, ``recipient_name`` and ``language``.

Privacy is decided here, not in templates: ``manager_summary`` only ever
receives answers the participant agreed to share (``SharedAnswer``), and the
organiser's digest carries no names beside free text while the network is
anonymous (``Network.anonymous_digest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leernet.messages import textfmt
from leernet.network import defaults
from leernet.network.model import Network, Participant, Question, QuestionKind, Session

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

Context = dict[str, object]

_WORDS = {
    "nl": {"yes": "ja", "no": "nee", "rating": "{} van 5"},
    "en": {"yes": "yes", "no": "no", "rating": "{} out of 5"},
}


@dataclass(frozen=True, slots=True)
class RecordedAnswer:
    """One answer as the store holds it: a rating (int), yes/no (bool) or text (str)."""

    number: int
    value: int | bool | str

    @staticmethod
    def from_mapping(answers: Mapping[str, object]) -> tuple[RecordedAnswer, ...]:
        """From the store's JSON shape ``{"1": 4, "2": "text", "4": true}``."""
        out = [
            RecordedAnswer(int(k), v)
            for k, v in answers.items()
            if k.isdigit() and isinstance(v, int | bool | str)
        ]
        return tuple(sorted(out, key=lambda a: a.number))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One participant's current evaluation of a session."""

    email: str
    absent: bool
    answers: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DigestData:
    """What the store knows about one session, for the organiser's digest."""

    session_number: int
    partstat: Mapping[str, str]  # email -> PARTSTAT (RFC 5545 3.2.12), for this session
    presence: Mapping[str, bool]  # email -> present, from evaluations and roll call
    evaluations: tuple[Evaluation, ...] = ()


@dataclass(frozen=True, slots=True)
class Takeaway:
    """What a participant wrote they take back to their work, after one session."""

    session_number: int
    text: str


@dataclass(frozen=True, slots=True)
class SharedAnswer:
    """An answer the participant agreed to share with their manager (already consent-filtered)."""

    session_number: int
    question: str
    answer: str


def network_context(network: Network | None) -> Context:
    """The network as every template may show it (name, goal, place, link)."""
    if network is None:
        return dict.fromkeys(
            ("name", "goal", "location", "online_url", "organiser_name", "organiser_email"), ""
        )
    return {
        "name": network.name,
        "goal": network.goal,
        "location": network.location,
        "online_url": network.online_url,
        "organiser_name": network.organiser.name,
        "organiser_email": network.organiser.email,
    }


def first_name(name: str) -> str:
    """What a greeting uses: ``Bert`` for ``Bert Claes``."""
    parts = name.split()
    return parts[0] if parts else ""


def base_context(network: Network, recipient_name: str) -> Context:
    """What every context holds: the network, the recipient's name, the language."""
    return {
        "network": network_context(network),
        "recipient_name": recipient_name,
        "recipient_first_name": first_name(recipient_name),
        "language": network.language,
    }


def session_view(network: Network, s: Session) -> Context:
    """One session as templates show it (title, date, time, place)."""
    lang = network.language
    local_start = network.local(s.start)
    return {
        "number": s.number,
        "kind": str(s.kind),
        "title": s.title,
        "when": textfmt.when(s.start, s.end, network.zone, lang),
        "date": textfmt.long_date(local_start, lang),
        "time": textfmt.time_range(local_start, network.local(s.end), lang),
        "work_form": s.work_form,
        "speaker": s.speaker,
        "location": s.location or network.location,
        "online_url": s.online_url or network.online_url,
        "cancelled": s.cancelled,
    }


def _questions(questions: Sequence[Question]) -> list[Context]:
    return [{"number": q.number, "text": q.text, "kind": str(q.kind)} for q in questions]


def session_questions(network: Network, session: Session) -> tuple[Question, ...]:
    """The questions of this session's evaluation: the network's plus the seed's extras."""
    return defaults.session_questions(network.questions, session.kind, network.language)


def roll_call(network: Network) -> tuple[Participant, ...]:
    """The participants in roll-call order: number ``i`` in the digest is ``result[i - 1]``."""
    return network.participants


def name_of(network: Network, email: str) -> str:
    """The name of the participant with this address (the address when unknown)."""
    p = network.participant(email)
    return p.name if p is not None and p.name else email


def names_of(network: Network, emails: Collection[str]) -> list[str]:
    """The names of these participants, in the network's order."""
    wanted = {e.lower() for e in emails}
    return [p.name or p.email for p in network.participants if p.email.lower() in wanted]


def _display(value: object, kind: QuestionKind | None, lang: str) -> str:
    words = _WORDS[lang]
    if isinstance(value, bool):
        return words["yes"] if value else words["no"]
    if kind is QuestionKind.RATING and isinstance(value, int):
        return words["rating"].format(value)
    return str(value)


def invite(network: Network, participant: Participant) -> Context:
    """The context of a participant's series invite."""
    return base_context(network, participant.name) | {
        "sessions": [session_view(network, s) for s in network.sessions],
        "session_count": len(network.active_sessions),
    }


def invite_update(network: Network, participant: Participant, changes: Sequence[str]) -> Context:
    """The context of an invite update, with the changes in words."""
    return invite(network, participant) | {"changes": list(changes)}


def cancel_series(network: Network, participant: Participant) -> Context:
    """The context of the cancel of the whole series."""
    return base_context(network, participant.name)


def reminder(network: Network, participant: Participant, session: Session) -> Context:
    """The context of the reminder before a session."""
    return base_context(network, participant.name) | {"session": session_view(network, session)}


def eval_request(
    network: Network,
    participant: Participant,
    session: Session,
    questions: Sequence[Question] | None = None,
) -> Context:
    """The context of an evaluation request (or its reminder)."""
    qs = tuple(questions) if questions is not None else session_questions(network, session)
    consent = next((q.number for q in qs if q.kind is QuestionKind.CONSENT), 0)
    shared = [str(q.number) for q in qs if q.share_with_manager]
    return base_context(network, participant.name) | {
        "session": session_view(network, session),
        "questions": _questions(qs),
        "consent_number": consent if shared else 0,
        "shared_numbers": textfmt.join_names(shared, network.language),
    }


eval_reminder = eval_request
answer_again = eval_request


def confirmation(
    network: Network,
    participant: Participant,
    session: Session,
    answers: Sequence[RecordedAnswer],
    *,
    absent: bool = False,
    questions: Sequence[Question] | None = None,
) -> Context:
    """The context of the confirmation of an evaluation: what was read, and what the manager sees."""
    lang = network.language
    qs = {q.number: q for q in (questions or session_questions(network, session))}
    given = {a.number: a for a in answers}
    rows = [
        {
            "number": a.number,
            "question": textfmt.shorten(qs[a.number].text) if a.number in qs else "",
            "value": _display(a.value, qs[a.number].kind if a.number in qs else None, lang),
        }
        for a in sorted(answers, key=lambda a: a.number)
    ]
    missing = [
        {"number": n, "question": textfmt.shorten(q.text)}
        for n, q in sorted(qs.items())
        if n not in given
    ]
    return base_context(network, participant.name) | {
        "session": session_view(network, session),
        "absent": absent,
        "answers": [] if absent else rows,
        "missing": [] if absent else missing,
        "sharing": None if absent else _sharing(list(qs.values()), given, lang),
    }


def _sharing(
    questions: Sequence[Question], given: Mapping[int, RecordedAnswer], lang: str
) -> dict[str, object] | None:
    """What the manager will see of this reply, in words the participant can check.

    Shared only when this very reply said an unambiguous yes to the consent
    question (``sharing.shared_answers``); anything else, no answer included, is
    "not shared", and the participant is told how to change it.
    """
    shared_qs = [q.number for q in questions if q.share_with_manager]
    consent = next((q.number for q in questions if q.kind is QuestionKind.CONSENT), 0)
    if not shared_qs or not consent:
        return None
    said = given.get(consent)
    return {
        "shared": said is not None and said.value is True,
        "questions": _numbers_text(shared_qs, lang),
        "consent_number": consent,
    }


def _numbers_text(numbers: Sequence[int], lang: str) -> str:
    """[2] -> "vraag 2"; [2, 6] -> "vragen 2 en 6" (English: "question 2", "questions 2 and 6")."""
    one, many, sep = ("question", "questions", "and") if lang == "en" else ("vraag", "vragen", "en")
    if len(numbers) == 1:
        return f"{one} {numbers[0]}"
    return f"{many} {', '.join(map(str, numbers[:-1]))} {sep} {numbers[-1]}"


def closing_reflection(
    network: Network, participant: Participant, learning_goals: str, takeaways: Sequence[Takeaway]
) -> Context:
    """The context of the closing reflection: the learning goals and what each session left."""
    rows = []
    for t in sorted(takeaways, key=lambda t: t.session_number):
        if not t.text.strip():
            continue
        s = network.session(t.session_number)
        rows.append({"session": s.title, "date": session_view(network, s)["date"], "text": t.text})
    return base_context(network, participant.name) | {
        "learning_goals": learning_goals.strip(),
        "takeaways": rows,
    }
