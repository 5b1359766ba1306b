"""What the planner reads and writes: sessions and growth conversations near now, and plan marks.

A plan mark says a step is done (its messages queued, or skipped because its
moment passed); the planner reads only the rows near ``now``, so its cost
follows what is due, not the network's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.network.model import Followups
from leernet.store import schema as t
from leernet.store.chunks import chunked

_PREVIEW_DAYS = Followups().summary_preview_days


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session as the planner's SQL pass reads it."""

    network_id: int
    slug: str
    number: int
    kind: str
    start: datetime
    end: datetime
    moved_sequence: int
    followups: Followups
    is_last: bool  # the last active session: its digest closes the network


@dataclass(frozen=True, slots=True)
class GrowthRow:
    """A participant with a growth conversation date."""

    network_id: int
    slug: str
    email: str
    growth_conversation: date
    timezone: str
    followups: Followups


def _followups(data: dict[str, float]) -> Followups:
    return Followups(
        float(data["reminder_days_before"]),
        float(data["evaluation_hours_after"]),
        float(data["evaluation_reminder_days"]),
        float(data["manager_summary_days_before"]),
        # Networks registered before summaries were previewed: the default.
        float(data.get("summary_preview_days", _PREVIEW_DAYS)),
    )


async def sessions_near(
    conn: AsyncConnection, since: datetime, until: datetime
) -> list[SessionRow]:
    """The active sessions of unpurged networks that overlap ``since`` .. ``until``."""
    s, n = t.sessions, t.networks
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
            s.c.start <= until,
            s.c.end >= since,
        )
    )
    return [
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
        for r in rows
    ]


async def growth_near(conn: AsyncConnection, today: date) -> list[GrowthRow]:
    """Participants whose growth conversation is between two days ago and 140 days ahead."""
    n, p = t.networks, t.participants
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
    return [
        GrowthRow(
            g.network_id,
            g.slug,
            g.email,
            g.growth_conversation,
            g.timezone,
            _followups(g.followups),
        )
        for g in growth
    ]


async def done(conn: AsyncConnection, keys: list[str]) -> set[str]:
    """Of these step keys, those marked done (queued or skipped) by an earlier pass."""
    found: set[str] = set()
    for chunk in chunked(keys):
        rows = await conn.execute(select(t.plan_marks.c.key).where(t.plan_marks.c.key.in_(chunk)))
        found.update(r[0] for r in rows)
    return found


async def mark(
    conn: AsyncConnection, key: str, network_id: int, outcome: str, now: datetime
) -> None:
    """Mark a step done: its messages were queued, or it was skipped because its moment passed."""
    await conn.execute(
        t.plan_marks.insert().values(key=key, network_id=network_id, outcome=outcome, done_at=now)
    )
