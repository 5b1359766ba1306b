"""What an update of the network file changes, as data (the words are in ``messages/change_text``)."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from leernet.errors import NetworkFileError, Problem
from leernet.network.model import Network, Participant, QuestionKind, Session


@dataclass(frozen=True, slots=True)
class Changes:
    """What an update changes: sessions, people, texts, questions and their sharing."""

    moved: tuple[Session, ...] = ()  # new time, length or place
    retitled: tuple[Session, ...] = ()
    cancelled: tuple[Session, ...] = ()  # newly cancelled
    restored: tuple[Session, ...] = ()  # no longer cancelled
    details: tuple[Session, ...] = ()  # work form or speaker changed
    added: tuple[Participant, ...] = ()
    removed: tuple[Participant, ...] = ()
    # Staying participants whose name, manager or growth conversation changed: no new
    # invite (the calendar is the same), but the store must follow.
    people: tuple[Participant, ...] = ()
    new_managers: tuple[Participant, ...] = ()  # of those, the ones with another manager now
    network_text: bool = False  # name, goal, location or link of the network changed
    questions: bool = False  # the evaluation questions changed (asked from now on)
    # Sharing with managers: questions newly shared (only ones without answers yet), and
    # questions no longer shared (their answers, old ones too, are never shown again).
    newly_shared: tuple[int, ...] = ()
    unshared: tuple[int, ...] = ()

    @property
    def moved_numbers(self) -> set[int]:
        """The numbers of the sessions that moved."""
        return {s.number for s in self.moved}

    @property
    def bumps_sequence(self) -> bool:
        """Whether the invite itself changed (RFC 5546 2.1.4: SEQUENCE+1 on a significant change)."""
        return bool(
            self.moved
            or self.retitled
            or self.cancelled
            or self.restored
            or self.details
            or self.network_text
        )

    @property
    def empty(self) -> bool:
        """Whether the update changes nothing."""
        return not (
            self.bumps_sequence or self.added or self.removed or self.people or self.questions
        )


def _sharing(
    old: Network, new: Network, answered: AbstractSet[int], problems: list[Problem]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Which questions start and stop being shared; refuse sharing answers given before.

    A participant answered a question as it was then: shared with their manager or
    not, and consent given to that question's wording. Sharing a question that
    already has answers, or rewording one that is shared or asks consent, would
    change after the fact what a manager reads (seed: a safe environment).
    """
    before = {q.number: q for q in old.questions}
    after = {q.number: q for q in new.questions}
    newly, unshared = [], []
    for n, q in sorted(after.items()):
        was = before.get(n)
        same_words = was is not None and (was.text, was.kind) == (q.text, q.kind)
        was_shared = was is not None and was.share_with_manager
        if n in answered and q.share_with_manager and not (same_words and was_shared):
            why = "was not shared with managers" if same_words else "read differently"
            problems.append(
                Problem(
                    f"evaluation.questions[{n - 1}]",
                    f"question {n} already has answers, given when it {why}: they may not be "
                    "shared after the fact; add a new question instead (its answers are "
                    "shared from now on, with consent)",
                )
            )
            continue
        if n in answered and q.kind is QuestionKind.CONSENT and not same_words:
            problems.append(
                Problem(
                    f"evaluation.questions[{n - 1}]",
                    f"question {n} asks consent and already has answers: a yes to the old "
                    "wording may not stand for the new one; keep its text, or add a new question",
                )
            )
            continue
        if q.share_with_manager and not was_shared:
            newly.append(n)
    for n, was in sorted(before.items()):
        if was.share_with_manager and not (n in after and after[n].share_with_manager):
            unshared.append(n)
    return tuple(newly), tuple(unshared)


def _refusals(old: Network, new: Network) -> list[Problem]:
    """What a running series cannot take: another slug or zone, or more or fewer sessions."""
    problems: list[Problem] = []
    if old.slug != new.slug:
        problems.append(Problem("network.slug", f"is {old.slug!r} in the registered network"))
    if old.timezone != new.timezone:
        problems.append(Problem("network.timezone", "cannot change once the invites are out"))
    if len(old.sessions) != len(new.sessions):
        problems.append(
            Problem(
                "sessions",
                f"the series has {len(old.sessions)} sessions; it cannot grow or shrink once the "
                "invites are out: cancel a session (cancelled = true) or start a new network",
            )
        )
    return problems


@dataclass(slots=True)
class _SessionChanges:
    moved: list[Session] = field(default_factory=list)
    retitled: list[Session] = field(default_factory=list)
    cancelled: list[Session] = field(default_factory=list)
    restored: list[Session] = field(default_factory=list)
    details: list[Session] = field(default_factory=list)


def _sessions(old: Network, new: Network) -> _SessionChanges:
    """Each session's change, compared by number (a newly cancelled one is only cancelled)."""
    out = _SessionChanges()
    for before in old.sessions:
        after = new.session(before.number)
        if after.cancelled and not before.cancelled:
            out.cancelled.append(after)
            continue
        if before.cancelled and not after.cancelled:
            out.restored.append(after)
        if (after.start, after.minutes, after.location, after.online_url) != (
            before.start,
            before.minutes,
            before.location,
            before.online_url,
        ):
            out.moved.append(after)
        if after.title != before.title:
            out.retitled.append(after)
        if (after.work_form, after.speaker, after.kind) != (
            before.work_form,
            before.speaker,
            before.kind,
        ):
            out.details.append(after)
    return out


def _people(old: Network, new: Network) -> tuple[tuple[Participant, ...], tuple[Participant, ...]]:
    """Staying participants whose details changed, and those of them with another manager."""
    people: list[Participant] = []
    new_managers: list[Participant] = []
    for p in new.participants:
        was = old.participant(p.email)
        if was is None:
            continue
        if (p.name, p.manager_name, p.manager_email.lower(), p.growth_conversation) != (
            was.name,
            was.manager_name,
            was.manager_email.lower(),
            was.growth_conversation,
        ):
            people.append(p)
        if p.manager_email and p.manager_email.lower() != was.manager_email.lower():
            new_managers.append(p)
    return tuple(people), tuple(new_managers)


def diff(old: Network, new: Network, answered: AbstractSet[int] = frozenset()) -> Changes:
    """Compare a registered network with its updated file; refuse changes a series cannot take.

    ``answered``: the numbers of the questions that already have answers.
    """
    problems: list[Problem] = []
    newly_shared, unshared = _sharing(old, new, answered, problems)
    problems += _refusals(old, new)
    if problems:
        raise NetworkFileError(problems)
    sessions = _sessions(old, new)
    people, new_managers = _people(old, new)
    old_emails = {p.email.lower() for p in old.participants}
    new_emails = {p.email.lower() for p in new.participants}
    return Changes(
        people=people,
        new_managers=new_managers,
        moved=tuple(sessions.moved),
        retitled=tuple(sessions.retitled),
        cancelled=tuple(sessions.cancelled),
        restored=tuple(sessions.restored),
        details=tuple(sessions.details),
        added=tuple(p for p in new.participants if p.email.lower() not in old_emails),
        removed=tuple(p for p in old.participants if p.email.lower() not in new_emails),
        network_text=(old.name, old.goal, old.location, old.online_url)
        != (new.name, new.goal, new.location, new.online_url),
        questions=old.questions != new.questions,
        newly_shared=newly_shared,
        unshared=unshared,
    )
