"""What ``leernet status`` shows beyond the facts: mail that failed for good, people whose mail bounced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from leernet.mailer.queue import OutboxState
from leernet.store import schema as t

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class NotSent:
    """A message of the network that failed for good: to whom, what, and the server's reason."""

    kind: str
    recipient: str
    reason: str


@dataclass(frozen=True, slots=True)
class Flagged:
    """A participant whose mail from us came back: nothing more is sent until mail from them is verified."""

    name: str
    email: str
    since: datetime
    reason: str


async def not_sent(conn: AsyncConnection, network_id: int) -> tuple[NotSent, ...]:
    """The network's messages that failed for good, oldest first."""
    o = t.outbox
    failed = await conn.execute(
        select(o.c.kind, o.c.recipient, o.c.last_error)
        .where(o.c.network_id == network_id, o.c.state == OutboxState.FAILED)
        .order_by(o.c.id)
    )
    return tuple(NotSent(kind, to, reason or "") for kind, to, reason in failed)


async def flagged(conn: AsyncConnection, network_id: int) -> tuple[Flagged, ...]:
    """The network's active participants whose mail bounced, in the order they were added."""
    p = t.participants
    bounced = await conn.execute(
        select(p.c.name, p.c.email, p.c.bounced_at, p.c.bounce_reason)
        .where(p.c.network_id == network_id, p.c.removed_at.is_(None), p.c.bounced_at.is_not(None))
        .order_by(p.c.id)
    )
    return tuple(Flagged(n, e, at, why or "") for n, e, at, why in bounced)
