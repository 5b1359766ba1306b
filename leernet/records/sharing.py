"""What a manager may read: a participant's consent, and the answers it lets through.

``shared_answers`` is the only path by which evaluation answers reach a
manager. It returns an answer only when (1) its question is marked
``share_with_manager``, (2) the consent question of the *same* evaluation was
answered yes, and (3) the participant's latest explicit word on consent, over
all their replies including those a later reply replaced, is a yes: a later
withdrawal hides everything shared before, and a reply that does not answer
the consent question does not bring an earlier yes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from leernet.network.model import Network, Question, QuestionKind, Session
from leernet.records.facts import Answer, Evaluation, questions_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


@dataclass(frozen=True, slots=True)
class SharedAnswer:
    """One answer a manager may read, with its session and question."""

    session_number: int
    session_title: str
    question_number: int
    question_text: str
    answer: Answer


def _consent(evaluation: Evaluation, questions: Sequence[Question]) -> bool | None:
    """What this evaluation says about consent: True, False, or None when it says nothing.

    Only a literal ``True`` is a yes; with several consent questions, every one must be yes.
    """
    said = [
        v
        for q in questions
        if q.kind is QuestionKind.CONSENT
        and isinstance(v := evaluation.answers.get(str(q.number)), bool)
    ]
    if evaluation.absent or not said:
        return None
    return all(v is True for v in said)


def _questions_or_all(network: Network, session_number: int) -> tuple[Question, ...]:
    try:
        return questions_of(network, session_number)
    except KeyError:
        return network.questions  # a session no longer in the file: its "no" still counts


def consent_given(network: Network, replies: Iterable[Evaluation]) -> bool | None:
    """The participant's most recent explicit word on consent, over all their replies.

    Ordered by arrival; a reply that does not answer the consent question says
    nothing and changes nothing, so a withdrawal stays withdrawn until a later
    explicit yes. None: they never answered it.
    """
    statements = [
        (e.received_at, e.id, said)
        for e in replies
        if (said := _consent(e, _questions_or_all(network, e.session_number))) is not None
    ]
    return max(statements)[2] if statements else None


def shared_answers(
    network: Network,
    evaluations_of_participant: Iterable[Evaluation],
    superseded: Iterable[Evaluation] = (),
) -> list[SharedAnswer]:
    """The answers of ONE participant their manager may read, by session and question.

    ``evaluations_of_participant`` are their current evaluations; ``superseded`` the
    replies those replaced, which still count as statements about consent.
    """
    given = list(evaluations_of_participant)
    earlier = list(superseded)
    if len({e.participant_id for e in [*given, *earlier]}) > 1:
        msg = "shared_answers takes the evaluations of one participant"
        raise ValueError(msg)
    if consent_given(network, [*given, *earlier]) is not True:
        return []  # never said yes, or the latest word is a no: nothing is shared
    known: list[tuple[Evaluation, tuple[Question, ...], Session | None]] = []
    for e in given:
        try:
            session: Session | None = network.session(e.session_number)
            qs = questions_of(network, e.session_number)
        except KeyError:
            # A session no longer in the file shares nothing, but its "no" still counts.
            session, qs = None, network.questions
        known.append((e, qs, session))
    shared: list[SharedAnswer] = []
    for e, qs, session in sorted(known, key=lambda k: k[0].session_number):
        if session is None or _consent(e, qs) is not True:
            continue
        for q in qs:
            value = e.answers.get(str(q.number))
            if not q.share_with_manager or value is None or value == "":
                continue
            shared.append(SharedAnswer(session.number, session.title, q.number, q.text, value))
    return shared
