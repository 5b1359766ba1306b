"""Manager summaries shown to the participant first: what was shown, and a hold.

``save_summary_preview`` keeps the exact text's facts a preview showed (the
summary later sends that, less what consent no longer allows); ``hold_summary``
records the participant's "nee"/"stop" and cancels a summary already queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from leernet.mailer.queue import IN_FLIGHT, PENDING_STATES, OutboxState
from leernet.store import schema as t
from leernet.store.chunks import chunked

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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


@dataclass(frozen=True, slots=True)
class SummaryPreview:
    """The preview of one manager summary: what it showed, and what became of it."""

    summary_key: str
    preview_key: str
    participant_id: int
    attended: tuple[int, ...]
    shared: tuple[Mapping[str, object], ...]  # {"session": n, "question": text, "answer": text}
    shown_at: datetime
    held: bool
    sent_at: datetime | None  # when the preview mail went out (None: it did not)


async def summary_previews(
    conn: AsyncConnection, summary_keys: Sequence[str]
) -> dict[str, SummaryPreview]:
    """The previews of these manager summaries, by summary key (those that exist)."""
    p, o = t.summary_previews, t.outbox
    found: dict[str, SummaryPreview] = {}
    for chunk in chunked(summary_keys):
        rows = await conn.execute(
            select(p, o.c.state, o.c.sent_at)
            .select_from(p.outerjoin(o, o.c.key == p.c.preview_key))
            .where(p.c.summary_key.in_(chunk))
        )
        for r in rows:
            found[r.summary_key] = SummaryPreview(
                r.summary_key,
                r.preview_key,
                r.participant_id,
                tuple(int(n) for n in r.attended or ()),
                tuple(dict(a) for a in r.shared or ()),
                r.shown_at,
                held=r.held_at is not None,
                sent_at=r.sent_at if r.state == OutboxState.SENT else None,
            )
    return found
