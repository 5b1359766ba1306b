"""Rows a crash left in flight, settled with the attempt log when the sender starts."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from leernet.mailer.attempts import AttemptLog
from leernet.mailer.queue import IN_FLIGHT, MARK_SENT, OutboxState
from leernet.store.chunks import chunked
from leernet.store.schema import outbox

log = logging.getLogger("leernet.outbox")

S = OutboxState


async def recover(
    engine: AsyncEngine, now: Callable[[], datetime], attempts: AttemptLog | None = None
) -> int:
    """Settle rows a crash left in flight; return how many were in flight.

    With the attempt log (``leernet.mailer.attempts``): a row whose attempt
    never reached DATA goes back to ``queued`` (the server cannot have it); one
    that did becomes ``resend``; a ``resending`` row that reached DATA again is
    marked ``sent`` without a 250 (the server may hold it twice already; a third
    copy is worse than none). Without the log every row in flight is ``resend``.

    Only safe while no other sender works on the database (one daemon per
    database holds the lock in ``leernet.store.engine.daemon_lock``).
    """
    attempts = attempts or AttemptLog.beside(engine.url)
    log_says = attempts.read()
    moment = now()
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.id, outbox.c.state, outbox.c.attempts, outbox.c.key).where(
                    outbox.c.state.in_(IN_FLIGHT)
                )
            )
        ).all()
        settle: dict[str, list[int]] = defaultdict(list)
        delivered: list[tuple[int, datetime]] = []
        for row_id, state, tries, key in rows:
            when = log_says.delivered_at(row_id, tries) if log_says is not None else None
            went = log_says is None or log_says.reached(row_id, tries)
            if when is not None:
                delivered.append((row_id, when))  # the 250 came; only its commit was missing
            elif state == S.SENDING:
                settle[S.RESEND if went else S.QUEUED].append(row_id)
            elif went:
                settle[_UNCONFIRMED_STATE].append(row_id)
                log.warning(
                    "not sending %s a third time: two attempts were cut off after DATA",
                    key,
                    extra={"event": "outbox.unconfirmed", "key": key},
                )
            else:
                settle[S.RESEND].append(row_id)
        for row_id, when in delivered:
            await conn.execute(MARK_SENT, {"ids": [row_id], "at": when})
        for state, ids in settle.items():
            values: dict[str, Any] = {"state": state}
            if state == _UNCONFIRMED_STATE:
                values = {
                    "state": S.SENT,
                    "sent_at": moment,
                    "attempts": outbox.c.attempts + 1,
                    "smtp_code": None,
                    "last_error": _UNCONFIRMED,
                }
            for chunk in chunked(ids):
                await conn.execute(update(outbox).where(outbox.c.id.in_(chunk)).values(values))
    attempts.clear()  # every row in flight is settled
    n = len(rows)
    if n:
        log.warning(
            "%d message(s) were in flight when leernet stopped: %d had been delivered, %d go"
            " out again, %d were perhaps delivered and are sent again, %d are not sent a third"
            " time",
            n,
            len(delivered),
            len(settle[S.QUEUED]),
            len(settle[S.RESEND]),
            len(settle[_UNCONFIRMED_STATE]),
            extra={"event": "outbox.recovered", "count": n},
        )
    return n


_UNCONFIRMED_STATE = "unconfirmed"  # sorted here only: such a row is stored as sent
_UNCONFIRMED = (
    "no 250 seen: two attempts were cut off after DATA by a stop of leernet;"
    " the recipient may have it twice, so it is not sent a third time"
)
