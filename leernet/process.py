"""The inbox's processor: one archived mail -> classify -> record -> replies and notices.

Runs inside the inbox's transaction for that mail (``mailer.inbox.Processor``),
so a mail's effect and its archive row commit together. Nothing is ever sent
to an unverified sender or in answer to an automatic message.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet import facts, record, registry, summary_record
from leernet.build import Factory, participant_of
from leernet.calendar.invite import series_uid
from leernet.calendar.itip import match_session
from leernet.errors import ParseError
from leernet.mailer import headers as h
from leernet.mailer import views
from leernet.mailer.answers import new_text, parse_answers
from leernet.mailer.bounces import returned_message_ids
from leernet.mailer.classify import (
    Candidate,
    Classification,
    Context,
    Outcome,
    classify,
    read_message,
)
from leernet.mailer.consent import Said, read_yes_no
from leernet.mailer.inbox import Disposition
from leernet.mailer.mailtext import reply_text
from leernet.mailer.outbox import enqueue
from leernet.model import QuestionKind
from leernet.notices import notify
from leernet.notices import text as notices_text
from leernet.organiser.desk import Desk
from leernet.registry import Member, Registered
from leernet.rollcall import parse_rollcall
from leernet.store import schema as t
from leernet.strangers import StrangerDigests, stranger_of
from leernet.tokens import token_from_address, token_matches

log = logging.getLogger("leernet.process")


@dataclass(frozen=True, slots=True)
class Mail:
    """One incoming mail as the handlers see it."""

    inbox_id: int
    msg: Message
    c: Classification
    sent: dict[str, tuple[Candidate | None, str]]  # Message-IDs we sent that it refers to


@dataclass(frozen=True, slots=True)
class _Read:
    """One mail as ``prepare`` read it: parsed, its reply tokens and the Message-IDs it cites."""

    raw: bytes
    msg: Message | Classification
    tokens: frozenset[str] = frozenset()
    refs: tuple[str, ...] = ()
    returned: tuple[str, ...] = ()  # Message-IDs of the mail a bounce returns


@dataclass(slots=True)
class _Batch:
    """What one FETCH batch's mails name, looked up together (``Processor.prepare``)."""

    read: dict[int, _Read]  # id(raw) -> what was read of it
    by_token: dict[str, Candidate]  # every token the batch's recipients carry (found ones)
    sent: dict[str, tuple[Candidate | None, str]]  # every Message-ID it refers to (found ones)
    registered: dict[int, Registered]  # networks read so far in this batch


_PREVIEW_PREFIX = "summary-preview/"
_HOLD_NOTE = {
    "nl": {
        False: "Houdt de samenvatting voor de leidinggevende tegen (die wordt niet verstuurd):",
        True: "Vraagt de samenvatting tegen te houden, maar die was al verstuurd:",
    },
    "en": {
        False: "Holds back the summary for their manager (it will not be sent):",
        True: "Asks to hold back the summary, but it had already been sent:",
    },
}
_EVAL_KINDS = ("eval-request", "eval-reminder", "confirmation", "answer-again")
_SESSION_NUMBER = re.compile(r"\b(?:sessie|session|bijeenkomst)\s*(\d{1,2})\b", re.IGNORECASE)


_MAX_REFS = 50  # Message-IDs of one mail looked up (References can be long)
_CHUNK = 500  # values in one IN (...): well below SQLite's and asyncpg's limits

# Built once: the inbox runs these for every batch or mail.
_CAND = (
    t.participants.c.id,
    t.participants.c.network_id,
    t.participants.c.email,
    t.participants.c.name,
    t.participants.c.token,
    t.networks.c.slug,
    t.networks.c.sequence,
)
_BY_TOKENS = (
    select(*_CAND)
    .join(t.networks, t.networks.c.id == t.participants.c.network_id)
    .where(
        t.participants.c.token.in_(bindparam("tokens", expanding=True)),
        t.participants.c.removed_at.is_(None),
    )
)
_BY_MESSAGE_IDS = (
    select(t.outbox.c.message_id, t.outbox.c.key, *_CAND)
    .select_from(
        t.outbox.outerjoin(
            t.participants,
            (t.participants.c.network_id == t.outbox.c.network_id)
            & (t.participants.c.email == t.outbox.c.recipient)
            # As for a token: a removed participant is nobody's reference any more.
            & t.participants.c.removed_at.is_(None),
        )
    )
    .outerjoin(t.networks, t.networks.c.id == t.outbox.c.network_id)
    .where(t.outbox.c.message_id.in_(bindparam("ids", expanding=True)))
)
_ANSWERS_SINCE = select(func.count()).where(
    t.outbox.c.recipient == bindparam("address"),
    t.outbox.c.kind.in_(("confirmation", "answer-again")),
    t.outbox.c.created_at >= bindparam("since"),
)


def _computable(message_id: str, key: str) -> bool:
    """A Message-ID of the old form, sha256 of its key: anyone can compute it, so it names nobody.

    Mail queued before Message-IDs carried the secret keeps its id in the outbox.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return message_id.startswith(f"<leernet.{digest}@")


class Processor:
    """Callable as the inbox's processor; ``on_queued`` wakes the sender."""

    def __init__(
        self,
        factory: Factory,
        now: Callable[[], datetime],
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.f = factory
        self.now = now
        self.on_queued = on_queued or (lambda: None)
        self.service = factory.settings.service_address
        self._organiser_cache: tuple[float, frozenset[str]] | None = None
        self.desk = Desk(factory, now)
        self._batch: _Batch | None = None
        self.strangers = StrangerDigests(factory)  # one digest a day of unverified mail

    async def prepare(self, conn: AsyncConnection, raws: list[bytes]) -> None:
        """Read a FETCH batch's mails and look up their tokens and references in two queries.

        Called by the inbox in the batch's transaction, before the first mail;
        ``finish`` ends it. Nothing a mail does changes what these lookups find
        for the next one: tokens change with ``leernet update``, and our own
        Message-IDs are known only once sent.
        """
        read: dict[int, _Read] = {}
        tokens: set[str] = set()
        refs: set[str] = set()
        for raw in raws:
            try:
                one = self._read(raw)
            except Exception:  # read again by __call__, where a failure costs this mail only
                log.debug("mail not read ahead of its batch", exc_info=True)
                continue
            read[id(raw)] = one
            tokens |= one.tokens
            refs.update(one.refs, one.returned)
        self._batch = _Batch(
            read,
            await self._candidates_by_token(conn, tokens),
            await self._sent(conn, sorted(refs)),
            {},
        )

    def finish(self) -> None:
        self._batch = None

    def _read(self, raw: bytes) -> _Read:
        msg = read_message(raw, self.f.settings.max_message_bytes)
        if isinstance(msg, Classification):
            return _Read(raw, msg)
        tokens = frozenset(
            tok for a in h.recipient_addresses(msg) if (tok := token_from_address(self.service, a))
        )
        refs = tuple(h.message_ids(msg)[:_MAX_REFS])
        return _Read(raw, msg, tokens, refs, tuple(returned_message_ids(msg)))

    async def __call__(self, conn: AsyncConnection, inbox_id: int, raw: bytes) -> Disposition:
        batch = self._batch
        one = batch.read.get(id(raw)) if batch is not None else None
        if one is None or one.raw is not raw:
            batch = None  # not a mail of the prepared batch: look it up on its own
            one = self._read(raw)
        msg, tokens, refs = one.msg, one.tokens, [*one.refs, *one.returned]
        if isinstance(msg, Classification):
            # Too large, too deep, too odd to read: kept and put aside, and a person is told.
            await self._attention(conn, msg, inbox_id, raw=raw)
            return Disposition(msg.outcome.value, msg.reason, attention=True)
        if batch is not None:
            by_token = {tok: batch.by_token[tok] for tok in tokens if tok in batch.by_token}
            sent = {mid: batch.sent[mid] for mid in refs if mid in batch.sent}
        else:
            by_token = await self._candidates_by_token(conn, tokens)
            sent = await self._sent(conn, refs)
        found = sent  # with the mail a bounce returns, for classify's bounce check only
        sent = {mid: sent[mid] for mid in one.refs if mid in sent}  # what it answers
        # An organiser's request (to the plain address) or their reply to a preview (a
        # token that is no participant's): only then does the desk look anything up.
        if not tokens or not tokens <= by_token.keys():
            desk = await self.desk.handle(conn, msg, tokens - by_token.keys(), inbox_id)
            if desk is not None:
                self.on_queued()
                return desk
        rollcall = await self._rollcall(conn, msg, tokens, sent, inbox_id)
        if rollcall is not None:
            return rollcall
        organisers = await self._organisers(conn)
        ctx = Context(
            service_address=self.service,
            authserv_id=self.f.settings.authserv_id,
            lookup_token=lambda tok: by_token.get(tok.lower()),
            lookup_sent_message=lambda mid: found.get(mid, (None, ""))[0],
            sent_to_others=lambda mid: mid in found and found[mid][0] is None,
            organiser_addresses=organisers,
            max_bytes=self.f.settings.max_message_bytes,
        )
        c = classify(raw, ctx, msg)
        handler = {
            Outcome.RSVP: self._rsvp,
            Outcome.EVALUATION: self._evaluation,
            Outcome.BOUNCE: self._bounce,
        }.get(c.outcome)
        if c.candidate is not None and c.outcome in (Outcome.RSVP, Outcome.EVALUATION):
            await self._reachable(conn, c.candidate)
        if handler is not None:
            return await handler(conn, Mail(inbox_id, msg, c, sent))
        if c.attention:
            # A mail that failed verification still names a network (by its token or the
            # mail it answers): that network's organiser is the one to tell.
            named = [cand.network_id for cand in by_token.values()]
            named += [cand.network_id for cand, _ in sent.values() if cand is not None]
            nid = named[0] if named else None
            await self._attention(conn, c, inbox_id, nid, raw=raw)
            # The network is kept with the mail: its daily digest counts it (strangers.py).
            return Disposition(c.outcome.value, c.reason, attention=True, network_id=nid)
        return Disposition(c.outcome.value, c.reason, attention=c.attention)

    # -- looking things up ------------------------------------------------------------

    async def _organisers(self, conn: AsyncConnection) -> frozenset[str]:
        """Every organiser's address, read at most once a minute (it changes with `start`)."""
        now = time.monotonic()
        if self._organiser_cache is None or now - self._organiser_cache[0] > 60:
            rows = await conn.execute(select(t.networks.c.organiser_email).distinct())
            self._organiser_cache = (now, frozenset(r[0] for r in rows))
        return self._organiser_cache[1]

    async def _candidates_by_token(
        self, conn: AsyncConnection, tokens: AbstractSet[str]
    ) -> dict[str, Candidate]:
        found: dict[str, Candidate] = {}
        wanted = sorted(tokens)
        for start in range(0, len(wanted), _CHUNK):
            rows = await conn.execute(_BY_TOKENS, {"tokens": wanted[start : start + _CHUNK]})
            found.update((r.token, self._candidate(r)) for r in rows)
        return found

    def _candidate(self, r: Any) -> Candidate:
        return Candidate(
            participant_id=r.id,
            network_id=r.network_id,
            slug=r.slug,
            email=r.email,
            name=r.name,
            series_uid=series_uid(r.slug, self.service),
            token=r.token,
            sequence=r.sequence,
        )

    async def _sent(
        self, conn: AsyncConnection, refs: list[str]
    ) -> dict[str, tuple[Candidate | None, str]]:
        """Message-IDs we sent that this mail refers to -> (the participant it went to, its key)."""
        found: dict[str, tuple[Candidate | None, str]] = {}
        for start in range(0, len(refs), _CHUNK):
            rows = await conn.execute(_BY_MESSAGE_IDS, {"ids": refs[start : start + _CHUNK]})
            found.update(
                (r.message_id, (self._candidate(r) if r.id is not None else None, r.key))
                for r in rows
                if not _computable(r.message_id, r.key)
            )
        return found

    async def _registered(self, conn: AsyncConnection, network_id: int) -> Registered:
        """A network as registered; read once per batch (a bounce in the batch reads it again)."""
        batch = self._batch
        reg = batch.registered.get(network_id) if batch is not None else None
        if reg is None:
            reg = await registry.get_by_id(conn, network_id)
            assert reg is not None  # a candidate's network exists in this transaction
            if batch is not None:
                batch.registered[network_id] = reg
        return reg

    # -- what each kind of mail does --------------------------------------------------

    async def _rsvp(self, conn: AsyncConnection, mail: Mail) -> Disposition:
        c, inbox_id = mail.c, mail.inbox_id
        assert c.candidate is not None
        assert c.itip is not None
        reg = await self._registered(conn, c.candidate.network_id)
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
            await self._attention(conn, c, inbox_id, reg.id)
            return Disposition(
                "rsvp",
                c.reason,
                attention=True,
                network_id=reg.id,
                participant_id=c.candidate.participant_id,
            )
        slots = [(s.number, s.slot) for s in reg.network.sessions]
        stored = await record.stored_rsvps(conn, c.candidate.participant_id)
        notes = []
        for part in c.itip.components:
            number = 0
            if part.recurrence_id is not None:
                found = match_session(part, slots, reg.network.zone)
                if found is None:
                    notes.append(f"RECURRENCE-ID {part.recurrence_id} matches no session")
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
                received_at=self.now(),
                inbox_id=inbox_id,
                moved_sequence=reg.moved_sequence.get(number, 0),
                stored=stored,
            )
            if not outcome.recorded:
                notes.append(outcome.reason)
        if notes and len(notes) == len(c.itip.components):
            reason = f"{c.reason}; not recorded: {'; '.join(notes)}"
            stale = all("stale" in n or "older" in n or "SEQUENCE" in n for n in notes)
            if not stale:
                await self._attention(conn, c, inbox_id, reg.id, reason=reason)
            return Disposition(
                "rsvp",
                reason,
                attention=not stale,
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

    def _session_of(self, reg: Registered, keys: list[str], subject: str) -> int | None:
        """Which session a reply answers, or None when it is a message for the organiser.

        In order: the evaluation mail it refers to (In-Reply-To/References); a session
        title or number in its subject; else, for a reply that refers to none of our
        mail, the latest session that has ended.
        """
        for key in keys:
            kind, _, rest = key.partition("/")
            parts = rest.split("/")
            if kind in _EVAL_KINDS and len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
        net = reg.network
        wanted = subject.casefold()
        titled = [s for s in net.active_sessions if s.title.casefold() in wanted]
        if titled:
            return max(titled, key=lambda s: len(s.title)).number
        numbered = _SESSION_NUMBER.search(subject)
        if numbered and any(s.number == int(numbered.group(1)) for s in net.active_sessions):
            return int(numbered.group(1))
        if keys:
            return None  # a reply to an invite or a reminder: for the organiser
        ended = [s for s in net.active_sessions if s.end <= self.now()]
        return max(ended, key=lambda s: s.end).number if ended else None

    async def _evaluation(self, conn: AsyncConnection, mail: Mail) -> Disposition:
        c, msg, sent, inbox_id = mail.c, mail.msg, mail.sent, mail.inbox_id
        cand = c.candidate
        assert cand is not None
        reg = await self._registered(conn, cand.network_id)
        member = reg.member(cand.email)
        assert member is not None
        net = reg.network
        keys = [k for _, k in sent.values()]
        try:
            body = reply_text(msg)
        except ParseError as exc:
            return await self._unreadable(conn, mail, reg.id, member.id, exc)
        previews = [k for k in keys if k.startswith(_PREVIEW_PREFIX)]
        if previews:
            return await self._summary_reply(
                conn, mail, reg, member, preview_key=previews[0], body=body
            )
        number = self._session_of(reg, keys, c.subject)
        if number is None:
            # Not an evaluation: a message for the organiser (never answered automatically).
            try:
                text = new_text(body, net.language)[:4000]
            except ParseError as exc:
                return await self._unreadable(conn, mail, reg.id, member.id, exc)
            await self._forward(conn, mail, reg.id, member, text.splitlines()[:60])
            self.on_queued()
            return Disposition(
                "message",
                f"a message from {cand.email} for the organiser",
                attention=False,
                network_id=reg.id,
                participant_id=member.id,
            )
        session = net.session(number)
        questions = facts.questions_of(net, number)
        try:
            parsed = parse_answers(body, questions, net.language)
        except ParseError as exc:
            return await self._unreadable(conn, mail, reg.id, member.id, exc)
        person = participant_of(net, member)
        now = self.now()
        if parsed.empty:
            reason = f"reply from {cand.email} for session {number}: no answers could be read"
            context = views.eval_request(net, person, session, questions)
            await self._answer(
                conn, mail, reg, member, kind="answer-again", number=number, context=context
            )
            return Disposition(
                "evaluation", reason, attention=False, network_id=reg.id, participant_id=member.id
            )
        answers = dict(parsed.answers)
        consent_numbers = {str(q.number) for q in questions if q.kind is QuestionKind.CONSENT}
        if not parsed.absent and set(answers) <= consent_numbers:
            # Only the consent question, as the confirmation invites ("4. ja"): it changes
            # that answer and keeps the others; it is a new statement of its own.
            earlier = await facts.current_evaluation(conn, member.id, number)
            if earlier is not None and not earlier.absent:
                answers = {**earlier.answers, **answers}
        await record.record_evaluation(
            conn,
            participant_id=member.id,
            session_number=number,
            absent=parsed.absent,
            answers=answers,
            received_at=now,
            inbox_id=inbox_id,
        )
        context = views.confirmation(
            net,
            person,
            session,
            views.RecordedAnswer.from_mapping(answers),
            absent=parsed.absent,
            questions=questions,
        )
        await self._answer(
            conn, mail, reg, member, kind="confirmation", number=number, context=context
        )
        what = "absent" if parsed.absent else f"{len(parsed.answers)} answer(s)"
        return Disposition(
            "evaluation",
            f"{c.reason}: session {number}, {what}",
            attention=False,
            network_id=reg.id,
            participant_id=member.id,
        )

    async def _forward(
        self, conn: AsyncConnection, mail: Mail, network_id: int, member: Member, lines: list[str]
    ) -> None:
        """A participant's own words for the organiser (a "message" notice; never answered)."""
        await notify(
            conn,
            self.f,
            key=f"notice/message/{mail.inbox_id}",
            network_id=network_id,
            topic="message",
            now=self.now(),
            values={"name": member.name, "subject": mail.c.subject[:120], "address": member.email},
            details=lines,
        )

    async def _summary_reply(
        self,
        conn: AsyncConnection,
        mail: Mail,
        reg: Registered,
        member: Member,
        *,
        preview_key: str,
        body: str,
    ) -> Disposition:
        """A reply to the preview of a manager summary: anything but a plain yes holds it back.

        "nee", "no" or "stop" is what the preview asks for; a question or any other
        text also holds the summary (fail safe) and goes to the organiser to answer.
        """
        net = reg.network
        try:
            text = new_text(body, net.language)[:4000]
        except ParseError:
            text = ""  # unreadable: not a plain yes, so the summary is held (fail safe)
        said = read_yes_no(text)

        def done(outcome: str, reason: str) -> Disposition:
            return Disposition(
                outcome, reason, attention=False, network_id=reg.id, participant_id=member.id
            )

        if said is Said.YES:
            return done("summary-ok", f"{member.email} agreed to the summary")
        hold = await summary_record.hold_summary(
            conn,
            preview_key=preview_key,
            participant_id=member.id,
            now=self.now(),
            inbox_id=mail.inbox_id,
        )
        if not hold.found:
            return done("summary-hold", "no preview for this reply")
        if hold.already_sent or said is Said.UNKNOWN:
            # The organiser answers what a template cannot: a late hold, or a question.
            note = _HOLD_NOTE[net.language][hold.already_sent]
            await self._forward(conn, mail, reg.id, member, [note, "", *text.splitlines()[:60]])
        context = views.summary_held(
            net, participant_of(net, member), already_sent=hold.already_sent
        )
        await self._answer(conn, mail, reg, member, kind="summary-held", number=0, context=context)
        what = "too late: already sent" if hold.already_sent else "held back"
        return done("summary-hold", f"manager summary of {member.email} {what}")

    async def _unreadable(
        self, conn: AsyncConnection, mail: Mail, network_id: int, member_id: int, exc: ParseError
    ) -> Disposition:
        """A reader failed on this mail: logged, set aside, the organiser told; never answered."""
        log.error(
            "a reader failed on this mail",
            exc_info=exc,
            extra={"inbox_id": mail.inbox_id, "event": "parse-error"},
        )
        reason = f"{mail.c.reason}; set aside: {exc.reason}"
        await self._attention(conn, mail.c, mail.inbox_id, network_id, reason=reason)
        return Disposition(
            "evaluation", reason, attention=True, network_id=network_id, participant_id=member_id
        )

    async def _answer(
        self,
        conn: AsyncConnection,
        mail: Mail,
        reg: Registered,
        member: Member,
        *,
        kind: str,
        number: int,
        context: dict[str, object],
    ) -> None:
        """Queue an automatic answer (RFC 3834 auto-replied), unless it may not or must not be sent."""
        if not mail.c.answer_to_service or not await self._may_answer(conn, member.email):
            return
        now = self.now()
        out = self.f.to_participant(
            reg,
            member,
            key=f"{kind}/{reg.slug}/{number}/{member.email}/{mail.inbox_id}",
            kind=kind,
            template=kind.replace("-", "_"),
            context=context,
            now=now,
            expects_reply=True,
            in_reply_to=mail.c.message_id or None,
            auto_submitted="auto-replied",
        )
        await enqueue(conn, [out], now)
        self.on_queued()

    async def _may_answer(self, conn: AsyncConnection, address: str) -> bool:
        """Rate limit: at most ``confirmations_per_hour`` automatic answers to one address."""
        since = self.now() - timedelta(hours=1)
        count = (
            await conn.execute(_ANSWERS_SINCE, {"address": address, "since": since})
        ).scalar_one()
        if count >= self.f.settings.confirmations_per_hour:
            log.warning("confirmation rate limit reached", extra={"event": "rate-limited"})
            return False
        return True

    async def _bounce(self, conn: AsyncConnection, mail: Mail) -> Disposition:
        c = mail.c
        now = self.now()
        cand = c.candidate
        if cand is None and c.attention:  # our mail to a manager or an organiser came back
            await self._attention(conn, c, mail.inbox_id)
            return Disposition("bounce", c.reason, attention=True)
        if cand is None:
            # Refers to nothing we sent: anyone can write "Undelivered Mail". Archived only.
            return Disposition("bounce-unverified", c.reason, attention=False)
        if c.attention:
            await self._attention(conn, c, mail.inbox_id, cand.network_id)
            return Disposition("bounce", c.reason, attention=True, network_id=cand.network_id)
        if self._batch is not None:
            self._batch.registered.clear()  # flagging a member changes the networks
        flagged = await record.flag_bounce(
            conn, participant_id=cand.participant_id, reason=c.reason[:500], now=now
        )
        if flagged:
            await notify(
                conn,
                self.f,
                key=f"notice/bounce/{cand.network_id}/{cand.email}",
                network_id=cand.network_id,
                topic="bounce",
                now=now,
                values={"address": cand.email, "reason": c.reason[:300]},
            )
            self.on_queued()
        return Disposition(
            "bounce",
            c.reason,
            attention=False,
            network_id=cand.network_id,
            participant_id=cand.participant_id,
        )

    async def _reachable(self, conn: AsyncConnection, cand: Candidate) -> None:
        """Verified mail from a flagged participant lifts their bounce flag: mail reaches them."""
        if await record.clear_bounce(conn, participant_id=cand.participant_id):
            if self._batch is not None:
                self._batch.registered.clear()
            log.info("bounce flag lifted: verified mail from the participant")

    async def _attention(
        self,
        conn: AsyncConnection,
        c: Classification,
        inbox_id: int,
        network_id: int | None = None,
        *,
        reason: str = "",
        raw: bytes = b"",
    ) -> None:
        nid = (
            network_id
            if network_id is not None
            else (c.candidate.network_id if c.candidate else None)
        )
        if raw and c.outcome in (Outcome.UNKNOWN, Outcome.REJECTED):
            # Not verified: counted in the day's digest, never one notice per mail.
            plain = "@" in c.from_address and not set(" <>,;") & set(c.from_address)
            sender = c.from_address if plain else ""  # as strangers.stranger_of reads it back
            await self.strangers.add(
                conn,
                network_id=nid,
                raw=raw,
                stranger=stranger_of(raw, c.outcome.value, sender, c.subject),
                now=self.now(),
            )
            return
        if c.meeting_response and c.candidate is not None:
            # A verified Outlook answer without a calendar part: said in the organiser's words.
            who, answer = c.candidate, c.meeting_response
            await notify(
                conn,
                self.f,
                key=f"notice/meeting/{inbox_id}",
                network_id=nid,
                topic="meeting",
                now=self.now(),
                values=lambda lang: {
                    "name": who.name,
                    "address": who.email,
                    "answer": notices_text(lang, f"meeting.{answer}"),
                    "folder": self.f.settings.imap_attention_folder,
                    "reason": (reason or c.reason)[:500],
                },
            )
            self.on_queued()
            return
        await notify(
            conn,
            self.f,
            key=f"notice/attention/{inbox_id}",
            network_id=nid,
            topic="attention",
            now=self.now(),
            values={
                "sender": c.from_address[:200] or "?",
                "subject": c.subject[:200] or "-",
                "folder": self.f.settings.imap_attention_folder,
                "reason": (reason or c.reason)[:500],
            },
        )
        self.on_queued()

    # -- the organiser's roll call ------------------------------------------------------

    async def _rollcall(
        self,
        conn: AsyncConnection,
        msg: Message,
        tokens: AbstractSet[str],
        sent: dict[str, tuple[Candidate | None, str]],
        inbox_id: int,
    ) -> Disposition | None:
        # A roll call answers a digest: without a reference to one it is not a roll call.
        digest_keys = [k for _, k in sent.values() if k.startswith("digest/")]
        if not digest_keys:
            return None
        _, slug, n = digest_keys[0].split("/")[:3]
        number = int(n)
        reg = await registry.get(conn, slug)
        if reg is None:
            return None
        net = reg.network
        sender, _ = h.from_address(msg)
        secret = self.f.secret
        verified = (
            sender is not None
            and h.same_mailbox(sender, net.organiser.email)
            and any(token_matches(secret, slug, net.organiser.email, tok) for tok in tokens)
            and h.dmarc_result(msg, self.f.settings.authserv_id) not in h.DMARC_REJECT
        )
        if not verified:
            return None  # classify decides: it will be put aside for a person
        # Numbered as in the digest answered, not as the network is now (an update may
        # have added or removed people since).
        kept = await facts.rollcall_order(conn, digest_keys[0])
        people = kept if kept is not None else tuple(p.email for p in views.roll_call(net))
        try:
            call = parse_rollcall(reply_text(msg), len(people))
        except ParseError:
            return None  # classify decides: an unreadable roll call is set aside for a person
        if call.empty:
            return None
        now = self.now()
        marked: dict[str, bool] = {}
        for numbers, present in ((call.present, True), (call.absent, False)):
            for i in numbers:
                member = reg.member(people[i - 1])
                if member is None:
                    continue
                await record.record_presence(
                    conn,
                    participant_id=member.id,
                    session_number=number,
                    present=present,
                    source="rollcall",
                    now=now,
                )
                marked[member.email] = present
        org = net.organiser
        from leernet.model import Person  # noqa: PLC0415

        out = self.f.to_person(
            net,
            reg.id,
            Person(org.name, org.email),
            key=f"rollcall-recorded/{inbox_id}",
            kind="rollcall-recorded",
            template="rollcall_recorded",
            context=views.rollcall_recorded(net, net.session(number), marked, call.unknown),
            now=now,
            auto_submitted="auto-replied",
        )
        await enqueue(conn, [out], now)
        self.on_queued()
        return Disposition(
            "rollcall",
            f"roll call for session {number}: {len(marked)} marked",
            attention=False,
            network_id=reg.id,
        )
