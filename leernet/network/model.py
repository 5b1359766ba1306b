"""The validated domain model of a network: frozen values every other module reads.

``leernet.network.load`` builds these from a network file; the store rebuilds them
from the database. Datetimes are aware and in UTC; ``Network.zone`` converts
them for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

Language = Literal["nl", "en"]  # Dutch (Flemish) first; English on request
LANGUAGES: tuple[Language, ...] = ("nl", "en")


def language(code: str | None) -> Language:
    """A language code as leernet writes in: English when asked for, else Dutch (the default)."""
    return "en" if (code or "").strip().lower() == "en" else "nl"


class SessionKind(StrEnum):
    """What a session is in the network's life."""

    KICKOFF = "kickoff"
    SESSION = "session"
    CLOSING = "closing"


class QuestionKind(StrEnum):
    """How a question is answered."""

    RATING = "rating"  # 1-5
    TEXT = "text"
    YES_NO = "yes_no"
    CONSENT = "consent"  # yes/no: may the manager read the answers marked share_with_manager


@dataclass(frozen=True, slots=True)
class Question:
    """One evaluation question."""

    number: int
    text: str
    kind: QuestionKind
    share_with_manager: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    """One session of the series, with its slot (its RECURRENCE-ID for ever)."""

    number: int  # 1-based, stable: the RECURRENCE-ID is derived from the series, not this
    kind: SessionKind
    title: str
    start: datetime  # aware, UTC
    minutes: int
    slot: datetime  # aware, UTC: the series occurrence this session fills (its RECURRENCE-ID)
    work_form: str = ""
    speaker: str = ""
    location: str = ""
    online_url: str = ""
    cancelled: bool = False

    @property
    def end(self) -> datetime:
        """When the session ends."""
        return self.start + timedelta(minutes=self.minutes)


@dataclass(frozen=True, slots=True)
class Series:
    """The RRULE behind the invite: weekly every ``every_weeks`` from ``first``, ``count`` times.

    ``first`` is aware (UTC); occurrences keep the local wall-clock time of
    ``first`` in the network's zone, across daylight-saving changes. Sessions
    on other dates are overrides of their slot (RECURRENCE-ID), never RDATEs.
    """

    first: datetime
    every_weeks: int
    count: int
    minutes: int


@dataclass(frozen=True, slots=True)
class Person:
    """Anyone mail goes to by name and address: the organiser, a manager, an admin.

    One of three person types, one per role: ``Person`` (an addressee),
    ``Participant`` (a participant as the network file describes them) and
    ``leernet.records.networks.Member`` (a participant as the store registered them).
    A reply's ``Candidate`` (``leernet.replies.classify``) is who a mail claims to
    come from before it is verified: a lookup's answer, not a fourth kind of person.
    """

    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Participant:
    """A participant as the network file describes them, with their manager (see ``Person``)."""

    name: str
    email: str
    manager_name: str = ""
    manager_email: str = ""
    growth_conversation: date | None = None


@dataclass(frozen=True, slots=True)
class Followups:
    """When the follow-ups go out, relative to each session."""

    reminder_days_before: float = 2
    evaluation_hours_after: float = 1
    evaluation_reminder_days: float = 3
    manager_summary_days_before: float = 7
    summary_preview_days: float = 3  # the participant sees the manager's summary this much earlier


@dataclass(frozen=True, slots=True)
class Network:
    """A validated network: frozen, read by every other room."""

    slug: str
    name: str
    goal: str
    language: Language
    timezone: str
    organiser: Person
    sessions: tuple[Session, ...]
    participants: tuple[Participant, ...]
    questions: tuple[Question, ...]
    series: Series
    followups: Followups = field(default_factory=Followups)
    location: str = ""
    online_url: str = ""
    max_participants: int = 15
    anonymous_digest: bool = True

    @property
    def zone(self) -> ZoneInfo:
        """The network's time zone."""
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """``moment`` (aware) in the network's time zone."""
        return moment.astimezone(self.zone)

    def session(self, number: int) -> Session:
        """The session numbered ``number``; raises KeyError when there is none."""
        for s in self.sessions:
            if s.number == number:
                return s
        raise KeyError(number)

    @property
    def active_sessions(self) -> tuple[Session, ...]:
        """The sessions that are not cancelled."""
        return tuple(s for s in self.sessions if not s.cancelled)

    @property
    def first_start(self) -> datetime:
        """When the first active session starts."""
        return min(s.start for s in self.sessions)

    @property
    def last_end(self) -> datetime:
        """When the last active session ends."""
        return max(s.end for s in self.sessions)

    def participant(self, email: str) -> Participant | None:
        """The participant with this address (any case), or None."""
        wanted = email.strip().lower()
        for p in self.participants:
            if p.email.lower() == wanted:
                return p
        return None


def no_network(language: Language, questions: tuple[Question, ...] = ()) -> Network:
    """A network with nothing in it: for a message about mail that names no network."""
    epoch = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    return Network(
        slug="-",
        name="leernet",
        goal="",
        language=language,
        timezone="UTC",
        organiser=Person("", ""),
        sessions=(),
        participants=(),
        questions=questions,
        series=Series(epoch, 1, 1, 60),
    )
