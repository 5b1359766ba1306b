"""The contexts of a manager's mail, and of the preview a participant sees of it first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leernet.messages import textfmt
from leernet.messages.views import (
    Context,
    SharedAnswer,
    base_context,
    first_name,
    session_view,
)
from leernet.network.model import Network, Participant, Person

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from datetime import datetime


def manager_start(network: Network, manager: Person, employees: Sequence[Participant]) -> Context:
    """The context of the note to a manager when the network starts."""
    names = [e.name for e in employees]
    return base_context(network, manager.name) | {
        "employees": names,
        "employee_names": textfmt.join_names(names, network.language),
        "employee_count": len(names),
        "sessions": [session_view(network, s) for s in network.active_sessions],
    }


def manager_summary(
    network: Network,
    participant: Participant,
    attended: Collection[int],
    shared: Sequence[SharedAnswer],
    now: datetime,
) -> Context:
    """The summary before ``participant``'s growth conversation: ``shared`` is all it shows.

    ``shared`` must already be filtered on the participant's consent; nothing
    else about their evaluations reaches this function.
    """
    held = [s for s in network.active_sessions if s.start <= now]
    went = [s for s in held if s.number in attended]
    titles = {s.number: s.title for s in network.sessions}
    return base_context(network, participant.manager_name) | {
        "participant_name": participant.name,
        "held_count": len(held),
        "attended_count": len(went),
        "attended": [session_view(network, s) for s in went],
        "topics": [session_view(network, s) for s in held],
        "shared": [
            {
                "session": titles.get(a.session_number, ""),
                "question": a.question,
                "answer": a.answer,
            }
            for a in sorted(shared, key=lambda a: a.session_number)
        ],
    }


def summary_preview(
    network: Network, participant: Participant, manager_text: str, sends_at: datetime
) -> Context:
    """The participant's copy of the summary their manager will get, with how to hold it back."""
    return base_context(network, participant.name) | {
        "manager_name": participant.manager_name,
        "manager_first_name": first_name(participant.manager_name),
        "sends_on": textfmt.long_date(network.local(sends_at), network.language),
        "summary_lines": manager_text.rstrip("\n").split("\n"),
    }


def summary_held(network: Network, participant: Participant, *, already_sent: bool) -> Context:
    """The answer to a participant who held back their manager's summary."""
    return base_context(network, participant.name) | {
        "manager_name": participant.manager_name,
        "already_sent": already_sent,
    }
