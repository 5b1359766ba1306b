"""How a network looks in the terminal (``leernet check``)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from leernet.messages.textfmt import when
from leernet.network.model import Network
from leernet.organiser.terminal import PlainTable as Table
from leernet.organiser.terminal import esc

_KIND = {"kickoff": "kick-off", "session": "session", "closing": "closing"}


def show_network(network: Network, console: Console) -> None:
    """Print a network as ``leernet check`` shows it."""
    console.print(
        f"[bold]{esc(network.name)}[/bold]  "
        f"({esc(network.slug)}, {network.language}, {esc(network.timezone)})"
    )
    console.print(f"Goal: {esc(network.goal)}")
    console.print(f"Organiser: {esc(network.organiser.name)} <{esc(network.organiser.email)}>")
    place = " · ".join(x for x in (network.location, network.online_url) if x)
    if place:
        console.print(f"Where: {esc(place)}")
    sessions = Table(title=f"{len(network.sessions)} sessions", title_justify="left")
    for col in ("#", "kind", "when (local)", "title", "work form / speaker", "where"):
        sessions.add_column(col, overflow="fold")
    for s in network.sessions:
        extra = " / ".join(x for x in (s.work_form, s.speaker) if x)
        where = s.location or s.online_url or ""
        title = (
            Text.from_markup(f"[strike]{esc(s.title)}[/strike] (cancelled)")
            if s.cancelled
            else s.title
        )
        sessions.add_row(
            str(s.number),
            _KIND[s.kind.value],
            when(s.start, s.end, network.zone, network.language),
            title,
            extra,
            where,
        )
    console.print(sessions)
    people = Table(title=f"{len(network.participants)} participants", title_justify="left")
    for col in ("#", "name", "email", "manager", "growth conversation"):
        people.add_column(col, overflow="fold")
    for i, p in enumerate(network.participants, start=1):
        manager = f"{p.manager_name} <{p.manager_email}>" if p.manager_email else "-"
        growth = p.growth_conversation.isoformat() if p.growth_conversation else "-"
        people.add_row(str(i), p.name, p.email, manager, growth)
    console.print(people)
    qs = Table(title="Evaluation questions (after every session)", title_justify="left")
    qs.add_column("#")
    qs.add_column("question", overflow="fold")
    qs.add_column("kind")
    for q in network.questions:
        shared = " (shared with manager on consent)" if q.share_with_manager else ""
        qs.add_row(str(q.number), q.text, q.kind.value + shared)
    console.print(qs)
