"""Small facts the running service keeps about itself (the ``service_state`` table).

The receiver marks each successful IMAP contact and the daemon writes a
heartbeat with its queue depth; ``leernet health`` reads them. One row per key,
overwritten: the table never grows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from leernet.store.schema import service_state

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection

IMAP_CONTACT = "imap-contact"
HEARTBEAT = "heartbeat"


async def mark(conn: AsyncConnection, key: str, now: datetime, value: str = "") -> None:
    """Set ``key`` to ``value`` as of ``now`` (insert or overwrite)."""
    changed = await conn.execute(
        update(service_state).where(service_state.c.key == key).values(value=value, updated_at=now)
    )
    if not changed.rowcount:
        await conn.execute(service_state.insert().values(key=key, value=value, updated_at=now))


async def read(conn: AsyncConnection) -> dict[str, tuple[str, datetime]]:
    """Every key -> (value, when it was set)."""
    rows = await conn.execute(select(service_state))
    return {r.key: (r.value, r.updated_at) for r in rows}
