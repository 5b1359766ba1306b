"""A bounce of a message we sent: its recipient is flagged, the organiser told."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.mailer.disposition import Disposition
from leernet.messages import keys
from leernet.messages.notices import notify
from leernet.records import record

if TYPE_CHECKING:
    from leernet.replies.processor import Mail, Processor


async def bounce(proc: Processor, conn: AsyncConnection, mail: Mail) -> Disposition:
    """A bounce of mail we sent: flag its recipient and tell the organiser once."""
    c = mail.c
    now = proc.now()
    cand = c.candidate
    if cand is None and c.attention:  # our mail to a manager or an organiser came back
        await proc._attention(conn, c, mail.inbox_id)
        return Disposition("bounce", c.reason, attention=True)
    if cand is None:
        # Refers to nothing we sent: anyone can write "Undelivered Mail". Archived only.
        return Disposition("bounce-unverified", c.reason, attention=False)
    if c.attention:
        await proc._attention(conn, c, mail.inbox_id, cand.network_id)
        return Disposition("bounce", c.reason, attention=True, network_id=cand.network_id)
    if proc._batch is not None:
        proc._batch.registered.clear()  # flagging a member changes the networks
    flagged = await record.flag_bounce(
        conn, participant_id=cand.participant_id, reason=c.reason[:500], now=now
    )
    if flagged:
        await notify(
            conn,
            proc.f,
            key=keys.notice("bounce", cand.network_id, cand.email),
            network_id=cand.network_id,
            topic="bounce",
            now=now,
            values={"address": cand.email, "reason": c.reason[:300]},
        )
        proc.on_queued()
    return Disposition(
        "bounce",
        c.reason,
        attention=False,
        network_id=cand.network_id,
        participant_id=cand.participant_id,
    )
