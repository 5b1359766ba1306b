"""Manager summaries shown to the participant first: what was shown, and a hold.

``save_summary_preview`` keeps the exact text's facts a preview showed (the
summary later sends that, less what consent no longer allows); ``hold_summary``
records the participant's "nee"/"stop" and cancels a summary already queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from leernet.mailer.queue import IN_FLIGHT, PENDING_STATES, OutboxState
from leernet.store import schema as t

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection

_PENDING = PENDING_STATES


async def save_summary_preview(
    conn: AsyncConnection,
    *,
    summary_key: str,
    preview_key: str,
    participant_id: int,
    attended: Sequence[int],
    shared: Sequence[Mapping[str, object]],
    shown_at: datetime,
) -> None:
    """Keep what a participant is shown of their manager's summary: the summary sends that."""
    await conn.execute(
        t.summary_previews.insert().values(
            summary_key=summary_key,
            preview_key=preview_key,
            participant_id=participant_id,
            attended=list(attended),
            shared=[dict(a) for a in shared],
            shown_at=shown_at,
        )
    )


@dataclass(frozen=True, slots=True)
class Hold:
    """What holding back a manager summary did: whether it was known, and already sent."""

    found: bool
    already_sent: bool = False


async def hold_summary(
    conn: AsyncConnection, *, preview_key: str, participant_id: int, now: datetime, inbox_id: int
) -> Hold:
    """The participant asked to hold back the summary they previewed: it will not be sent."""
    p = t.summary_previews
    row = (
        await conn.execute(
            select(p.c.summary_key).where(
                p.c.preview_key == preview_key, p.c.participant_id == participant_id
            )
        )
    ).first()
    if row is None:
        return Hold(found=False)
    await conn.execute(
        update(p)
        .where(p.c.preview_key == preview_key, p.c.held_at.is_(None))
        .values(held_at=now, hold_inbox_id=inbox_id)
    )
    # Queued already (a late hold): it is cancelled before it goes.
    await conn.execute(
        update(t.outbox)
        .where(t.outbox.c.key == row.summary_key, t.outbox.c.state.in_(_PENDING))
        .values(state=OutboxState.CANCELLED)
    )
    sent = (
        await conn.execute(
            select(t.outbox.c.id).where(
                t.outbox.c.key == row.summary_key,
                t.outbox.c.state.in_((*IN_FLIGHT, OutboxState.SENT)),
            )
        )
    ).first()
    return Hold(found=True, already_sent=sent is not None)
