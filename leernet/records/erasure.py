"""Erasure and retention: what a participant sent, or a whole network's free text, blanked.

``leernet erase`` (a participant's right to be forgotten) and ``leernet purge``
(the retention period is over) keep the numbers and the rows that stop a mail
being processed or sent again, and drop every word people wrote.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from leernet.mailer.queue import IN_FLIGHT, PENDING_STATES, OutboxState
from leernet.records.sent_mail import cancel_waiting
from leernet.store import schema as t

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection


async def erase_participant(conn: AsyncConnection, network_id: int, email: str) -> int | None:
    """Erase what a participant sent and what is still waiting for them; return their id.

    Their replies, evaluations and presence are deleted, the raw bytes of their
    mail are emptied (the inbox row and its hash stay, so the same mail is not
    processed again) and their queued or deferred mail is cancelled. The
    participant row itself stays (``leernet update`` removes people).
    """
    address = email.strip().lower()
    pid = (
        await conn.execute(
            select(t.participants.c.id).where(
                t.participants.c.network_id == network_id, t.participants.c.email == address
            )
        )
    ).scalar()
    if pid is None:
        return None
    for table in (t.rsvps, t.evaluations, t.presence, t.summary_previews):
        await conn.execute(table.delete().where(table.c.participant_id == pid))
    their_mail = select(t.inbox.c.id).where(t.inbox.c.participant_id == pid)
    await conn.execute(update(t.inbox).where(t.inbox.c.participant_id == pid).values(raw=None))
    await cancel_waiting(conn, network_id, [address])
    # What was sent keeps its row (the key stops it being queued again) but not its
    # bytes: a confirmation repeats the answers, a notice to the organiser quotes or
    # names their mail (``about_inbox_id``, schema v6).
    to_them = (t.outbox.c.network_id == network_id) & (t.outbox.c.recipient == address)
    await _blank_sent_bytes(conn, to_them | t.outbox.c.about_inbox_id.in_(their_mail))
    return int(pid)


async def purge_network(conn: AsyncConnection, network_id: int, now: datetime) -> None:
    """Blank every free text of a network (answers, comments, raw mail); keep the numbers."""
    members = select(t.participants.c.id).where(t.participants.c.network_id == network_id)
    rows = (
        await conn.execute(
            select(t.evaluations.c.id, t.evaluations.c.answers).where(
                t.evaluations.c.participant_id.in_(members)
            )
        )
    ).all()
    for row in rows:
        answers = dict(row.answers or {})
        if any(isinstance(v, str) and v for v in answers.values()):
            blanked = {k: ("" if isinstance(v, str) else v) for k, v in answers.items()}
            await conn.execute(
                update(t.evaluations).where(t.evaluations.c.id == row.id).values(answers=blanked)
            )
    await conn.execute(
        update(t.rsvps).where(t.rsvps.c.participant_id.in_(members)).values(comment="")
    )
    await conn.execute(
        update(t.summary_previews)
        .where(t.summary_previews.c.participant_id.in_(members))
        .values(shared=[])
    )
    await conn.execute(update(t.inbox).where(t.inbox.c.network_id == network_id).values(raw=None))
    # Sent mail repeats free text (confirmations, digests, summaries, notices): keep the
    # rows, drop the bytes; what had not gone out by now never will.
    mine = t.outbox.c.network_id == network_id
    await conn.execute(
        update(t.outbox)
        .where(mine, t.outbox.c.state.in_(PENDING_STATES))
        .values(state=OutboxState.CANCELLED)
    )
    await _blank_sent_bytes(conn, mine)
    await conn.execute(
        update(t.networks).where(t.networks.c.id == network_id).values(purged_at=now)
    )


async def _blank_sent_bytes(conn: AsyncConnection, which: Any) -> None:
    """Empty the stored bytes of the outbox rows ``which`` selects (rows and keys stay).

    Not while in flight: the sender holds those bytes and its outcome names the row.
    """
    rows = select(t.outbox.c.id).where(which, t.outbox.c.state.notin_(IN_FLIGHT))
    await conn.execute(
        update(t.outbox_body).where(t.outbox_body.c.outbox_id.in_(rows)).values(raw=b"")
    )
