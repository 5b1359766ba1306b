"""The inbox's processor: one archived mail -> classify -> record -> replies and notices.

Runs inside the inbox's transaction for that mail (``mailer.inbox.Processor``),
so a mail's effect and its archive row commit together. Nothing is ever sent
to an unverified sender or in answer to an automatic message.
"""

from __future__ import annotations

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

from leernet import facts, record, registry
from leernet.build import Factory, participant_of
from leernet.calendar.invite import series_uid
from leernet.calendar.itip import match_session
from leernet.errors import ParseError
from leernet.mailer import headers as h
from leernet.mailer import views
from leernet.mailer.answers import new_text, parse_answers
from leernet.mailer.classify import (
    Candidate,
    Classification,
    Context,
    Outcome,
    classify,
    read_message,
)
from leernet.mailer.inbox import Disposition
from leernet.mailer.mailtext import reply_text
from leernet.mailer.outbox import enqueue
from leernet.notices import notify
from leernet.registry import Member, Registered
from leernet.rollcall import parse_rollcall
from leernet.store import schema as t
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


@dataclass(slots=True)
class _Batch:
    """What one FETCH batch's mails name, looked up together (``Processor.prepare``)."""

    read: dict[int, _Read]  # id(raw) -> what was read of it
    by_token: dict[str, Candidate]  # every token the batch's recipients carry (found ones)
    sent: dict[str, tuple[Candidate | None, str]]  # every Message-ID it refers to (found ones)
    registered: dict[int, Registered]  # networks read so far in this batch


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
            & (t.participants.c.email == t.outbox.c.recipient),
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
        self._batch: _Batch | None = None

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
            refs.update(one.refs)
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
        return _Read(raw, msg, tokens, tuple(h.message_ids(msg)[:_MAX_REFS]))

    async def __call__(self, conn: AsyncConnection, inbox_id: int, raw: bytes) -> Disposition:
        batch = self._batch
        one = batch.read.get(id(raw)) if batch is not None else None
        if one is None or one.raw is not raw:
            batch = None  # not a mail of the prepared batch: look it up on its own
            one = self._read(raw)
        msg, tokens, refs = one.msg, one.tokens, list(one.refs)
        if isinstance(msg, Classification):
            # Too large, too deep, too odd to read: kept and put aside, and a person is told.
            await self._attention(conn, msg, inbox_id)
            return Disposition(msg.outcome.value, msg.reason, attention=True)
        if batch is not None:
            by_token = {tok: batch.by_token[tok] for tok in tokens if tok in batch.by_token}
            sent = {mid: batch.sent[mid] for mid in refs if mid in batch.sent}
        else:
            by_token = await self._candidates_by_token(conn, tokens)
            sent = await self._sent(conn, refs)
        rollcall = await self._rollcall(conn, msg, tokens, sent, inbox_id)
        if rollcall is not None:
            return rollcall
        organisers = await self._organisers(conn)
        ctx = Context(
            service_address=self.service,
            authserv_id=self.f.settings.authserv_id or self.f.settings.imap_host,
            lookup_token=lambda tok: by_token.get(tok.lower()),
            lookup_sent_message=lambda mid: sent.get(mid, (None, ""))[0],
            organiser_addresses=organisers,
            max_bytes=self.f.settings.max_message_bytes,
        )
        c = classify(raw, ctx, msg)
        handler = {
            Outcome.RSVP: self._rsvp,
            Outcome.EVALUATION: self._evaluation,
            Outcome.BOUNCE: self._bounce,
        }.get(c.outcome)
        if handler is not None:
            return await handler(conn, Mail(inbox_id, msg, c, sent))
        if c.attention:
            # A mail that failed verification still names a network (by its token or the
            # mail it answers): that network's organiser is the one to tell.
            named = [cand.network_id for cand in by_token.values()]
            named += [cand.network_id for cand, _ in sent.values() if cand is not None]
            await self._attention(conn, c, inbox_id, named[0] if named else None)
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
        number = self._session_of(reg, keys, c.subject)
        try:
            body = reply_text(msg)
        except ParseError as exc:
            return await self._unreadable(conn, mail, reg.id, member.id, exc)
        if number is None:
            # Not an evaluation: a message for the organiser (never answered automatically).
            try:
                text = new_text(body, net.language)[:4000]
            except ParseError as exc:
                return await self._unreadable(conn, mail, reg.id, member.id, exc)
            await notify(
                conn,
                self.f,
                key=f"notice/message/{inbox_id}",
                network_id=reg.id,
                topic="message",
                now=self.now(),
                values={"name": member.name, "subject": c.subject[:120], "address": member.email},
                details=text.splitlines()[:60],
            )
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
        await record.record_evaluation(
            conn,
            participant_id=member.id,
            session_number=number,
            absent=parsed.absent,
            answers=dict(parsed.answers),
            received_at=now,
            inbox_id=inbox_id,
        )
        context = views.confirmation(
            net,
            person,
            session,
            views.RecordedAnswer.from_mapping(parsed.answers),
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
        if self._batch is not None:
            self._batch.registered.clear()  # flagging a member changes the networks
        for address in c.bounced_recipients:
            bounce = await record.flag_bounce(conn, email=address, reason=c.reason[:500], now=now)
            networks = {
                r[0]
                for r in await conn.execute(
                    select(t.participants.c.network_id).where(
                        t.participants.c.id.in_(bounce.participant_ids)
                    )
                )
            } | set(bounce.manager_network_ids)
            for nid in sorted(networks) or [None]:
                await notify(
                    conn,
                    self.f,
                    key=f"notice/bounce/{nid}/{address}",
                    network_id=nid,
                    topic="bounce",
                    now=now,
                    values={"address": address, "reason": c.reason[:300]},
                )
        self.on_queued()
        return Disposition("bounce", c.reason, attention=c.attention)

    async def _attention(
        self,
        conn: AsyncConnection,
        c: Classification,
        inbox_id: int,
        network_id: int | None = None,
        *,
        reason: str = "",
    ) -> None:
        nid = (
            network_id
            if network_id is not None
            else (c.candidate.network_id if c.candidate else None)
        )
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
            and h.dmarc_result(msg, self.f.settings.authserv_id or self.f.settings.imap_host)
            != "fail"
        )
        if not verified:
            return None  # classify decides: it will be put aside for a person
        people = views.roll_call(net)
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
                member = reg.member(people[i - 1].email)
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
