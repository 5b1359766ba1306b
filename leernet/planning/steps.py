"""What is due when: the pure core of the planner (no clock, no database).

Each session yields planned *steps* (a reminder round, an evaluation request
round, a digest, ...), each with a deterministic key, a due time and a
not-after time. The planner (``leernet.planning.planner``) turns due steps into outbox
messages and marks the step done, so later passes skip it without loading
anything: the cost of a pass grows with what is due, not with history.

Timings, from ``[followups]`` (days unless named otherwise):

=================  ====================================================  =================
step               due                                                   not after
=================  ====================================================  =================
reminder           start - reminder_days_before                          start
low-acceptance     start - reminder_days_before (organiser)              start
eval-request       end + evaluation_hours_after                          due + 7 days
eval-reminder      eval-request + evaluation_reminder_days               due + 7 days
digest             eval-request + 2 x evaluation_reminder_days           due + 14 days
closing            the closing session's digest moment (participants)    due + 14 days
summary-preview    manager-summary - summary_preview_days                the summary's due
                   (to the participant: exactly what the manager gets)
manager-summary    growth_conversation - manager_summary_days_before,    the day itself
                   09:00 local; without a date: the closing's digest     (closing: due +
                   + summary_preview_days                                14 days)
=================  ====================================================  =================

A manager summary shows answers only as its preview showed them, and only when
that preview was sent at least a day before and not held back by the
participant (``followups``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from leernet.messages import keys
from leernet.messages.kinds import Kind
from leernet.records.plan_marks import GrowthRow, SessionRow

# How far around now the planner looks: no step lies further from its session.
LOOK_AHEAD = timedelta(days=61)
# The latest step is the closing's manager summary: end + 14 days (evaluation_hours_after)
# + 2 x 60 days (evaluation_reminder_days) + 14 days (summary_preview_days), sendable for
# 14 days more: 162 days at the most.
LOOK_BACK = timedelta(days=165)


@dataclass(frozen=True, slots=True)
class Step:
    """One planned step: its key, kind, network and session, and when it is due."""

    key: str
    kind: Kind
    network_id: int
    session_number: int  # 0 for network-wide steps
    due: datetime
    not_after: datetime
    email: str = ""  # the one participant a manager summary is about


def _days(n: float) -> timedelta:
    return timedelta(days=n)


def session_steps(row: SessionRow) -> list[Step]:
    """The steps of one session: reminder, low acceptance, evaluation rounds, digest, closing."""
    f = row.followups
    # A moved session gets its own reminder round; RSVP-independent rounds do not repeat
    # (``keys.session_step``).
    before = row.start - _days(f.reminder_days_before)
    request = row.end + timedelta(hours=f.evaluation_hours_after)
    reminder = request + _days(f.evaluation_reminder_days)
    digest = request + 2 * _days(f.evaluation_reminder_days)
    steps = [
        Step(
            keys.session_step(Kind.REMINDER, row.slug, row.number, row.moved_sequence),
            Kind.REMINDER,
            row.network_id,
            row.number,
            before,
            row.start,
        ),
        Step(
            keys.session_step(Kind.LOW_ACCEPTANCE, row.slug, row.number, row.moved_sequence),
            Kind.LOW_ACCEPTANCE,
            row.network_id,
            row.number,
            before,
            row.start,
        ),
        Step(
            keys.session_step(Kind.EVAL_REQUEST, row.slug, row.number),
            Kind.EVAL_REQUEST,
            row.network_id,
            row.number,
            request,
            request + _days(7),
        ),
        Step(
            keys.session_step(Kind.EVAL_REMINDER, row.slug, row.number),
            Kind.EVAL_REMINDER,
            row.network_id,
            row.number,
            reminder,
            reminder + _days(7),
        ),
        Step(
            keys.session_step(Kind.DIGEST, row.slug, row.number),
            Kind.DIGEST,
            row.network_id,
            row.number,
            digest,
            digest + _days(14),
        ),
    ]
    if row.is_last:
        steps.append(
            Step(
                keys.closing(row.slug),
                Kind.CLOSING,
                row.network_id,
                row.number,
                digest,
                digest + _days(14),
            )
        )
        summary = digest + _days(f.summary_preview_days)
        steps += _previewed(
            Step(
                keys.closing_summary(row.slug),
                Kind.MANAGER_SUMMARY,
                row.network_id,
                row.number,
                summary,
                summary + _days(14),
            ),
            f.summary_preview_days,
        )
    return steps


def _previewed(summary: Step, preview_days: float) -> list[Step]:
    """A manager summary step and, ``preview_days`` before it, its preview to the participant."""
    due = summary.due - _days(preview_days)
    preview = Step(
        keys.preview_of(summary.key),
        Kind.SUMMARY_PREVIEW,
        summary.network_id,
        summary.session_number,
        due,
        summary.due,
        email=summary.email,
    )
    return [preview, summary]


def growth_steps(row: GrowthRow) -> list[Step]:
    """The manager summary before one growth conversation, and its preview."""
    return _previewed(growth_step(row), row.followups.summary_preview_days)


def growth_step(row: GrowthRow) -> Step:
    """The manager summary before one growth conversation."""
    zone = ZoneInfo(row.timezone)
    day = row.growth_conversation
    due_day = datetime.combine(day, time(9, 0), zone) - _days(
        row.followups.manager_summary_days_before
    )
    not_after = datetime.combine(day, time(23, 59), zone)
    return Step(
        keys.growth_summary(row.slug, row.email, day),
        Kind.MANAGER_SUMMARY,
        row.network_id,
        0,
        min(due_day, not_after),
        not_after,
        email=row.email,
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What is due now, what expired, and when the next step falls due."""

    due: tuple[Step, ...]  # to queue now
    expired: tuple[Step, ...]  # their moment passed (an outage): mark skipped, log, never send late
    next_due: datetime | None  # when the planner should wake next


def plan(steps: Iterable[Step], done: set[str], now: datetime) -> Plan:
    """Split the steps that are not done yet into due, expired and the next wake-up time."""
    due: list[Step] = []
    expired: list[Step] = []
    upcoming: datetime | None = None
    for step in steps:
        if step.key in done:
            continue
        if step.due > now:
            upcoming = step.due if upcoming is None else min(upcoming, step.due)
        elif now > step.not_after:
            expired.append(step)
        else:
            due.append(step)
    due.sort(key=lambda s: (s.due, s.key))
    return Plan(tuple(due), tuple(expired), upcoming)
