"""Mails that would take the real processor minutes cost one budget each; the replies around them are recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from leernet.mailer.headers import message_id
from leernet.store import schema as t
from tests.dovecot import ImapAccount, append, messages, uids
from tests.reliability.harness import ORGANISER, SERVICE
from tests.reliability.service import answers_to, evaluation_requests, outbox_rows, running_service
from tests.smtpserver import SmtpTestServer

if TYPE_CHECKING:
    from pathlib import Path

ATTENTION = "leernet.needs-attention"
ADMIN = "beheer@example.org"

# A stranger's REPLY whose VTIMEZONE changes offset every minute from 1601: expanding its
# transitions to convert the RECURRENCE-ID never ends (dateutil, one step per minute).
MINUTELY_ZONE = (
    f"From: Vreemde <iemand@evil.example>\r\nTo: {SERVICE}\r\nSubject: Accepted: Sessie\r\n"
    "Message-ID: <vtz-minutely@evil.example>\r\nDate: Thu, 14 Jan 2027 10:00:00 +0100\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY; charset=utf-8\r\n\r\n"
    "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nPRODID:-//evil//EN\r\nVERSION:2.0\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:Evil/Zone\r\n"
    "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\nRRULE:FREQ=MINUTELY\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:16010101T000030\r\nRRULE:FREQ=MINUTELY\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\nUID:leernet-hr-ovl-2027@example.org\r\n"
    "RECURRENCE-ID;TZID=Evil/Zone:20270114T093000\r\nDTSTAMP:20270110T100000Z\r\n"
    "SEQUENCE:0\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:iemand@evil.example\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)

# An answer line of numbered pairs that never closes: the pairs pattern backtracks
# exponentially in its length (94 characters: minutes today).
PAIRS_LINE = "2. " + ".".join(["1"] * 45) + " !"


async def _rows(engine: Any) -> list[Any]:
    async with engine.connect() as conn:
        query = select(t.inbox.c.id, t.inbox.c.message_id, t.inbox.c.outcome, t.inbox.c.folder)
        return list(await conn.execute(query.order_by(t.inbox.c.id)))


async def _evaluated(engine: Any) -> set[str]:
    """The addresses of the participants with an evaluation recorded."""
    query = select(t.participants.c.email).join(
        t.evaluations, t.evaluations.c.participant_id == t.participants.c.id
    )
    async with engine.connect() as conn:
        return {email for (email,) in await conn.execute(query)}


@pytest.mark.dovecot
class TestBudgetWithTheRealProcessor:
    async def test_hanging_mails_are_set_aside_and_the_replies_around_them_recorded(
        self, tmp_path: Path, dovecot: ImapAccount, figure: list[str]
    ) -> None:
        """A stranger's minutely VTIMEZONE and a pathological answer line each cost one budget at most; every ordinary answer in the same pass is recorded and a person hears of each mail set aside."""
        imap = {
            "imap_host": dovecot.host,
            "imap_port": dovecot.port,
            "imap_user": dovecot.user,
            "imap_password": dovecot.password,
            "mail_budget_seconds": 1.0,
            "admin_address": ADMIN,
        }
        with SmtpTestServer() as smtp:
            async with running_service(tmp_path, n=4, smtp_port=smtp.port, **imap) as (
                svc,
                clock,
                _,
            ):
                await svc.send_once()
                requests = await evaluation_requests(svc, clock)
                answers = [answers_to(r, i) for i, r in enumerate(requests, start=1)]
                pathological = answers[2].replace(b"2. Ik neem idee 3 mee.", PAIRS_LINE.encode())
                assert pathological != answers[2]
                mails = [
                    answers[0],
                    MINUTELY_ZONE.encode(),
                    answers[1],
                    pathological,
                    answers[3],
                ]
                await append(dovecot, *mails)
                result = await svc.inbox.run_once()
                assert (result.fetched, result.processed) == (5, 5)
                rows = await _rows(svc.engine)
                by_mid = {r.message_id: r for r in rows}
                budget = [r for r in rows if r.outcome == "budget"]
                # Set aside over budget today; read in microseconds once the parsers are
                # linear: either way the service went on.
                assert {r.message_id for r in budget} <= {
                    "<vtz-minutely@evil.example>",
                    message_id(pathological),
                }
                assert all(r.folder == ATTENTION for r in budget)
                assert all(r.outcome for r in rows)
                assert len(by_mid) == 5
                # A participant's mail is told to their network's organiser; a stranger's is
                # counted in the admin's daily digest of unverified mail (as other strangers'
                # mail is: a flood of them is one notice).
                told = {row.key for row in await outbox_rows(svc.engine, kind="notice")}
                for r in budget:
                    if r.message_id == "<vtz-minutely@evil.example>":
                        assert any(
                            k.startswith("notice/strangers/-/") and k.endswith(ADMIN) for k in told
                        )
                    else:
                        assert f"notice/attention/{r.id}/{ORGANISER}" in told
                evaluated = await _evaluated(svc.engine)
                members = {r.recipient for r in requests}
                others = {r.recipient for r in (requests[0], requests[1], requests[3])}
                assert len(members) == 4
                assert others <= evaluated <= members
                assert await uids(dovecot) == []
                set_aside = await messages(dovecot, ATTENTION)
                assert MINUTELY_ZONE.encode() in set_aside or not budget
                figure.append(
                    f"5 mails, {len(budget)} over a 1 s budget "
                    f"({', '.join(str(r.message_id) for r in budget) or 'none'}); "
                    f"{len(evaluated)} answers recorded"
                )
