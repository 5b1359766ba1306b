"""What the organiser reads from the command line: ``leernet status`` and ``leernet export``.

Export decisions: attendance has one row per active participant and session
that is not cancelled (nobody can attend a cancelled session, so its RSVP
means nothing); evaluations are the current ones of every participant,
including people removed later (their feedback on the sessions they attended
stays until they are erased). The CSV is for Excel in Flanders: ``;``, UTF-8
with BOM, CRLF, and cells that Excel would run as a formula are defused.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from icalendar.enums import PARTSTAT
from rich import box
from rich.table import Table
from rich.text import Text

from leernet.errors import LeernetError
from leernet.messages.textfmt import decimal
from leernet.organiser.terminal import PlainTable, esc
from leernet.records import facts, networks
from leernet.records import status as records_status
from leernet.records.status import Flagged, NotSent

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.ext.asyncio import AsyncConnection

    from leernet.records.networks import Registered

_MARKS = {
    PARTSTAT.ACCEPTED: "A",
    PARTSTAT.DECLINED: "D",
    PARTSTAT.TENTATIVE: "T",
    PARTSTAT.NEEDS_ACTION: "?",
}
LEGEND = (
    "Marks per session: P present, X absent (roll call or evaluation),\n"
    "otherwise the answer: A accepted, D declined, T tentative, ? none; - cancelled"
)


@dataclass(frozen=True, slots=True)
class StatusRow:
    """A participant's row in ``leernet status``: a view of a ``Member``, not a person type."""

    name: str
    email: str
    marks: str  # one character per session, in session order
    evaluations: int
    bounced: bool


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What ``leernet status`` shows of one network."""

    slug: str
    name: str
    language: str
    timezone: str
    sessions: tuple[facts.SessionSummary, ...]
    people: tuple[StatusRow, ...]
    not_sent: tuple[NotSent, ...] = ()
    flagged: tuple[Flagged, ...] = ()


async def _registered(conn: AsyncConnection, slug: str) -> Registered:
    reg = await networks.get(conn, slug)
    if reg is None:
        raise LeernetError(f"no network {slug!r} is registered (start it with `leernet start`)")
    return reg


def _mark(att: facts.Attendance, pid: int, number: int, cancelled: bool) -> str:
    if cancelled:
        return "-"
    was = att.present(pid, number)
    if was is not None:
        return "P" if was else "X"
    return _MARKS.get(att.rsvp(pid, number), "?")


async def status(conn: AsyncConnection, slug: str) -> StatusReport:
    """Gather the state of one network: per session and per participant."""
    reg = await _registered(conn, slug)
    net = reg.network
    att = await facts.attendance(conn, reg.id)
    evs = await facts.evaluations(conn, reg.id)
    active = reg.active_members
    ids = [m.id for m in active]
    sessions = tuple(facts.summarise(net, ids, att, evs, s.number) for s in net.sessions)
    people = tuple(
        StatusRow(
            name=m.name,
            email=m.email,
            marks="".join(_mark(att, m.id, s.number, s.cancelled) for s in net.sessions),
            evaluations=len(evs.for_participant(m.id)),
            bounced=m.bounced,
        )
        for m in active
    )
    not_sent = await records_status.not_sent(conn, reg.id)
    flagged = await records_status.flagged(conn, reg.id)
    return StatusReport(
        net.slug, net.name, net.language, net.timezone, sessions, people, not_sent, flagged
    )


def _table(title: str) -> Table:
    """A table of ``leernet status``: compact, so that it fits 80 columns."""
    return PlainTable(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        show_edge=False,
    )


def render_status(report: StatusReport, console: Console) -> None:
    """Print the two tables of ``leernet status``; they fit an 80-column terminal."""
    from zoneinfo import ZoneInfo  # noqa: PLC0415 - only rendering needs the zone

    zone = ZoneInfo(report.timezone)
    console.print(f"[bold]{esc(report.name)}[/bold] ({esc(report.slug)})")
    sessions = _table("Sessions")
    sessions.add_column("#", justify="right")
    sessions.add_column("date", no_wrap=True)
    sessions.add_column("title", overflow="fold", min_width=16)
    for head in ("acc", "dec", "tent", "none", "eval", "abs", "avg"):
        sessions.add_column(head, justify="right")
    for s in report.sessions:
        local = s.session.start.astimezone(zone)
        title = s.session.title + (" (cancelled)" if s.session.cancelled else "")
        average = "" if s.average_rating is None else decimal(s.average_rating, report.language)
        sessions.add_row(
            str(s.session.number),
            local.strftime("%d-%m-%Y %H:%M"),
            title,
            str(s.accepted),
            str(s.declined),
            str(s.tentative),
            str(s.no_answer),
            str(s.evaluations),
            str(s.absent),
            average,
        )
    console.print(sessions)
    console.print()
    people = _table("Participants")
    people.add_column("name", overflow="ellipsis", max_width=22)
    people.add_column("email", overflow="fold", max_width=30)
    people.add_column("sessions", no_wrap=True)
    people.add_column("eval", justify="right")
    people.add_column("bounced")
    for p in report.people:
        people.add_row(p.name, p.email, p.marks, str(p.evaluations), "yes" if p.bounced else "")
    console.print(people)
    console.print(LEGEND, highlight=False)
    if report.not_sent:
        console.print()
        failed = _table(f"Not sent ({len(report.not_sent)}): the organiser was told once a day")
        failed.add_column("kind", no_wrap=True)
        failed.add_column("to", overflow="fold", max_width=30)
        failed.add_column("reason", overflow="fold", min_width=20)
        for row in report.not_sent:
            failed.add_row(row.kind, row.recipient, row.reason)
        console.print(failed)
    if report.flagged:
        console.print()
        title = f"Bounced ({len(report.flagged)}): no mail to them until a verified reply arrives"
        flagged = _table(title)
        flagged.add_column("name", overflow="ellipsis", max_width=22)
        flagged.add_column("email", overflow="fold", max_width=30)
        flagged.add_column("since (UTC)", no_wrap=True)
        flagged.add_column("why", overflow="fold", min_width=20)
        for f in report.flagged:
            # Text, not markup: a name or a server's reason is never read as Rich markup.
            since = f.since.strftime("%Y-%m-%d %H:%M")
            flagged.add_row(Text(f.name), Text(f.email), since, Text(f.reason))
        console.print(flagged)


# --- export ------------------------------------------------------------------------------


async def export(conn: AsyncConnection, slug: str) -> dict[str, Any]:
    """The export of DESIGN.md's contract: ``{network, attendance, evaluations}``."""
    reg = await _registered(conn, slug)
    att = await facts.attendance(conn, reg.id)
    evs = await facts.evaluations(conn, reg.id)
    emails = {m.id: m.email for m in reg.members}
    attendance = [
        {
            "participant": m.email,
            "session": s.number,
            "rsvp": att.rsvp(m.id, s.number).lower(),
            "comment": att.comment(m.id, s.number),
            "present": att.present(m.id, s.number),
        }
        for m in reg.active_members
        for s in reg.network.active_sessions
    ]
    order = {m.id: i for i, m in enumerate(reg.members)}
    evaluations = [
        {
            "participant": emails[e.participant_id],
            "session": e.session_number,
            "absent": e.absent,
            "answers": dict(sorted(e.answers.items(), key=lambda kv: _number(kv[0]))),
        }
        for e in sorted(
            evs.rows.values(), key=lambda e: (order[e.participant_id], e.session_number)
        )
    ]
    return {"network": reg.slug, "attendance": attendance, "evaluations": evaluations}


def _number(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


def export_json(data: dict[str, Any]) -> str:
    """The export as JSON text (the contract in DESIGN.md)."""
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any, language: str) -> str:
    """One CSV cell: numbers as numbers, yes/no in the network's language, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        words = ("yes", "no") if language == "en" else ("ja", "nee")
        return words[0] if value else words[1]
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    # OWASP "CSV injection": Excel runs a cell starting with these as a formula.
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(data: dict[str, Any], reg: Registered) -> list[list[str]]:
    """The export as one row per participant and session, header first."""
    net = reg.network
    language = net.language
    names = {m.email: m.name for m in reg.members}
    sessions = {s.number: s for s in net.sessions}
    width = max((len(facts.questions_of(net, n)) for n in sessions), default=0)
    evaluations = {(e["participant"], e["session"]): e for e in data["evaluations"]}
    rows: list[dict[str, Any]] = list(data["attendance"])
    seen = {(r["participant"], r["session"]) for r in rows}
    rows += [
        {"participant": p, "session": n, "rsvp": "", "comment": "", "present": None}
        for (p, n) in evaluations
        if (p, n) not in seen
    ]
    out = [
        ["participant", "name", "session", "date", "title", "rsvp", "comment", "present", "absent"]
        + [f"q{i}" for i in range(1, width + 1)]
    ]
    for r in rows:
        session = sessions.get(r["session"])
        e = evaluations.get((r["participant"], r["session"]))
        answers = e["answers"] if e else {}
        out.append(
            [
                _cell(r["participant"], language),
                _cell(names.get(r["participant"], ""), language),
                _cell(r["session"], language),
                net.local(session.start).strftime("%Y-%m-%d %H:%M") if session else "",
                _cell(session.title if session else "", language),
                _cell(r["rsvp"], language),
                _cell(r["comment"], language),
                _cell(r["present"], language),
                _cell(e["absent"] if e else None, language),
            ]
            + [_cell(answers.get(str(i)), language) for i in range(1, width + 1)]
        )
    return out


def export_csv(data: dict[str, Any], reg: Registered) -> bytes:
    """The export as CSV bytes for Excel in Flanders (``;``, UTF-8 with BOM, CRLF).

    ``reg`` gives the names, session dates and titles and the language of yes/no.
    """
    return render_csv(csv_rows(data, reg))


def render_csv(rows: list[list[str]]) -> bytes:
    """CSV rows with semicolons, as UTF-8 with a BOM: what Excel in Flanders opens right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")
