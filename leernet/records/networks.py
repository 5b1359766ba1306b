"""Registered networks read back: the network as started (or last updated), its members and moves.

A registered network keeps the file it was started from (``source``) and the
series its invites were sent with, so RECURRENCE-IDs stay stable when the file
changes later. Reading back re-parses the source once per version, and reads
the members again only when they changed (both cached).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.network.load import parse_network, with_registered_slots
from leernet.network.model import Network, Series
from leernet.store import schema as t

_CACHED = 4096  # networks kept parsed per process: more than a sector fund runs


@dataclass(frozen=True, slots=True)
class Member:
    """A participant as the store registered them: id, reply token, removed, bounced (see ``Person``)."""

    id: int
    email: str
    name: str
    manager_name: str
    manager_email: str
    token: str
    removed: bool
    bounced: bool


@dataclass(frozen=True, slots=True)
class Registered:
    """A network as registered: its id, the network, the invite SEQUENCE, its members."""

    id: int
    network: Network
    sequence: int
    members: tuple[Member, ...]
    moved_sequence: dict[int, int] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The network's slug."""
        return self.network.slug

    @property
    def active_members(self) -> tuple[Member, ...]:
        """The members not removed."""
        return tuple(m for m in self.members if not m.removed)

    def member(self, email: str) -> Member | None:
        """The member with this address (any case), or None."""
        wanted = email.strip().lower()
        return next((m for m in self.members if m.email == wanted), None)


def _series_from(data: dict[str, Any]) -> Series:
    return Series(
        datetime.fromisoformat(data["first"]).astimezone(UTC),
        int(data["every_weeks"]),
        int(data["count"]),
        int(data["minutes"]),
    )


# Parsed networks by what they are parsed from (the source and its series), so the
# planner does not re-parse a network on every pass; any database may share it.
_CACHE: dict[tuple[str, str], Network] = {}


def _network_of(row: Any) -> Network:
    key = (row.source, repr(sorted(row.series.items())))
    cached = _CACHE.get(key)
    if cached is None:
        parsed = parse_network(row.source, source=f"registered network {row.slug}").network
        cached = with_registered_slots(parsed, _series_from(row.series))
        if len(_CACHE) > _CACHED:
            _CACHE.clear()
        _CACHE[key] = cached
    return cached


async def get(conn: AsyncConnection, slug: str) -> Registered | None:
    """The network registered as ``slug``, or None."""
    row = (await conn.execute(_BY_SLUG, {"slug": slug})).first()
    if row is None:
        return None
    return await _registered(conn, row)


async def slugs(conn: AsyncConnection) -> list[str]:
    """Every registered network's slug (a new one must differ from all of them)."""
    return [r[0] for r in await conn.execute(select(t.networks.c.slug))]


async def source_of(conn: AsyncConnection, network_id: int) -> str:
    """The network file a network was registered (or last updated) with."""
    found = await conn.execute(select(t.networks.c.source).where(t.networks.c.id == network_id))
    return str(found.scalar_one())


async def organised_by(conn: AsyncConnection, email: str) -> list[Registered]:
    """The running networks (not purged) whose organiser is ``email``."""
    n = t.networks
    ids = await conn.execute(
        select(n.c.id).where(
            func.lower(n.c.organiser_email) == email.strip().lower(), n.c.purged_at.is_(None)
        )
    )
    found = [await get_by_id(conn, r[0]) for r in ids]
    return [reg for reg in found if reg is not None]


async def get_by_id(conn: AsyncConnection, network_id: int) -> Registered | None:
    """The network registered with this id, or None."""
    row = (await conn.execute(_BY_ID, {"network_id": network_id})).first()
    return None if row is None else await _registered(conn, row)


def _with_version(where: Any) -> Any:
    """The network row plus what tells whether its members or sessions changed since cached.

    Members change only by ``add_participants``/``save_update`` (which also
    change the source, SEQUENCE or ``updated_at``) and by a bounce or removal
    flag; the sums of ids tell *which* members are flagged, not only how many.
    """
    n, p, s = t.networks, t.participants, t.sessions

    def of(table: Any, expr: Any, *extra: Any) -> Any:
        query = select(expr).where(table.c.network_id == n.c.id, *extra)
        return query.correlate(n).scalar_subquery()

    return select(
        n,
        of(p, func.count()).label("v_members"),
        of(p, func.max(p.c.id)).label("v_last_member"),
        of(p, func.sum(p.c.id), p.c.removed_at.is_not(None)).label("v_removed"),
        of(p, func.sum(p.c.id), p.c.bounced_at.is_not(None)).label("v_bounced"),
        of(s, func.count()).label("v_sessions"),
        of(s, func.sum(s.c.moved_sequence)).label("v_moved"),
    ).where(where)


# Built once: constructing this statement costs more than running it.
_BY_SLUG = _with_version(t.networks.c.slug == bindparam("slug"))
_BY_ID = _with_version(t.networks.c.id == bindparam("network_id"))

# Members and moved sequences by network and version (``_with_version``): the inbox
# reads a network for every reply, and its members rarely change between replies.
_MEMBERS: dict[tuple[Any, ...], tuple[tuple[Member, ...], dict[int, int]]] = {}


async def _registered(conn: AsyncConnection, row: Any) -> Registered:
    version = (
        str(conn.engine.url),  # one process may open several stores (tests, tools)
        row.id,
        row.sequence,
        row.updated_at,
        row.source,
        row.v_members,
        row.v_last_member,
        row.v_removed,
        row.v_bounced,
        row.v_sessions,
        row.v_moved,
    )
    cached = _MEMBERS.get(version)
    if cached is None:
        cached = await _members_and_moves(conn, row.id)
        if len(_MEMBERS) > _CACHED:
            _MEMBERS.clear()
        _MEMBERS[version] = cached
    members, moved = cached
    return Registered(
        id=row.id,
        network=_network_of(row),
        sequence=row.sequence,
        members=members,
        moved_sequence=dict(moved),
    )


async def _members_and_moves(
    conn: AsyncConnection, network_id: int
) -> tuple[tuple[Member, ...], dict[int, int]]:
    members = (
        await conn.execute(
            select(t.participants)
            .where(t.participants.c.network_id == network_id)
            .order_by(t.participants.c.id)
        )
    ).all()
    moved = await moved_sequences(conn, network_id)
    return (
        tuple(
            Member(
                m.id,
                m.email,
                m.name,
                m.manager_name,
                m.manager_email,
                m.token,
                m.removed_at is not None,
                m.bounced_at is not None,
            )
            for m in members
        ),
        moved,
    )


async def organiser_addresses(conn: AsyncConnection) -> frozenset[str]:
    """Every organiser's address, of every network kept (their mail is never a stranger's)."""
    rows = await conn.execute(select(t.networks.c.organiser_email).distinct())
    return frozenset(r[0] for r in rows)


async def timezone_of(conn: AsyncConnection, network_id: int) -> str | None:
    """The IANA zone a network runs in (None: no such network)."""
    query = select(t.networks.c.timezone).where(t.networks.c.id == network_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def organisers_since(conn: AsyncConnection, since: datetime) -> list[tuple[int, str]]:
    """(network id, organiser address) of networks kept that ran until ``since`` or later.

    When none did, those of every network kept (the oldest first).
    """
    n = t.networks
    kept = select(n.c.id, n.c.organiser_email).where(n.c.purged_at.is_(None)).order_by(n.c.id)
    rows = (await conn.execute(kept.where(n.c.last_end >= since))).all()
    return [(nid, email) for nid, email in rows or (await conn.execute(kept)).all()]


async def moved_sequences(conn: AsyncConnection, network_id: int) -> dict[int, int]:
    """Session number -> the invite SEQUENCE at which it last moved (0: never)."""
    query = select(t.sessions.c.number, t.sessions.c.moved_sequence).where(
        t.sessions.c.network_id == network_id
    )
    return {int(number): int(sequence) for number, sequence in await conn.execute(query)}
