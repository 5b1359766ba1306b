"""A participant list sent again for a running network: who joins, who leaves, whose details change.

Participants are the same person when their address is the same (case
ignored); the words are for the preview the organiser confirms.
"""

from __future__ import annotations

from dataclasses import dataclass

from leernet.messages import textfmt
from leernet.network.model import Network, Participant
from leernet.network.model import language as as_language
from leernet.organiser.intake.participant_list import Listed, ParticipantList


@dataclass(frozen=True, slots=True)
class ListChange:
    """What a list sent again changes: who joins, who leaves, whose details change."""

    joins: tuple[Listed, ...]
    leaves: tuple[Participant, ...]
    updates: tuple[tuple[Participant, Listed], ...]  # same address; name, manager or date differ

    @property
    def empty(self) -> bool:
        """Whether the list changes nothing."""
        return not (self.joins or self.leaves or self.updates)


def compare_list(network: Network, people: ParticipantList) -> ListChange:
    """Compare a list sent again with the running network."""
    listed = {p.email.lower(): p for p in people.participants}
    known = {p.email.lower(): p for p in network.participants}
    joins = tuple(p for key, p in listed.items() if key not in known)
    leaves = tuple(p for key, p in known.items() if key not in listed)
    updates = tuple(
        (known[key], p)
        for key, p in listed.items()
        if key in known and _details(known[key]) != _details_listed(p)
    )
    return ListChange(joins, leaves, updates)


def _details(p: Participant) -> tuple[object, ...]:
    return (p.name, p.manager_name, p.manager_email.lower(), p.growth_conversation)


def _details_listed(p: Listed) -> tuple[object, ...]:
    return (p.name, p.manager_name, p.manager_email.lower(), p.growth_conversation)


_WORDS = {
    "nl": {
        "join": "Nieuw: {who} (rij {row}) krijgt een uitnodiging",
        "leave": "Vertrekt: {who} krijgt een annulering",
        "update": "Aangepast: {who}",
        "none": "De lijst is dezelfde als die van het netwerk; er verandert niets.",
        "manager": "leidinggevende {value}",
        "growth": "groeigesprek {value}",
    },
    "en": {
        "join": "New: {who} (row {row}) gets an invitation",
        "leave": "Leaving: {who} gets a cancellation",
        "update": "Changed: {who}",
        "none": "The list is the same as the network's; nothing changes.",
        "manager": "manager {value}",
        "growth": "growth conversation {value}",
    },
}


def list_change_lines(change: ListChange, language: str) -> list[str]:
    """One line per join, leave and change, in the network's language."""
    lang = as_language(language)
    w = _WORDS[lang]
    if change.empty:
        return [w["none"]]
    out = [w["join"].format(who=f"{p.name} <{p.email}>", row=p.row) for p in change.joins]
    out += [w["leave"].format(who=f"{p.name} <{p.email}>") for p in change.leaves]
    for _, p in change.updates:
        parts = [f"{p.name} <{p.email}>"]
        if p.manager_email:
            parts.append(w["manager"].format(value=p.manager_name or p.manager_email))
        if p.growth_conversation is not None:
            date_text = textfmt.long_date(p.growth_conversation, lang)
            parts.append(w["growth"].format(value=date_text))
        out.append(w["update"].format(who=", ".join(parts)))
    return out
