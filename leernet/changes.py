"""What an update of the network file changes, in data and in words."""

from __future__ import annotations

from dataclasses import dataclass

from leernet.errors import NetworkFileError, Problem
from leernet.model import Network, Participant, Session
from leernet.textfmt import when


@dataclass(frozen=True, slots=True)
class Changes:
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

    @property
    def moved_numbers(self) -> set[int]:
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
        return not (self.bumps_sequence or self.added or self.removed or self.people)


def diff(old: Network, new: Network) -> Changes:
    """Compare a registered network with its updated file; refuse changes a series cannot take."""
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
    if problems:
        raise NetworkFileError(problems)
    moved, retitled, cancelled, restored, details = [], [], [], [], []
    for before in old.sessions:
        after = new.session(before.number)
        if after.cancelled and not before.cancelled:
            cancelled.append(after)
            continue
        if before.cancelled and not after.cancelled:
            restored.append(after)
        if (after.start, after.minutes, after.location, after.online_url) != (
            before.start,
            before.minutes,
            before.location,
            before.online_url,
        ):
            moved.append(after)
        if after.title != before.title:
            retitled.append(after)
        if (after.work_form, after.speaker, after.kind) != (
            before.work_form,
            before.speaker,
            before.kind,
        ):
            details.append(after)
    old_emails = {p.email.lower() for p in old.participants}
    new_emails = {p.email.lower() for p in new.participants}
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
    return Changes(
        people=tuple(people),
        new_managers=tuple(new_managers),
        moved=tuple(moved),
        retitled=tuple(retitled),
        cancelled=tuple(cancelled),
        restored=tuple(restored),
        details=tuple(details),
        added=tuple(p for p in new.participants if p.email.lower() not in old_emails),
        removed=tuple(p for p in old.participants if p.email.lower() not in new_emails),
        network_text=(old.name, old.goal, old.location, old.online_url)
        != (new.name, new.goal, new.location, new.online_url),
    )


_WORDS = {
    "nl": {
        "moved": "Sessie {n} ({title}) is verplaatst naar {when}.",
        "retitled": "Sessie {n} heet nu '{title}'.",
        "cancelled": "Sessie {n} ({title}) op {when} gaat niet door.",
        "restored": "Sessie {n} ({title}) op {when} gaat toch door.",
        "details": "Het programma van sessie {n} ({title}) is aangepast.",
        "network": "De gegevens van het netwerk zijn aangepast.",
    },
    "en": {
        "moved": "Session {n} ({title}) has moved to {when}.",
        "retitled": "Session {n} is now called '{title}'.",
        "cancelled": "Session {n} ({title}) on {when} is cancelled.",
        "restored": "Session {n} ({title}) on {when} takes place after all.",
        "details": "The programme of session {n} ({title}) has changed.",
        "network": "The network's details have changed.",
    },
}


def session_sentences(changes: Changes, network: Network, language: str) -> list[str]:
    """The changes participants need to know about, in their language."""
    words = _WORDS[language]
    out: list[str] = []
    for kind, group in (
        ("cancelled", changes.cancelled),
        ("restored", changes.restored),
        ("moved", changes.moved),
        ("retitled", changes.retitled),
        ("details", changes.details),
    ):
        for s in group:
            text = words[kind].format(
                n=s.number, title=s.title, when=when(s.start, s.end, network.zone, language)
            )
            if text not in out:
                out.append(text)
    if changes.network_text:
        out.append(words["network"])
    return out


def organiser_sentences(changes: Changes, network: Network) -> list[str]:
    """The change in words for the organiser at the terminal (English, like the CLI)."""
    out = session_sentences(changes, network, "en")
    out += [f"New participant: {p.name} <{p.email}>" for p in changes.added]
    out += [
        f"Removed participant: {p.name} <{p.email}> (gets a cancellation)" for p in changes.removed
    ]
    out += [
        f"Changed participant: {p.name} <{p.email}> (manager {p.manager_email or '-'}, "
        f"growth conversation {p.growth_conversation or '-'})"
        for p in changes.people
    ]
    return out
