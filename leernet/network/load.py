"""The network file: TOML in, a validated ``Network`` out, with every problem named by its field.

``load_network`` collects all problems before it raises, so an organiser sees
the whole list at once; ``warnings`` follow the seed's guidance (10-15
participants, a kick-off first, a closing last).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from leernet.errors import NetworkFileError, Problem
from leernet.network import defaults
from leernet.network.across import across_fields
from leernet.network.filemodel import FileNetwork, FileSession, field_path
from leernet.network.model import (
    Followups,
    Network,
    Participant,
    Person,
    Question,
    QuestionKind,
    Series,
    Session,
    SessionKind,
)

MIN_PARTICIPANTS, MAX_PARTICIPANTS = 10, 15  # the seed: a learning network of 10 to 15


@dataclass(frozen=True, slots=True)
class Loaded:
    """A validated network and the warnings about it."""

    network: Network
    warnings: tuple[str, ...]


def occurrence(series: Series, zone: ZoneInfo, index: int) -> datetime:
    """The ``index``-th (0-based) occurrence of the series, in UTC, keeping local wall-clock time."""
    local = series.first.astimezone(zone).replace(tzinfo=None)
    moved = local + timedelta(weeks=series.every_weeks * index)
    return moved.replace(tzinfo=zone).astimezone(UTC)


def load_network(path: str | Path, *, now: datetime | None = None) -> Loaded:
    """Read and validate a network file; raise ``NetworkFileError`` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NetworkFileError([Problem("", f"cannot read the file: {exc}")], str(path)) from exc
    return parse_network(text, now=now, source=str(path))


def parse_network(text: str, *, now: datetime | None = None, source: str = "") -> Loaded:
    """Validate a network file's text; raises ``NetworkFileError`` naming every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NetworkFileError([Problem("", f"not valid TOML: {exc}")], source) from exc
    try:
        model = FileNetwork.model_validate(raw)
    except ValidationError as exc:
        found = [Problem(field_path(e["loc"]), _message(e)) for e in exc.errors()]
        found += [p for p in across_fields(raw) if p not in found]
        raise NetworkFileError(found, source) from None
    problems = across_fields(raw)
    network = _build(model, problems)
    if problems or network is None:
        raise NetworkFileError(problems, source)
    return Loaded(network, tuple(_warnings(network, model, now)))


def _message(error: Any) -> str:
    msg = str(error.get("msg", "invalid"))
    if error.get("type") == "missing":
        return "is required"
    if error.get("type") == "extra_forbidden":
        return "is not a known key (check the spelling)"
    return msg.removeprefix("Value error, ")


def _build(model: FileNetwork, problems: list[Problem]) -> Network | None:
    net = model.network
    try:
        zone = ZoneInfo(net.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem("network.timezone", f"{net.timezone!r} is not a known time zone"))
        return None

    sessions = _sessions(model, zone, net.language, problems)
    participants = tuple(
        Participant(p.name, p.email, p.manager_name, p.manager_email, p.growth_conversation)
        for p in model.participants
    )
    questions = _questions(model, net.language, problems)
    if not sessions:
        return None
    series = _series(model, sessions, zone)
    sessions = _with_slots(sessions, series, zone)
    _check_overlaps(sessions, problems)
    fu = model.followups
    return Network(
        slug=net.slug,
        name=net.name,
        goal=net.goal.strip(),
        language=net.language,
        timezone=net.timezone,
        organiser=Person(model.organiser.name, model.organiser.email),
        sessions=sessions,
        participants=participants,
        questions=questions,
        series=series,
        followups=Followups(
            fu.reminder_days_before,
            fu.evaluation_hours_after,
            fu.evaluation_reminder_days,
            fu.manager_summary_days_before,
            fu.summary_preview_days,
        ),
        location=net.location,
        online_url=net.online_url,
        max_participants=net.max_participants,
        anonymous_digest=net.anonymous_digest,
    )


def _sessions(
    model: FileNetwork, zone: ZoneInfo, language: str, problems: list[Problem]
) -> tuple[Session, ...]:
    sched = model.schedule
    by_number: dict[int, tuple[int, FileSession]] = {}
    for i, s in enumerate(model.sessions):
        if s.number in by_number:
            problems.append(
                Problem(f"sessions[{i + 1}].number", f"session {s.number} is listed twice")
            )
        by_number[s.number] = (i, s)
    if sched is None:
        if not model.sessions:
            problems.append(
                Problem(
                    "schedule",
                    "the series has no end: give a [schedule] with first, every_weeks and count, "
                    "or a start on every [[sessions]] entry",
                )
            )
            return ()
        count = len(model.sessions)
        expected = set(range(1, count + 1))
        if set(by_number) != expected:
            problems.append(
                Problem("sessions", f"without a [schedule], number the sessions 1 to {count}")
            )
            return ()
    else:
        count = sched.count
        for number, (i, _) in by_number.items():
            if not 1 <= number <= count:
                problems.append(
                    Problem(
                        f"sessions[{i + 1}].number",
                        f"must be between 1 and schedule.count ({count})",
                    )
                )

    result: list[Session] = []
    for number in range(1, count + 1):
        index, detail = by_number.get(number, (-1, None))
        where = f"sessions[{index + 1}]" if detail is not None else f"session {number}"
        start_local: datetime | None = None
        if detail is not None and detail.start is not None:
            start_local = detail.start
        elif sched is not None:
            start_local = sched.first + timedelta(weeks=sched.every_weeks * (number - 1))
        if start_local is None:
            problems.append(
                Problem(f"{where}.start", "has no time: give a start (or a [schedule])")
            )
            continue
        minutes = (detail.minutes if detail else None) or (sched.minutes if sched else None)
        if minutes is None:
            problems.append(
                Problem(f"{where}.minutes", "has no length: give minutes (or schedule.minutes)")
            )
            continue
        if start_local.tzinfo is not None:
            problems.append(
                Problem(
                    f"{where}.start", "give a local time without offset; network.timezone applies"
                )
            )
            continue
        kind = SessionKind(detail.kind) if detail else SessionKind.SESSION
        title = (detail.title if detail else "") or defaults.session_title(kind, number, language)
        result.append(
            Session(
                number=number,
                kind=kind,
                title=title,
                start=start_local.replace(tzinfo=zone).astimezone(UTC),
                minutes=minutes,
                slot=start_local.replace(tzinfo=zone).astimezone(UTC),  # replaced by _with_slots
                work_form=detail.work_form if detail else "",
                speaker=detail.speaker if detail else "",
                location=detail.location if detail else "",
                online_url=detail.online_url if detail else "",
                cancelled=detail.cancelled if detail else False,
            )
        )
    return tuple(result)


def _series(model: FileNetwork, sessions: tuple[Session, ...], zone: ZoneInfo) -> Series:
    sched = model.schedule
    if sched is not None:
        first = sched.first.replace(tzinfo=zone).astimezone(UTC)
        return Series(first, sched.every_weeks, sched.count, sched.minutes or sessions[0].minutes)
    # Irregular dates: a weekly rule from the first session, every session an override of
    # its slot (Outlook ignores RDATE, so moved occurrences are the portable way).
    ordered = sorted(sessions, key=lambda s: s.number)
    gaps = sorted((b.start - a.start).days for a, b in pairwise(ordered))
    weeks = max(1, round(gaps[len(gaps) // 2] / 7)) if gaps else 1
    return Series(ordered[0].start, weeks, len(ordered), ordered[0].minutes)


def _with_slots(
    sessions: tuple[Session, ...], series: Series, zone: ZoneInfo
) -> tuple[Session, ...]:
    return tuple(replace(s, slot=occurrence(series, zone, s.number - 1)) for s in sessions)


def with_registered_slots(network: Network, series: Series) -> Network:
    """Keep the series and slots a registered network was sent with, so RECURRENCE-IDs stay stable."""
    zone = network.zone
    sessions = tuple(
        replace(s, slot=occurrence(series, zone, s.number - 1)) for s in network.sessions
    )
    return replace(network, series=series, sessions=sessions)


def _check_overlaps(sessions: tuple[Session, ...], problems: list[Problem]) -> None:
    active = sorted((s for s in sessions if not s.cancelled), key=lambda s: s.start)
    for a, b in pairwise(active):
        if b.start < a.end:
            problems.append(Problem(f"session {b.number}.start", f"overlaps session {a.number}"))


def _questions(model: FileNetwork, language: str, problems: list[Problem]) -> tuple[Question, ...]:
    if model.evaluation is None or not model.evaluation.questions:
        return defaults.questions(language)
    qs = tuple(
        Question(i, q.text, QuestionKind(q.kind), q.share_with_manager)
        for i, q in enumerate(model.evaluation.questions, start=1)
    )
    if any(q.share_with_manager for q in qs) and not any(
        q.kind is QuestionKind.CONSENT for q in qs
    ):
        problems.append(
            Problem(
                "evaluation.questions",
                "a question is shared with the manager but no question asks consent (kind = consent)",
            )
        )
    return qs


def _warnings(network: Network, model: FileNetwork, now: datetime | None) -> list[str]:
    out: list[str] = []
    n = len(network.participants)
    if n < MIN_PARTICIPANTS or n > MAX_PARTICIPANTS:
        out.append(f"participants: {n} participants; the seed advises ten to fifteen")
    ordered = sorted(network.active_sessions, key=lambda s: s.start)
    if ordered and ordered[0].kind is not SessionKind.KICKOFF:
        out.append(
            f'sessions: the first session ({ordered[0].number}) is not a kick-off (kind = "kickoff"): '
            "leave room to get to know each other and map expectations and learning goals"
        )
    if ordered and ordered[-1].kind is not SessionKind.CLOSING:
        out.append(
            f'sessions: the last session ({ordered[-1].number}) is not a closing (kind = "closing"): '
            "evaluate and ask whether follow-up or aftercare is needed"
        )
    if now is not None:
        past = [s.number for s in network.active_sessions if s.start < now]
        if past:
            out.append(f"sessions: session(s) {', '.join(map(str, past))} lie in the past")
    for i, p in enumerate(model.participants, start=1):
        if not p.manager_email:
            out.append(f"participants[{i}]: {p.name} has no manager; no manager note or summary")
        if p.growth_conversation is not None and p.growth_conversation < network.last_end.date():
            out.append(
                f"participants[{i}].growth_conversation: before the last session; "
                "the summary will cover the sessions until then"
            )
    return out


def today_in(network: Network, now: datetime) -> date:
    """The date in the network's zone at ``now``."""
    return now.astimezone(network.zone).date()
