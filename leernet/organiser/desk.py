"""Organisers start a network by mail: request -> preview to them -> START by reply -> started.

Runs inside the inbox processor, before classification, for two kinds of mail:

* **a request**: sent to the plain service address (no reply token) with a
  network file (``*.toml``) attached. It counts only when its sender is named in
  ``LEERNET_ORGANISERS`` and our mail server's DMARC verdict is not a fail, and
  it never acts by itself: the organiser gets a preview (the network as
  understood, every problem, the invite as a participant will get it) whose
  Reply-To carries a fresh token. A spoofed request therefore yields at most one
  preview in the real organiser's mailbox, and previews per sender are limited.
* **a confirmation**: a reply carrying a preview's token, from that organiser,
  within ``PREVIEW_VALID``, whose first line is START (ja/yes/oui). It registers
  the network and queues the invites and manager notes exactly as
  ``leernet start``; the request is claimed in the same transaction, so a replay
  or a second confirmation starts nothing. An expired or used preview, or any
  other answer, gets a fresh preview instead.

A sender that may not start networks never gets an answer (no backscatter): the
mail is set aside and logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.mailer import headers as h
from leernet.mailer.compose import Attachment
from leernet.mailer.disposition import Disposition
from leernet.mailer.queue import Outgoing, enqueue
from leernet.messages import keys, organiser_views
from leernet.messages.factory import Factory
from leernet.messages.kinds import Kind
from leernet.network.model import Network, Person, no_network
from leernet.network.model import language as as_language
from leernet.organiser.change_desk import ChangeDesk
from leernet.organiser.commands import start_messages
from leernet.organiser.drafts import is_cancel, is_request, provisional, understand
from leernet.organiser.intake.accept import accept_reply
from leernet.organiser.intake.findings import Level
from leernet.organiser.intake.network_file import from_request
from leernet.organiser.intake.participant_list import read_participant_list
from leernet.organiser.intake.request import OrganiserRequest, request_of
from leernet.organiser.intake.words import command, confirms
from leernet.organiser.status_mail import StatusDesk
from leernet.records import networks, registration, requests
from leernet.records.networks import Registered
from leernet.replies.mailtext import reply_text
from leernet.replies.processor import Processor

log = logging.getLogger("leernet.organiser")

PREVIEW_VALID = timedelta(days=7)
PREVIEWS_PER_DAY = 10  # per sender: a spoofed flood costs the real organiser at most this
_AUTOMATIC = re.compile(r"^(?!no\b)\S", re.IGNORECASE)


class Desk:
    """The organiser's desk in the inbox processor (see the module docstring)."""

    def __init__(self, factory: Factory, now: Callable[[], datetime]) -> None:
        self.f = factory
        self.settings = factory.settings
        self.now = now
        self.changes = ChangeDesk(factory, now)
        self.status = StatusDesk(factory, now)

    async def handle(
        self, conn: AsyncConnection, msg: Message, tokens: AbstractSet[str], inbox_id: int
    ) -> Disposition | None:
        """The disposition of an organiser's request or confirmation; None for other mail."""
        previewed = await requests.by_tokens(conn, tokens)
        if previewed:
            return await self._confirmation(conn, msg, previewed[0], inbox_id)
        request = request_of(msg)
        asked = command(request.subject, reply_text(msg), request.language or "nl")
        if asked is not None:
            answered = await self.status.answer(
                conn, msg, tokens, inbox_id, automatic=_is_automatic(msg)
            )
            if answered is not None:
                return answered
        if request.lists and not (request.calendars or request.network_files):
            listed = await self._list_again(conn, msg, tokens, request, inbox_id)
            if listed is not None:
                return listed
        if tokens:
            return None  # a reply to a participant's address: not a request
        return await self._request(conn, msg, request, inbox_id)

    async def _request(
        self, conn: AsyncConnection, msg: Message, request: OrganiserRequest, inbox_id: int
    ) -> Disposition | None:
        """A meeting series or a network file sent to the plain address: a start or a change."""
        invited = any(is_request(c) for c in request.calendars)
        cancelled = any(is_cancel(c) for c in request.calendars)
        if not (invited or cancelled or request.network_files):
            return None
        # Google Calendar sends the organiser's invitation as "Auto-Submitted: auto-generated":
        # that is still their request. Any other automatic mail is never one.
        if _is_automatic(msg) and not ((invited or cancelled) and not _is_bulk(msg)):
            return None
        sender, why = h.from_address(msg)
        if sender is None:
            return Disposition("organiser-refused", f"a request from {why}", attention=True)
        if request.calendars and not request.network_files:
            changed = await self._change(conn, msg, sender, request, inbox_id)
            if changed is not None:
                return changed
        if not invited and not request.network_files:
            return None  # a cancellation of a series we do not know: not ours
        if not self.settings.may_start_networks(sender):
            log.info(
                "a network request from %s, who is not in LEERNET_ORGANISERS: set aside, no answer",
                sender,
                extra={"event": "organiser-refused", "inbox_id": inbox_id},
            )
            return Disposition(
                "organiser-refused", f"{sender} may not start networks", attention=True
            )
        if not self._verified(msg):
            return Disposition(
                "rejected", f"a network request from {sender}: DMARC failed", attention=True
            )
        return await self._preview(conn, msg, sender, request, inbox_id)

    async def _change(
        self,
        conn: AsyncConnection,
        msg: Message,
        sender: str,
        request: OrganiserRequest,
        inbox_id: int,
    ) -> Disposition | None:
        """A change of a running network from its organiser's calendar; None when it is none.

        A network's own organiser may change it from their calendar (the series UID it
        was started from), whether or not they may start new ones.
        """
        changed = await self.changes.network_of(conn, sender, request.calendars[0])
        if changed is None:
            return None
        if not self._verified(msg):
            return Disposition("rejected", f"a change from {sender}: DMARC failed", attention=True)
        people = None
        if request.lists:
            first = request.lists[0]
            people = read_participant_list(first.filename, first.data)
        return await self.changes.preview(
            conn, msg, sender, changed, request.calendars[0], inbox_id, people
        )

    async def _list_again(
        self,
        conn: AsyncConnection,
        msg: Message,
        tokens: AbstractSet[str],
        request: OrganiserRequest,
        inbox_id: int,
    ) -> Disposition | None:
        """A participant list in reply to our mail about a network its sender organises."""
        sender, _ = h.from_address(msg)
        if sender is None or _is_automatic(msg):
            return None
        reg = await self.changes.network_of_reply(conn, sender, msg, tokens)
        if reg is None:
            return None
        if not self._verified(msg):
            return Disposition("rejected", f"a list from {sender}: DMARC failed", attention=True)
        first = request.lists[0]
        people = read_participant_list(first.filename, first.data)
        return await self.changes.list_preview(conn, msg, sender, reg, people, inbox_id)

    def _verified(self, msg: Message) -> bool:
        return h.dmarc_result(msg, self.settings.authserv_id) not in h.DMARC_REJECT

    async def _preview(
        self,
        conn: AsyncConnection,
        msg: Message,
        sender: str,
        request: OrganiserRequest | requests.Request,
        inbox_id: int,
    ) -> Disposition:
        """Read the request as ``leernet check`` would and show it to its organiser."""
        now = self.now()
        if await requests.recent_count(conn, sender, now - timedelta(days=1)) >= PREVIEWS_PER_DAY:
            log.warning(
                "preview rate limit reached for %s", sender, extra={"event": "rate-limited"}
            )
            return Disposition(
                "organiser-request", f"{sender}: too many requests today", attention=True
            )
        seen = await _understood(conn, request, now)
        network = seen.network
        can_start = network is not None and not seen.errors
        token = requests.new_token()
        request_id = await requests.save(
            conn,
            token=token,
            organiser_email=sender,
            slug=network.slug if network is not None else "",
            source=seen.source if can_start else "",
            calendar=seen.calendar,
            now=now,
            inbox_id=inbox_id,
        )
        language = network.language if network is not None else seen.language
        context = organiser_views.organiser_preview(
            network,
            organiser_name=network.organiser.name if network is not None else "",
            language=language,
            errors=seen.errors,
            warnings=seen.warnings,
            expires=now + PREVIEW_VALID if can_start else None,
        )
        attachments: tuple[Attachment, ...] = ()
        if can_start and network is not None and network.participants:
            reg = provisional(network, self.f.secret)
            invite = self.f.invite(reg, reg.members[0], now)
            attachments = (Attachment("uitnodiging.eml", "message/rfc822", invite.raw),)
        out = self.f.to_person(
            network or no_network(as_language(language)),
            None,
            Person(network.organiser.name if network is not None else "", sender),
            key=keys.organiser_preview(request_id),
            kind=Kind.ORGANISER_PREVIEW,
            context=context,
            now=now,
            token=token if can_start else None,
            in_reply_to=h.own_message_id(msg) or None,
            auto_submitted="auto-replied",
            attachments=attachments,
        )
        await enqueue(conn, [out], now)
        what = "ready to start" if can_start else f"{len(seen.errors)} problem(s)"
        return Disposition("organiser-request", f"preview to {sender}: {what}", attention=False)

    async def _confirmation(
        self, conn: AsyncConnection, msg: Message, request: requests.Request, inbox_id: int
    ) -> Disposition:
        sender, _ = h.from_address(msg)
        if sender is None or not h.same_mailbox(sender, request.organiser_email):
            return Disposition(
                "rejected", "a reply to an organiser's preview, not from them", attention=True
            )
        if not self._verified(msg) or _is_automatic(msg):
            return Disposition(
                "rejected", f"confirmation from {sender}: not verified", attention=True
            )
        now = self.now()
        fresh = now - request.created_at <= PREVIEW_VALID
        if request.network_id is not None and request.slug:
            if request.used or not fresh or not request.source or not confirms(reply_text(msg)):
                return Disposition(
                    "organiser-change", "not confirmed: nothing applied", attention=False
                )
            return await self.changes.apply(conn, msg, request, sender)
        if request.used or not fresh or not confirms(reply_text(msg)):
            # Never act on it: the organiser gets the network as it stands, to confirm anew.
            return await self._preview(conn, msg, sender, request, inbox_id)
        parsed = understand(request.source, now)
        network = parsed.network
        if network is None or parsed.errors or await networks.get(conn, network.slug) is not None:
            return await self._preview(conn, msg, sender, request, inbox_id)
        reg = await registration.register(conn, network, request.source, self.f.secret, now)
        if not await requests.claim(conn, request.id, now, reg.id):
            raise RuntimeError("claimed twice in one transaction")  # pragma: no cover
        messages = start_messages(self.f, reg, now)
        invites = len(reg.active_members)
        started = self._started(reg, msg, request, invites, len(messages) - invites, now)
        await enqueue(conn, [*messages, started], now)
        log.info("network %s started by mail", network.slug, extra={"event": "organiser-started"})
        return Disposition(
            "organiser-start",
            f"{network.slug} started by {sender}: {len(messages)} message(s) queued",
            attention=False,
            network_id=reg.id,
        )

    def _started(  # noqa: PLR0917 - one caller, the facts of one start
        self,
        reg: Registered,
        msg: Message,
        request: requests.Request,
        invites: int,
        notes: int,
        now: datetime,
    ) -> Outgoing:
        """The "started" mail; with the organiser's series, also our REPLY (ACCEPTED) to it."""
        net = reg.network
        reply = None
        if request.calendar:
            reply = accept_reply(
                request.calendar,
                attendee=self.settings.service_address,
                attendee_name=self.settings.service_name,
                now=now,
            )
        return self.f.to_person(
            net,
            reg.id,
            Person(net.organiser.name, net.organiser.email),
            key=keys.organiser_started(net.slug),
            kind=Kind.ORGANISER_STARTED,
            context=organiser_views.organiser_started(net, invites, notes),
            now=now,
            in_reply_to=h.own_message_id(msg) or None,
            auto_submitted="auto-replied",
            calendar=reply,
            method="REPLY",
        )


@dataclass(frozen=True, slots=True)
class _Seen:
    """A request as understood for its preview."""

    source: str
    network: Network | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    language: str
    calendar: bytes | None


async def _understood(
    conn: AsyncConnection, request: OrganiserRequest | requests.Request, now: datetime
) -> _Seen:
    """What the preview shows: a new request through the intake, a stored one as it was."""
    if isinstance(request, requests.Request):
        parsed = understand(request.source, now)
        errors = parsed.errors
        if parsed.network is not None and await networks.get(conn, parsed.network.slug):
            errors = (*errors, f"{parsed.network.slug!r}: this network has already started")
        language = parsed.network.language if parsed.network is not None else "nl"
        return _Seen(
            request.source, parsed.network, errors, parsed.warnings, language, request.calendar
        )
    slugs = set(await networks.slugs(conn))
    found = from_request(request, taken=slugs.__contains__, now=now)
    network = found.loaded.network if found.loaded is not None else found.draft
    return _Seen(
        found.source,
        network,
        tuple(found.texts(Level.ERROR)),
        tuple(found.texts(Level.WARNING)),
        found.language,
        request.calendars[0] if request.calendars and not request.network_files else None,
    )


def _is_bulk(msg: Message) -> bool:
    return h.header_text(msg, "Precedence").lower() in {"bulk", "junk", "list", "auto_reply"}


def _is_automatic(msg: Message) -> bool:
    auto = h.header_text(msg, "Auto-Submitted").split(";")[0].strip()
    return bool(auto and _AUTOMATIC.match(auto)) or _is_bulk(msg)


def _language(msg: Message) -> str:
    return "en" if h.header_text(msg, "Content-Language").lower().startswith("en") else "nl"


def inbox_processor(
    factory: Factory, now: Callable[[], datetime], on_queued: Callable[[], None] | None = None
) -> Processor:
    """The inbox's processor with this desk for organisers' own mail (the daemon's wiring)."""
    return Processor(factory, now, on_queued=on_queued, desk=Desk(factory, now))
