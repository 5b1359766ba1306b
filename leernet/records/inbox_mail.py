"""The inbox's archived mail as the replies ask about it (the archive writes it: ``mailer/archive``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.store import schema as t


async def set_aside_between(
    conn: AsyncConnection,
    *,
    network_id: int | None,
    outcomes: Sequence[str],
    folders: Sequence[str],
    since: datetime,
    until: datetime,
) -> list[tuple[str, bytes | None, str]]:
    """(sha256, raw, outcome) of the mail of a network (or of none) set aside in that window."""
    i = t.inbox
    owner = i.c.network_id.is_(None) if network_id is None else i.c.network_id == network_id
    rows = await conn.execute(
        select(i.c.sha256, i.c.raw, i.c.outcome).where(
            owner,
            i.c.outcome.in_(outcomes),
            i.c.folder.in_(folders),
            i.c.received_at > since,
            i.c.received_at <= until,
        )
    )
    return [(r.sha256, r.raw, r.outcome) for r in rows]
