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
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leernet.mailer.queue import Outgoing, enqueue
from leernet.planning.steps import (
    LOOK_AHEAD,
    LOOK_BACK,
    Step,
    growth_steps,
    plan,
    session_steps,
)
from leernet.records import plan_marks

log = logging.getLogger("leernet.planner")


async def candidate_steps(conn: AsyncConnection, now: datetime) -> list[Step]:
    """The steps of every session within ``LOOK_BACK`` .. ``LOOK_AHEAD`` and every growth conversation near today."""
    steps: list[Step] = []
    for row in await plan_marks.sessions_near(conn, now - LOOK_BACK, now + LOOK_AHEAD):
        steps += session_steps(row)
    for growth in await plan_marks.growth_near(conn, now.date()):
        steps += growth_steps(growth)
    return steps


StepBuilder = Callable[[AsyncConnection, Step, datetime], Awaitable[Sequence[Outgoing]]]


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one planner pass did."""

    queued: int
    steps: int
    skipped: int
    next_due: datetime | None


async def planner_pass(engine: AsyncEngine, build: StepBuilder, now: datetime) -> PassResult:
    """One pass: queue every due step's messages; skip (and log) those whose moment passed."""
    async with engine.connect() as conn:
        steps = await candidate_steps(conn, now)
        done = await plan_marks.done(conn, [s.key for s in steps if s.due <= now])
    result = plan(steps, done, now)
    for step in result.expired:
        async with engine.begin() as conn:
            await plan_marks.mark(conn, step.key, step.network_id, "skipped", now)
        log.warning(
            "step skipped: its moment passed",
            extra={"event": "step-skipped", "key": step.key, "due": step.due.isoformat()},
        )
    queued = 0
    for step in result.due:
        async with engine.begin() as conn:
            messages = await build(conn, step, now)
            new = await enqueue(conn, messages, now)
            await plan_marks.mark(conn, step.key, step.network_id, "queued", now)
        queued += new
        log.info("step queued", extra={"event": "step-queued", "key": step.key, "messages": new})
    return PassResult(queued, len(result.due), len(result.expired), result.next_due)
