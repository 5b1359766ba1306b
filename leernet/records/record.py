"""The store's write side for what people send back: replies, evaluations, presence, erasure.

Every function runs inside the caller's transaction (``conn``), so processing
one incoming mail stays one transaction (DESIGN: "Nothing is lost").

Decisions worth knowing:

* **Stale messages lose** (RFC 5546 2.1.5): per participant and session the
  SEQUENCE and DTSTAMP of the stored REPLY are kept; a REPLY with a lower
  SEQUENCE, or the same SEQUENCE and an older DTSTAMP, is ignored; a REPLY to a
  version before the session moved (its SEQUENCE below the session's
  ``moved_sequence``) does not count for that session.
* A series reply (session 0) lives in its own row and never overwrites a
  reply to one session; ``leernet.records.facts`` decides per session which counts.
* Presence: **the latest statement wins**, whether it is the participant's
  evaluation (``afwezig`` or not) or the organiser's roll call; either can
  correct the other, and the ``source`` column says who spoke last.
* Purging a network keeps numbers and yes/no answers (for statistics) and
  blanks every free text: text answers, RSVP comments, raw mail, and the bytes
  of the mail it sent (confirmations and digests repeat answers); erasing a
  participant does the same for what they sent and what was sent to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from icalendar.enums import PARTSTAT
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leernet.mailer.queue import PENDING_STATES
from leernet.store import schema as t

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection

Answer = int | bool | str

PARTSTATS = frozenset(
    {PARTSTAT.ACCEPTED, PARTSTAT.DECLINED, PARTSTAT.TENTATIVE, PARTSTAT.NEEDS_ACTION}
)
PRESENCE_SOURCES = frozenset({"evaluation", "rollcall"})
_PENDING = PENDING_STATES


class NotRecorded(StrEnum):
    """Why a REPLY did not change the stored answer."""

    STALE = "stale"  # RFC 5546 2.1.5: it answers an older invite, or a newer answer is stored
    UNUSED_PARTSTAT = "unused-partstat"  # a PARTSTAT a participant's answer cannot be


@dataclass(frozen=True, slots=True)
class RsvpOutcome:
    """Whether a REPLY changed the stored answer, and why not when it did not."""

    recorded: bool
    reason: str = ""
    not_recorded: NotRecorded | None = None


def _stale(
    sequence: int, dtstamp: datetime | None, stored_sequence: int, stored_dtstamp: datetime | None
) -> str:
    # RFC 5546 2.1.5: SEQUENCE first, then DTSTAMP, decide which REPLY is the newer one.
    if sequence < stored_sequence:
        return f"stale: SEQUENCE {sequence} < {stored_sequence}"
    if (
        sequence == stored_sequence
        and dtstamp is not None
        and stored_dtstamp is not None
        and dtstamp < stored_dtstamp
    ):
        return (
            f"stale: DTSTAMP {dtstamp.isoformat()} is older than {stored_dtstamp.isoformat()}"
            f" at SEQUENCE {sequence}"
        )
    return ""


async def stored_rsvps(
    conn: AsyncConnection, participant_id: int
) -> dict[int, tuple[int, datetime | None]]:
    """A participant's stored REPLYs: session number -> (SEQUENCE, DTSTAMP)."""
    rows = await conn.execute(_RSVPS_OF, {"pid": participant_id})
    return {r.session_number: (r.sequence, r.dtstamp) for r in rows}


async def record_rsvp(
    conn: AsyncConnection,
    *,
    participant_id: int,
    session_number: int,
    partstat: str,
    comment: str,
    sequence: int,
    dtstamp: datetime | None,
    received_at: datetime,
    inbox_id: int | None,
    moved_sequence: int = 0,
    stored: dict[int, tuple[int, datetime | None]] | None = None,
) -> RsvpOutcome:
    """Store a participant's REPLY for one session (or the series, ``session_number`` 0).

    ``stored``: the participant's REPLYs as ``stored_rsvps`` read them in this
    transaction (one query for every VEVENT of a mail); kept up to date here.
    """
    status = partstat.strip().upper()
    if status not in PARTSTATS:
        return RsvpOutcome(
            recorded=False,
            reason=f"PARTSTAT {status or '(empty)'} is not used",
            not_recorded=NotRecorded.UNUSED_PARTSTAT,
        )
    if session_number > 0 and sequence < moved_sequence:
        return RsvpOutcome(
            recorded=False,
            reason=(
                f"stale: answers SEQUENCE {sequence}, before session {session_number}"
                f" moved at SEQUENCE {moved_sequence}"
            ),
            not_recorded=NotRecorded.STALE,
        )
    if stored is None:
        stored = await stored_rsvps(conn, participant_id)
    values: dict[str, Any] = {
        "pid": participant_id,
        "number": session_number,
        "v_partstat": status,
        "v_comment": comment,
        "v_sequence": sequence,
        "v_dtstamp": dtstamp,
        "v_received_at": received_at,
        "v_inbox_id": inbox_id,
    }
    before = stored.get(session_number)
    if before is not None:
        reason = _stale(sequence, dtstamp, *before)
        if reason:
            return RsvpOutcome(recorded=False, reason=reason, not_recorded=NotRecorded.STALE)
    await conn.execute(_RSVP_INSERT if before is None else _RSVP_UPDATE, values)
    stored[session_number] = (sequence, dtstamp)
    return RsvpOutcome(recorded=True)


# Built once: the inbox records thousands of REPLYs, and building a statement costs
# more than SQLite takes to run it.
_RSVPS_OF = select(t.rsvps.c.session_number, t.rsvps.c.sequence, t.rsvps.c.dtstamp).where(
    t.rsvps.c.participant_id == bindparam("pid")
)
_RSVP_VALUES: dict[str, Any] = {
    "partstat": bindparam("v_partstat"),
    "comment": bindparam("v_comment"),
    "sequence": bindparam("v_sequence"),
    "dtstamp": bindparam("v_dtstamp"),
    "received_at": bindparam("v_received_at"),
    "inbox_id": bindparam("v_inbox_id"),
}
_RSVP_INSERT = t.rsvps.insert().values(
    participant_id=bindparam("pid"), session_number=bindparam("number"), **_RSVP_VALUES
)
_RSVP_UPDATE = (
    update(t.rsvps)
    .where(
        t.rsvps.c.participant_id == bindparam("pid"),
        t.rsvps.c.session_number == bindparam("number"),
    )
    .values(**_RSVP_VALUES)
)


async def record_evaluation(
    conn: AsyncConnection,
    *,
    participant_id: int,
    session_number: int,
    absent: bool,
    answers: Mapping[str, Answer],
    received_at: datetime,
    inbox_id: int | None,
) -> int:
    """Store an evaluation as the current one (earlier ones stay as history); return its id."""
    await conn.execute(_EVAL_SUPERSEDED, {"pid": participant_id, "number": session_number})
    result = await conn.execute(
        _EVAL_INSERT,
        {
            "participant_id": participant_id,
            "session_number": session_number,
            "absent": absent,
            "answers": {str(k): v for k, v in answers.items()},
            "received_at": received_at,
            "inbox_id": inbox_id,
            "current": True,
        },
    )
    await record_presence(
        conn,
        participant_id=participant_id,
        session_number=session_number,
        present=not absent,
        source="evaluation",
        now=received_at,
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


_EVAL_SUPERSEDED = (
    update(t.evaluations)
    .where(
        t.evaluations.c.participant_id == bindparam("pid"),
        t.evaluations.c.session_number == bindparam("number"),
        t.evaluations.c.current.is_(True),
    )
    .values(current=False)
)
_EVAL_INSERT = t.evaluations.insert()


async def record_presence(
    conn: AsyncConnection,
    *,
    participant_id: int,
    session_number: int,
    present: bool,
    source: str,
    now: datetime,
) -> None:
    """Set whether a participant was at a session; the latest statement wins."""
    if source not in PRESENCE_SOURCES:
        msg = f"presence source must be one of {sorted(PRESENCE_SOURCES)}, not {source!r}"
        raise ValueError(msg)
    row = {
        "participant_id": participant_id,
        "session_number": session_number,
        "present": present,
        "source": source,
        "updated_at": now,
    }
    upsert = _PRESENCE_UPSERT.get(conn.dialect.name)
    if upsert is not None:
        await conn.execute(upsert, row)
        return
    result = await conn.execute(
        update(t.presence)
        .where(
            t.presence.c.participant_id == participant_id,
            t.presence.c.session_number == session_number,
        )
        .values(present=present, source=source, updated_at=now)
    )
    if result.rowcount == 0:
        await conn.execute(t.presence.insert().values(**row))


def _presence_upsert(dialect: Any) -> Any:
    """INSERT … ON CONFLICT (participant, session) DO UPDATE, built once per dialect."""
    stmt = dialect.insert(t.presence)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["participant_id", "session_number"],
        set_={
            "present": excluded.present,
            "source": excluded.source,
            "updated_at": excluded.updated_at,
        },
    )


_PRESENCE_UPSERT = {"postgresql": _presence_upsert(postgresql), "sqlite": _presence_upsert(sqlite)}


async def flag_bounce(
    conn: AsyncConnection, *, participant_id: int, reason: str, now: datetime
) -> bool:
    """Flag one participant whose mail from us came back; False if they are gone or purged.

    Only the participant the bounced message went to, in its own network: the
    caller has checked that the bounce returns a message we sent them.
    """
    active = select(t.networks.c.id).where(t.networks.c.purged_at.is_(None))
    result = await conn.execute(
        update(t.participants)
        .where(
            t.participants.c.id == participant_id,
            t.participants.c.removed_at.is_(None),
            t.participants.c.network_id.in_(active),
        )
        .values(bounced_at=now, bounce_reason=reason)
    )
    return bool(result.rowcount)


async def clear_bounce(conn: AsyncConnection, *, participant_id: int) -> bool:
    """Lift a participant's bounce flag (verified mail came from them); True if one was set."""
    result = await conn.execute(
        update(t.participants)
        .where(t.participants.c.id == participant_id, t.participants.c.bounced_at.is_not(None))
        .values(bounced_at=None, bounce_reason=None)
    )
    return bool(result.rowcount)


async def save_rollcall_order(
    conn: AsyncConnection, *, digest_key: str, network_id: int, emails: Sequence[str]
) -> None:
    """Keep the numbering of the participants in one digest, for the roll call that answers it."""
    r = t.rollcall_orders
    await conn.execute(r.delete().where(r.c.digest_key == digest_key))
    await conn.execute(
        r.insert().values(digest_key=digest_key, network_id=network_id, emails=list(emails))
    )
