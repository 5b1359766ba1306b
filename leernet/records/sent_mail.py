"""The mail the service sent, as the organiser's desks ask about it.

Which network a mail the organiser cites belongs to, how many mails of a kind
went to someone lately (a rate limit), and what still waits for people who
were removed from a network (cancelled, so they hear nothing more).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select, update

from leernet.mailer.queue import PENDING_STATES, OutboxState
from leernet.store import schema as t
from leernet.store.chunks import chunked

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection


async def networks_cited(conn: AsyncConnection, message_ids: Sequence[str]) -> set[int]:
    """The networks of the mails we sent whose Message-ID is among ``message_ids``."""
    if not message_ids:
        return set()
    rows = await conn.execute(
        select(t.outbox.c.network_id).where(t.outbox.c.message_id.in_(message_ids))
    )
    return {int(r[0]) for r in rows if r[0] is not None}


async def cancel_waiting(conn: AsyncConnection, network_id: int, emails: Sequence[str]) -> None:
    """Cancel the network's queued or deferred mail to ``emails`` (people who left it)."""
    await conn.execute(
        update(t.outbox)
        .where(
            t.outbox.c.network_id == network_id,
            t.outbox.c.recipient.in_([e.lower() for e in emails]),
            t.outbox.c.state.in_(PENDING_STATES),
        )
        .values(state=OutboxState.CANCELLED)
    )


async def sent_keys(conn: AsyncConnection, wanted: Sequence[str]) -> set[str]:
    """Of these message keys, those whose message went out (the server said 250)."""
    found: set[str] = set()
    for chunk in chunked(wanted):
        rows = await conn.execute(
            select(t.outbox.c.key).where(
                t.outbox.c.key.in_(chunk), t.outbox.c.state == OutboxState.SENT
            )
        )
        found.update(rows.scalars())
    return found


_KINDS_SINCE = select(func.count()).where(  # built once: the inbox asks for every reply
    t.outbox.c.recipient == bindparam("address"),
    t.outbox.c.kind.in_(bindparam("kinds", expanding=True)),
    t.outbox.c.created_at >= bindparam("since"),
)


async def count_since(
    conn: AsyncConnection, address: str, kinds: Sequence[str], since: datetime
) -> int:
    """How many messages of these kinds were queued for ``address`` since then."""
    values = {"address": address.lower(), "kinds": list(kinds), "since": since}
    return int((await conn.execute(_KINDS_SINCE, values)).scalar_one())
