"""The store's read side: attendance and evaluations of a network, and the digest's figures.

Each loader runs a few queries per network (never one per participant) and
returns frozen values; the rest of this module is pure.
What managers may read is decided in ``records/sharing.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import TYPE_CHECKING, Any

from icalendar.enums import PARTSTAT
from sqlalchemy import select

from leernet.network.defaults import session_questions
from leernet.network.model import Network, Question, QuestionKind, Session
from leernet.records import networks
from leernet.store import schema as t

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection

Answer = int | bool | str
Key = tuple[int, int]  # (participant id, session number)


MAX_RATING = 5  # ratings are 1 to 5 (the seed's questions)


@dataclass(frozen=True, slots=True)
class Reply:
    """A stored REPLY: PARTSTAT (upper case), COMMENT, and what orders it against others."""

    partstat: PARTSTAT
    comment: str
    sequence: int
    dtstamp: datetime | None
    received_at: datetime

    def newer_than(self, other: Reply) -> bool:
        """Whether this reply was made after ``other`` (DTSTAMP, then arrival), ties included."""
        if self.dtstamp is not None and other.dtstamp is not None and self.dtstamp != other.dtstamp:
            return self.dtstamp > other.dtstamp
        return self.received_at >= other.received_at


@dataclass(frozen=True, slots=True)
class Attendance:
    """Who answered what for each session, and who was there."""

    replies: Mapping[Key, Reply] = field(default_factory=dict)  # session 0 = the series
    presence: Mapping[Key, bool] = field(default_factory=dict)
    moved_sequence: Mapping[int, int] = field(default_factory=dict)

    def reply(self, participant_id: int, session_number: int) -> Reply | None:
        """The REPLY that counts for one session: the newer of the instance and series replies.

        A reply (of either kind) to a version before the session moved does not count.
        """
        floor = self.moved_sequence.get(session_number, 0)
        own = self.replies.get((participant_id, session_number))
        series = self.replies.get((participant_id, 0))
        if own is not None and own.sequence < floor:
            own = None
        if series is not None and series.sequence < floor:
            series = None
        if own is None or series is None:
            return own or series
        return own if own.newer_than(series) else series

    def rsvp(self, participant_id: int, session_number: int) -> PARTSTAT:
        """The participant's answer for this session: its own REPLY or the series', the newer."""
        found = self.reply(participant_id, session_number)
        return PARTSTAT.NEEDS_ACTION if found is None else found.partstat

    def comment(self, participant_id: int, session_number: int) -> str:
        """The comment of that answer."""
        found = self.reply(participant_id, session_number)
        return "" if found is None else found.comment

    def present(self, participant_id: int, session_number: int) -> bool | None:
        """Whether they were there (None: nobody said)."""
        return self.presence.get((participant_id, session_number))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One evaluation as stored."""

    id: int
    participant_id: int
    session_number: int
    absent: bool
    answers: Mapping[str, Answer]
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Evaluations:
    """The current evaluation of each participant and session, and the replies they replaced.

    The replaced ones still count for consent: each reply that answered the consent
    question is a statement, and the latest statement wins (``shared_answers``).
    """

    rows: Mapping[Key, Evaluation] = field(default_factory=dict)
    superseded: Mapping[int, tuple[Evaluation, ...]] = field(default_factory=dict)

    def get(self, participant_id: int, session_number: int) -> Evaluation | None:
        """The participant's current evaluation of this session."""
        return self.rows.get((participant_id, session_number))

    def for_session(self, number: int) -> tuple[Evaluation, ...]:
        """The current evaluations of one session."""
        return tuple(e for (_, n), e in sorted(self.rows.items()) if n == number)

    def for_participant(self, participant_id: int) -> tuple[Evaluation, ...]:
        """The current evaluations of one participant."""
        return tuple(e for (p, _), e in sorted(self.rows.items()) if p == participant_id)

    def superseded_of(self, participant_id: int) -> tuple[Evaluation, ...]:
        """The earlier replies of one participant that a later reply replaced."""
        return self.superseded.get(participant_id, ())


def _members(network_id: int) -> Any:
    return select(t.participants.c.id).where(t.participants.c.network_id == network_id)


async def attendance(conn: AsyncConnection, network_id: int) -> Attendance:
    """Load every REPLY, presence and session move of one network (three queries)."""
    members = _members(network_id)
    replies = (
        await conn.execute(select(t.rsvps).where(t.rsvps.c.participant_id.in_(members)))
    ).all()
    presence = (
        await conn.execute(
            select(
                t.presence.c.participant_id, t.presence.c.session_number, t.presence.c.present
            ).where(t.presence.c.participant_id.in_(members))
        )
    ).all()
    moved = await networks.moved_sequences(conn, network_id)
    return Attendance(
        replies={
            (r.participant_id, r.session_number): Reply(
                PARTSTAT(r.partstat), r.comment or "", r.sequence, r.dtstamp, r.received_at
            )
            for r in replies
        },
        presence={(p.participant_id, p.session_number): bool(p.present) for p in presence},
        moved_sequence=moved,
    )


async def evaluations(conn: AsyncConnection, network_id: int) -> Evaluations:
    """Load the evaluations of one network, current and replaced (one query)."""
    rows = (
        await conn.execute(
            select(t.evaluations)
            .where(t.evaluations.c.participant_id.in_(_members(network_id)))
            .order_by(t.evaluations.c.id)
        )
    ).all()
    current: dict[Key, Evaluation] = {}
    superseded: dict[int, list[Evaluation]] = {}
    for r in rows:
        e = _evaluation(r)
        if r.current:
            current[(r.participant_id, r.session_number)] = e
        else:
            superseded.setdefault(r.participant_id, []).append(e)
    return Evaluations(current, {pid: tuple(es) for pid, es in superseded.items()})


async def current_evaluation(
    conn: AsyncConnection, participant_id: int, session_number: int
) -> Evaluation | None:
    """One participant's current evaluation of one session, or None."""
    e = t.evaluations
    r = (
        await conn.execute(
            select(e).where(
                e.c.participant_id == participant_id,
                e.c.session_number == session_number,
                e.c.current.is_(True),
            )
        )
    ).first()
    return None if r is None else _evaluation(r)


def _evaluation(r: Any) -> Evaluation:
    return Evaluation(
        r.id,
        r.participant_id,
        r.session_number,
        bool(r.absent),
        dict(r.answers or {}),
        r.received_at,
    )


async def answered_questions(conn: AsyncConnection, network_id: int) -> set[int]:
    """The numbers of the questions that have an answer in any reply (replaced ones too)."""
    rows = await conn.execute(
        select(t.evaluations.c.answers).where(
            t.evaluations.c.participant_id.in_(_members(network_id))
        )
    )
    return {int(k) for (answers,) in rows for k in (answers or {}) if str(k).isdigit()}


def questions_of(network: Network, session_number: int) -> tuple[Question, ...]:
    """The questions asked in one session's evaluation (the kick-off and closing ask more)."""
    session = network.session(session_number)
    return session_questions(network.questions, session.kind, network.language)


# --- digest helpers ----------------------------------------------------------------------


def _is_rating(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_RATING


def average_rating(
    evaluations_of_session: Iterable[Evaluation], questions: Sequence[Question]
) -> float | None:
    """The mean of all valid 1-5 answers to the rating questions, or None without any."""
    numbers = [q.number for q in questions if q.kind is QuestionKind.RATING]
    values: list[int] = []
    for e in evaluations_of_session:
        for n in numbers:
            v = e.answers.get(str(n))
            if not e.absent and isinstance(v, int) and _is_rating(v):
                values.append(v)
    return fmean(values) if values else None


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What the organiser's digest and ``leernet status`` say about one session."""

    session: Session
    accepted: int
    declined: int
    tentative: int
    no_answer: int
    present: int
    absent: int
    evaluations: int
    average_rating: float | None
    free_text: Mapping[int, tuple[str, ...]]  # question number -> answers (no names)
    not_evaluated: tuple[int, ...]  # participant ids without an evaluation


def summarise(
    network: Network,
    participant_ids: Sequence[int],
    attendance_: Attendance,
    evaluations_: Evaluations,
    session_number: int,
) -> SessionSummary:
    """Count one session's answers over the given (active) participants."""
    counts = {
        PARTSTAT.ACCEPTED: 0,
        PARTSTAT.DECLINED: 0,
        PARTSTAT.TENTATIVE: 0,
        PARTSTAT.NEEDS_ACTION: 0,
    }
    present = absent = 0
    given: list[Evaluation] = []
    missing: list[int] = []
    for pid in participant_ids:
        status = attendance_.rsvp(pid, session_number)
        counts[status if status in counts else PARTSTAT.NEEDS_ACTION] += 1
        was = attendance_.present(pid, session_number)
        present += was is True
        absent += was is False
        e = evaluations_.get(pid, session_number)
        if e is None:
            missing.append(pid)
        else:
            given.append(e)
    questions = questions_of(network, session_number)
    free: dict[int, tuple[str, ...]] = {}
    for q in questions:
        if q.kind is not QuestionKind.TEXT:
            continue
        texts = tuple(
            v for e in given if isinstance(v := e.answers.get(str(q.number)), str) and v.strip()
        )
        if texts:
            free[q.number] = texts
    return SessionSummary(
        session=network.session(session_number),
        accepted=counts[PARTSTAT.ACCEPTED],
        declined=counts[PARTSTAT.DECLINED],
        tentative=counts[PARTSTAT.TENTATIVE],
        no_answer=counts[PARTSTAT.NEEDS_ACTION],
        present=present,
        absent=absent,
        evaluations=len(given),
        average_rating=average_rating(given, questions),
        free_text=free,
        not_evaluated=tuple(missing),
    )


async def rollcall_order(conn: AsyncConnection, digest_key: str) -> tuple[str, ...] | None:
    """The participants as numbered in the digest keyed ``digest_key`` (None: not kept)."""
    r = t.rollcall_orders
    found = (await conn.execute(select(r.c.emails).where(r.c.digest_key == digest_key))).first()
    return None if found is None else tuple(str(e) for e in found.emails)
