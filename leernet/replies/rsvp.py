"""A calendar REPLY from a verified participant: their PARTSTAT per session (RFC 5546)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.calendar.itip import match_session
from leernet.mailer import headers as h
from leernet.mailer.disposition import Disposition
from leernet.records import record
from leernet.records.record import NotRecorded

if TYPE_CHECKING:
    from leernet.replies.processor import Mail, Processor


async def rsvp(proc: Processor, conn: AsyncConnection, mail: Mail) -> Disposition:
    """Record a verified participant's REPLY, per session."""
    c, inbox_id = mail.c, mail.inbox_id
    assert c.candidate is not None
    assert c.itip is not None
    reg = await proc._registered(conn, c.candidate.network_id)
    if c.stale:
        # RFC 5546 2.1.5: a REPLY to an older SEQUENCE answers an invite that has since
        # changed; the participant's client will answer the current one.
        return Disposition(
            "rsvp",
            c.reason + "; not recorded",
            attention=False,
            network_id=reg.id,
            participant_id=c.candidate.participant_id,
        )
    if c.attention:  # DELEGATED: the organiser decides
        await proc._attention(conn, c, inbox_id, reg.id)
        return Disposition(
            "rsvp",
            c.reason,
            attention=True,
            network_id=reg.id,
            participant_id=c.candidate.participant_id,
        )
    slots = [(s.number, s.slot) for s in reg.network.sessions]
    stored = await record.stored_rsvps(conn, c.candidate.participant_id)
    notes: list[str] = []
    stale: list[bool] = []  # per component not recorded: only because it is out of date?
    for part in c.itip.components:
        number = 0
        if part.recurrence_id is not None:
            found = match_session(part, slots, reg.network.zone)
            if found is None:
                notes.append(f"RECURRENCE-ID {part.recurrence_id} matches no session")
                stale.append(False)
                continue
            number = found
        me = next(a for a in part.attendees if h.same_mailbox(a.email, c.candidate.email))
        outcome = await record.record_rsvp(
            conn,
            participant_id=c.candidate.participant_id,
            session_number=number,
            partstat=me.partstat,
            comment=part.comment or me.comment,
            sequence=part.sequence,
            dtstamp=part.dtstamp,
            received_at=proc.now(),
            inbox_id=inbox_id,
            moved_sequence=reg.moved_sequence.get(number, 0),
            stored=stored,
        )
        if not outcome.recorded:
            notes.append(outcome.reason)
            stale.append(outcome.not_recorded is NotRecorded.STALE)
    if notes and len(notes) == len(c.itip.components):
        reason = f"{c.reason}; not recorded: {'; '.join(notes)}"
        out_of_date = all(stale)
        if not out_of_date:
            await proc._attention(conn, c, inbox_id, reg.id, reason=reason)
        return Disposition(
            "rsvp",
            reason,
            attention=not out_of_date,
            network_id=reg.id,
            participant_id=c.candidate.participant_id,
        )
    reason = c.reason + (f"; {'; '.join(notes)}" if notes else "")
    return Disposition(
        "rsvp",
        reason,
        attention=False,
        network_id=reg.id,
        participant_id=c.candidate.participant_id,
    )
