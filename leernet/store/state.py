"""Small facts the running service keeps about itself (the ``service_state`` table).

The receiver marks each successful IMAP contact and the daemon writes a
heartbeat with its queue depth; ``leernet health`` reads them. A refresh token
the OAuth2 endpoint rotated is kept here too (the database is owner-only). One row per key,
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
REFRESH_TOKEN = "oauth-refresh-token"  # noqa: S105 - a key name; the row holds the rotated token
REFRESH_ORIGIN = "oauth-refresh-origin"  # sha256 of the configured one it descends from


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
