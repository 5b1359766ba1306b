"""The inbox's processor: one archived mail -> classify -> record -> replies and notices.

Runs inside the inbox's transaction for that mail (``mailer.inbox.Processor``),
so a mail's effect and its archive row commit together. Nothing is ever sent
to an unverified sender or in answer to an automatic message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.errors import ParseError
from leernet.mailer import headers as h
from leernet.mailer.disposition import Disposition
from leernet.mailer.queue import enqueue
from leernet.mailer.tokens import token_from_address
from leernet.messages import keys
from leernet.messages.factory import Factory
from leernet.messages.kinds import Kind
from leernet.messages.notices import notify, set_aside
from leernet.messages.notices import text as notices_text
from leernet.records import networks, record, sent_mail
from leernet.records.lookups import Candidate, candidates_by_token, sent_messages
from leernet.records.networks import Member, Registered
from leernet.replies.bounce import bounce
from leernet.replies.classify import Classification, Context, Outcome, classify, read_message
from leernet.replies.dsn import returned_message_ids
from leernet.replies.evaluation import evaluation
from leernet.replies.rollcall import rollcall as rollcall_reply
from leernet.replies.rsvp import rsvp
from leernet.replies.strangers import StrangerDigests, stranger_of

log = logging.getLogger("leernet.process")


class OrganiserDesk(Protocol):
    """Where an organiser's own mail goes (``organiser.desk.Desk``, given by the daemon)."""

    async def handle(
        self, conn: AsyncConnection, msg: Message, tokens: AbstractSet[str], inbox_id: int
    ) -> Disposition | None:
        """The mail's disposition when it is an organiser's; ``None`` when it is not."""
        ...


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


_ANSWERS = (Kind.CONFIRMATION, Kind.ANSWER_AGAIN)  # automatic answers, rate-limited together
_ORGANISERS_FOR = timedelta(minutes=1)  # organisers' addresses are read again after this
_MAX_REFS = 50  # Message-IDs of one mail looked up (References can be long)


class Processor:
    """Callable as the inbox's processor; ``on_queued`` wakes the sender."""

    def __init__(
        self,
        factory: Factory,
        now: Callable[[], datetime],
        on_queued: Callable[[], None] | None = None,
        desk: OrganiserDesk | None = None,
    ) -> None:
        self.f = factory
        self.now = now
        self.on_queued = on_queued or (lambda: None)
        self.service = factory.settings.service_address
        self._organiser_cache: tuple[datetime, frozenset[str]] | None = None
        self.desk = desk  # organiser mail; without one it is a stranger's
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
            await candidates_by_token(conn, tokens, self.service),
            await sent_messages(conn, sorted(refs), self.service),
            {},
        )

    def finish(self) -> None:
        """Forget the batch's lookups."""
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
        """Process one archived mail in the inbox's transaction; what to record."""
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
            by_token = await candidates_by_token(conn, tokens, self.service)
            sent = await sent_messages(conn, refs, self.service)
        found = sent  # with the mail a bounce returns, for classify's bounce check only
        sent = {mid: sent[mid] for mid in one.refs if mid in sent}  # what it answers
        # An organiser's request (to the plain address) or their reply to a preview (a
        # token that is no participant's): only then does the desk look anything up.
        if self.desk is not None and (not tokens or not tokens <= by_token.keys()):
            desk = await self.desk.handle(conn, msg, tokens - by_token.keys(), inbox_id)
            if desk is not None:
                self.on_queued()
                return desk
        rollcall = await rollcall_reply(self, conn, msg, tokens, sent, inbox_id)
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
            Outcome.RSVP: rsvp,
            Outcome.EVALUATION: evaluation,
            Outcome.BOUNCE: bounce,
        }.get(c.outcome)
        if c.candidate is not None and c.outcome in (Outcome.RSVP, Outcome.EVALUATION):
            await self._reachable(conn, c.candidate)
        if handler is not None:
            return await handler(self, conn, Mail(inbox_id, msg, c, sent))
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
        now = self.now()
        if self._organiser_cache is None or now - self._organiser_cache[0] > _ORGANISERS_FOR:
            self._organiser_cache = (now, await networks.organiser_addresses(conn))
        return self._organiser_cache[1]

    async def _registered(self, conn: AsyncConnection, network_id: int) -> Registered:
        """A network as registered; read once per batch (a bounce in the batch reads it again)."""
        batch = self._batch
        reg = batch.registered.get(network_id) if batch is not None else None
        if reg is None:
            reg = await networks.get_by_id(conn, network_id)
            assert reg is not None  # a candidate's network exists in this transaction
            if batch is not None:
                batch.registered[network_id] = reg
        return reg

    # -- what each kind of mail does --------------------------------------------------

    async def _forward(
        self, conn: AsyncConnection, mail: Mail, network_id: int, member: Member, lines: list[str]
    ) -> None:
        """A participant's own words for the organiser (a "message" notice; never answered)."""
        await notify(
            conn,
            self.f,
            key=keys.notice("message", mail.inbox_id),
            network_id=network_id,
            about_inbox_id=mail.inbox_id,
            topic="message",
            now=self.now(),
            values={"name": member.name, "subject": mail.c.subject[:120], "address": member.email},
            details=lines,
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
        kind: Kind,
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
            key=keys.answer(kind, reg.slug, number, member.email, mail.inbox_id),
            kind=kind,
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
        count = await sent_mail.count_since(conn, address, _ANSWERS, since)
        if count >= self.f.settings.confirmations_per_hour:
            log.warning("confirmation rate limit reached", extra={"event": "rate-limited"})
            return False
        return True

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
                key=keys.notice("meeting", inbox_id),
                network_id=nid,
                about_inbox_id=inbox_id,
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
        await set_aside(
            conn,
            self.f,
            inbox_id=inbox_id,
            network_id=nid,
            sender=c.from_address,
            subject=c.subject,
            reason=reason or c.reason,
            now=self.now(),
        )
        self.on_queued()
