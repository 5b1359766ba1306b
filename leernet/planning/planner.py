"""The planner pass: read what may be due, queue it in the outbox, mark each step done.

The SQL pass reads only sessions near ``now`` (``plan.LOOK_BACK`` ..
``plan.LOOK_AHEAD``) and growth conversations near today; the network itself is
loaded only for a step that is due and not done yet. Each step's messages and
its mark are written in one transaction, and the outbox is unique on the message
key, so a repeated pass, a restart or a clock jump never queues anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leernet.mailer.queue import Outgoing, enqueue
from leernet.network.model import Followups
from leernet.planning.steps import (
    LOOK_AHEAD,
    LOOK_BACK,
    GrowthRow,
    SessionRow,
    Step,
    growth_steps,
    plan,
    session_steps,
)
from leernet.store import schema as t

log = logging.getLogger("leernet.planner")

_PREVIEW_DAYS = Followups().summary_preview_days

StepBuilder = Callable[[AsyncConnection, Step, datetime], Awaitable[Sequence[Outgoing]]]


@dataclass(frozen=True, slots=True)
class PassResult:
    queued: int
    steps: int
    skipped: int
    next_due: datetime | None


def _followups(data: dict[str, float]) -> Followups:
    return Followups(
        float(data["reminder_days_before"]),
        float(data["evaluation_hours_after"]),
        float(data["evaluation_reminder_days"]),
        float(data["manager_summary_days_before"]),
        # Networks registered before summaries were previewed: the default.
        float(data.get("summary_preview_days", _PREVIEW_DAYS)),
    )


async def candidate_steps(conn: AsyncConnection, now: datetime) -> list[Step]:
    s, n, p = t.sessions, t.networks, t.participants
    last_number = (
        select(s.c.network_id, func.max(s.c.number).label("last"))
        .where(s.c.cancelled.is_(False))
        .group_by(s.c.network_id)
        .subquery()
    )
    rows = await conn.execute(
        select(
            s.c.network_id,
            n.c.slug,
            s.c.number,
            s.c.kind,
            s.c.start,
            s.c.end,
            s.c.moved_sequence,
            n.c.followups,
            last_number.c.last,
        )
        .join(n, n.c.id == s.c.network_id)
        .join(last_number, last_number.c.network_id == s.c.network_id)
        .where(
            n.c.purged_at.is_(None),
            s.c.cancelled.is_(False),
            s.c.start <= now + LOOK_AHEAD,
            s.c.end >= now - LOOK_BACK,
        )
    )
    steps: list[Step] = []
    for r in rows:
        steps += session_steps(
            SessionRow(
                r.network_id,
                r.slug,
                r.number,
                r.kind,
                r.start,
                r.end,
                r.moved_sequence,
                _followups(r.followups),
                r.number == r.last,
            )
        )
    today = now.date()
    growth = await conn.execute(
        select(
            p.c.network_id,
            n.c.slug,
            p.c.email,
            p.c.growth_conversation,
            n.c.timezone,
            n.c.followups,
        )
        .join(n, n.c.id == p.c.network_id)
        .where(
            and_(
                n.c.purged_at.is_(None),
                p.c.removed_at.is_(None),
                p.c.growth_conversation.is_not(None),
                p.c.growth_conversation >= today - timedelta(days=2),
                p.c.growth_conversation <= today + timedelta(days=140),
            )
        )
    )
    for g in growth:
        steps += growth_steps(
            GrowthRow(
                g.network_id,
                g.slug,
                g.email,
                g.growth_conversation,
                g.timezone,
                _followups(g.followups),
            )
        )
    return steps


async def _done(conn: AsyncConnection, keys: list[str]) -> set[str]:
    done: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        rows = await conn.execute(select(t.plan_marks.c.key).where(t.plan_marks.c.key.in_(chunk)))
        done.update(r[0] for r in rows)
    return done


async def _mark(conn: AsyncConnection, step: Step, outcome: str, now: datetime) -> None:
    await conn.execute(
        t.plan_marks.insert().values(
            key=step.key, network_id=step.network_id, outcome=outcome, done_at=now
        )
    )


async def planner_pass(engine: AsyncEngine, build: StepBuilder, now: datetime) -> PassResult:
    """One pass: queue every due step's messages; skip (and log) those whose moment passed."""
    async with engine.connect() as conn:
        steps = await candidate_steps(conn, now)
        done = await _done(conn, [s.key for s in steps if s.due <= now])
    result = plan(steps, done, now)
    for step in result.expired:
        async with engine.begin() as conn:
            await _mark(conn, step, "skipped", now)
        log.warning(
            "step skipped: its moment passed",
            extra={"event": "step-skipped", "key": step.key, "due": step.due.isoformat()},
        )
    queued = 0
    for step in result.due:
        async with engine.begin() as conn:
            messages = await build(conn, step, now)
            new = await enqueue(conn, messages, now)
            await _mark(conn, step, "queued", now)
        queued += new
        log.info("step queued", extra={"event": "step-queued", "key": step.key, "messages": new})
    return PassResult(queued, len(result.due), len(result.expired), result.next_due)
