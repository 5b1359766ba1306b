"""Registering a network and saving an update: the network, its sessions and people in the store.

A registered network keeps the file it was started from (``source``) and the
series its invites were sent with, so RECURRENCE-IDs stay stable when the file
changes later (``networks`` reads it back).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.mailer.tokens import participant_token
from leernet.network.changes import Changes
from leernet.network.model import Network, Participant, Series, Session
from leernet.records.networks import Registered, get
from leernet.store import schema as t


def _series_json(series: Series) -> dict[str, Any]:
    return {
        "first": series.first.isoformat(),
        "every_weeks": series.every_weeks,
        "count": series.count,
        "minutes": series.minutes,
    }


def _followups_json(network: Network) -> dict[str, float]:
    f = network.followups
    return {
        "reminder_days_before": f.reminder_days_before,
        "evaluation_hours_after": f.evaluation_hours_after,
        "evaluation_reminder_days": f.evaluation_reminder_days,
        "manager_summary_days_before": f.manager_summary_days_before,
        "summary_preview_days": f.summary_preview_days,
    }


def _session_rows(
    network_id: int, sessions: tuple[Session, ...], sequence: int
) -> list[dict[str, Any]]:
    return [
        {
            "network_id": network_id,
            "number": s.number,
            "kind": s.kind.value,
            "start": s.start,
            "end": s.end,
            "slot": s.slot,
            "cancelled": s.cancelled,
            "moved_sequence": sequence,
        }
        for s in sessions
    ]


async def register(
    conn: AsyncConnection, network: Network, source: str, secret: str, now: datetime
) -> Registered:
    """Write a new network (sessions, participants with their tokens) into the store."""
    result = await conn.execute(
        t.networks.insert().values(
            slug=network.slug,
            source=source,
            series=_series_json(network.series),
            sequence=0,
            language=network.language,
            timezone=network.timezone,
            followups=_followups_json(network),
            organiser_email=network.organiser.email.lower(),
            first_start=network.first_start,
            last_end=network.last_end,
            registered_at=now,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    network_id = int(key[0])
    await conn.execute(t.sessions.insert(), _session_rows(network_id, network.sessions, 0))
    await add_participants(
        conn,
        network_id=network_id,
        network=network,
        people=network.participants,
        secret=secret,
        now=now,
    )
    loaded = await get(conn, network.slug)
    assert loaded is not None
    return loaded


async def add_participants(
    conn: AsyncConnection,
    *,
    network_id: int,
    network: Network,
    people: Sequence[Participant],
    secret: str,
    now: datetime,
) -> None:
    """Add these participants to a registered network, each with a reply token."""
    rows = [
        {
            "network_id": network_id,
            "email": p.email.lower(),
            "name": p.name,
            "manager_name": p.manager_name,
            "manager_email": p.manager_email.lower(),
            "token": participant_token(secret, network.slug, p.email),
            "growth_conversation": p.growth_conversation,
            "added_at": now,
        }
        for p in people
    ]
    if rows:
        await conn.execute(t.participants.insert(), rows)


async def save_update(
    conn: AsyncConnection,
    *,
    reg: Registered,
    new: Network,
    source: str,
    changes: Changes,
    secret: str,
    now: datetime,
) -> Registered:
    """Store an updated network: new source, SEQUENCE+1 when the invite changed, members."""
    sequence = reg.sequence + (1 if changes.bumps_sequence else 0)
    await conn.execute(
        update(t.networks)
        .where(t.networks.c.id == reg.id)
        .values(
            source=source,
            sequence=sequence,
            followups=_followups_json(new),
            first_start=new.first_start,
            last_end=new.last_end,
            updated_at=now,
        )
    )
    for s in new.sessions:
        values: dict[str, Any] = {
            "kind": s.kind.value,
            "start": s.start,
            "end": s.end,
            "cancelled": s.cancelled,
        }
        if s.number in changes.moved_numbers:
            values["moved_sequence"] = sequence
        await conn.execute(
            update(t.sessions)
            .where(t.sessions.c.network_id == reg.id, t.sessions.c.number == s.number)
            .values(**values)
        )
    removed = {p.email.lower() for p in changes.removed}
    if removed:
        await conn.execute(
            update(t.participants)
            .where(t.participants.c.network_id == reg.id, t.participants.c.email.in_(removed))
            .values(removed_at=now)
        )
    readded = [p for p in changes.added if reg.member(p.email) is not None]
    for p in readded:
        await conn.execute(
            update(t.participants)
            .where(t.participants.c.network_id == reg.id, t.participants.c.email == p.email.lower())
            .values(removed_at=None, name=p.name, growth_conversation=p.growth_conversation)
        )
    for p in changes.people:
        await conn.execute(
            update(t.participants)
            .where(t.participants.c.network_id == reg.id, t.participants.c.email == p.email.lower())
            .values(
                name=p.name,
                manager_name=p.manager_name,
                manager_email=p.manager_email.lower(),
                growth_conversation=p.growth_conversation,
            )
        )
    fresh = [p for p in changes.added if reg.member(p.email) is None]
    await add_participants(
        conn, network_id=reg.id, network=new, people=fresh, secret=secret, now=now
    )
    loaded = await get(conn, new.slug)
    assert loaded is not None
    return loaded
