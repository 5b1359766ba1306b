"""What an update of the network file changes, in words: for participants and the organiser."""

from __future__ import annotations

from leernet.messages.textfmt import when
from leernet.network.changes import Changes
from leernet.network.model import Network

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
    out += [
        f"Question {n} is now shared with managers, with consent: for answers given from now on"
        for n in changes.newly_shared
    ]
    out += [
        f"Question {n} is no longer shared with managers: no answer to it, earlier ones "
        "included, appears in a manager summary again"
        for n in changes.unshared
    ]
    if changes.questions and not (changes.newly_shared or changes.unshared):
        out.append(
            "The evaluation questions changed (asked from now on); what managers may read "
            "does not change"
        )
    return out
