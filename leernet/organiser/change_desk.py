"""Changes from the organiser's calendar: an updated series or a cancellation, previewed, then applied.

A network started from a meeting series remembers that series (``remember``).
When its organiser moves, re-times or cancels an occurrence, or renames the
series, their client sends an updated REQUEST or a CANCEL to the service. It is
previewed to them in words; a reply START with that preview's token applies it
exactly as ``leernet update`` would (updated invites or cancellations to every
participant), once. Nobody but the network's own organiser can change it.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import datetime
from email.message import Message

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.mailer import headers as h
from leernet.mailer.disposition import Disposition
from leernet.mailer.queue import enqueue
from leernet.mailer.tokens import token_matches
from leernet.messages import keys, organiser_views
from leernet.messages.factory import Factory
from leernet.messages.kinds import Kind, Template
from leernet.network.model import Person
from leernet.organiser.commands import apply_update
from leernet.organiser.drafts import is_request, uid_of, understand
from leernet.organiser.intake.apply_change import apply_change
from leernet.organiser.intake.findings import Level, has_errors
from leernet.organiser.intake.list_change import compare_list, list_change_lines
from leernet.organiser.intake.network_file import with_list
from leernet.organiser.intake.participant_list import ParticipantList
from leernet.organiser.intake.preview_text import change_preview
from leernet.organiser.intake.remember import remembered, series_uid_of, stamp
from leernet.organiser.intake.series import read_series
from leernet.organiser.intake.series_change import read_change
from leernet.records import networks, requests, sent_mail
from leernet.records.networks import Registered

_LIST = {
    "nl": (
        "Dag {name},",
        "Je stuurde een nieuwe deelnemerslijst. Dit zou er veranderen:",
        (
            "Klopt dat? Antwoord op deze mail met JA. Wie erbij komt, krijgt een uitnodiging; wie "
            "niet meer op de lijst staat, krijgt een afmelding."
        ),
        "Pas de lijst aan en stuur ze opnieuw; er verandert nog niets.",
        "Nieuwe deelnemerslijst: {name}",
    ),
    "en": (
        "Hi {name},",
        "You sent a new participant list. This is what would change:",
        (
            "Is that right? Reply to this mail with YES. Who joins gets an invitation; who is no "
            "longer on the list gets a cancellation."
        ),
        "Please correct the list and send it again; nothing changes yet.",
        "New participant list: {name}",
    ),
}
_CHANGE_DONE = {
    "nl": "Genoteerd: de wijziging is verwerkt; {n} bericht(en) aan deelnemers vertrekken.",
    "en": "Noted: the change is made; {n} message(s) to participants are on their way.",
}


class ChangeDesk:
    """Changes to running networks from their organisers' calendars (see the module docstring)."""

    def __init__(self, factory: Factory, now: Callable[[], datetime]) -> None:
        self.f = factory
        self.now = now

    async def network_of(
        self, conn: AsyncConnection, sender: str, calendar: bytes
    ) -> Registered | None:
        """The running network of ``sender`` that was started from this calendar's series."""
        uid = uid_of(calendar)
        if uid is None:
            return None
        for reg in await networks.organised_by(conn, sender):
            if series_uid_of(await networks.source_of(conn, reg.id)) == uid:
                return reg
        return None

    async def preview(  # noqa: PLR0917 - one caller, the facts of one change
        self,
        conn: AsyncConnection,
        msg: Message,
        sender: str,
        reg: Registered,
        calendar: bytes,
        inbox_id: int,
        people: ParticipantList | None = None,
    ) -> Disposition:
        """A change from the organiser's calendar, in words, to confirm before anyone hears of it.

        With ``people`` (a list sent along with an unchanged series) the list is previewed.
        """
        source = await networks.source_of(conn, reg.id)
        known = remembered(source, reg.network)
        if known is None:
            return Disposition("organiser-change", "no series remembered", attention=True)
        change = read_change(known, calendar)
        if (change.stale or change.empty) and people is not None:
            # The same series again with a list: the list is what changed.
            return await self.list_preview(conn, msg, sender, reg, people, inbox_id)
        if change.stale or change.empty:
            # An older or unchanged copy of the series (clients resend): nothing to do.
            return Disposition("organiser-change", f"{reg.slug}: nothing changed", attention=False)
        new = read_series(calendar).series if is_request(calendar) else None
        new_source, findings = apply_change(source, known, change, new)
        preview = change_preview(change, reg.network, organiser_name=reg.network.organiser.name)
        can_apply = preview.ok and not has_errors(findings)
        lang = reg.network.language
        lines = [*preview.lines, *(f"- {f.text(lang)}" for f in findings)]
        return await self._ask(
            conn, msg, sender, reg, subject=preview.subject, lines=lines,
            source=new_source if can_apply else "", inbox_id=inbox_id,
        )  # fmt: skip

    async def list_preview(  # noqa: PLR0917 - one caller, the facts of one list
        self,
        conn: AsyncConnection,
        msg: Message,
        sender: str,
        reg: Registered,
        people: ParticipantList,
        inbox_id: int,
    ) -> Disposition:
        """A participant list sent again: joins, leaves and changed details, to confirm."""
        change = compare_list(reg.network, people)
        if change.empty and not people.findings:
            return Disposition(
                "organiser-change", f"{reg.slug}: the list is the same", attention=False
            )
        source = await networks.source_of(conn, reg.id)
        found = with_list(source, people, now=self.now())
        known = remembered(source, reg.network)  # keep the series stamp for later changes
        new_source = stamp(found.source, known) if known is not None else found.source
        lang = reg.network.language
        w = _LIST[lang]
        lines = [
            w[0].format(name=reg.network.organiser.name.split(" ")[0]),
            "",
            w[1],
            "",
            *(f"- {line}" for line in list_change_lines(change, lang)),
            *(f"- {text}" for text in found.texts(Level.ERROR)),
            "",
            w[2] if found.ok else w[3],
        ]
        return await self._ask(
            conn, msg, sender, reg, subject=w[4].format(name=reg.network.name), lines=lines,
            source=new_source if found.ok else "", inbox_id=inbox_id,
        )  # fmt: skip

    async def _ask(
        self,
        conn: AsyncConnection,
        msg: Message,
        sender: str,
        reg: Registered,
        *,
        subject: str,
        lines: list[str],
        source: str,
        inbox_id: int,
    ) -> Disposition:
        """Keep the change and ask the organiser to confirm it.

        ``source`` is the network file it makes ("" when it cannot be made); only the
        organiser's reply with its token applies it.
        """
        now = self.now()
        token = requests.new_token()
        request_id = await requests.save(
            conn,
            token=token,
            organiser_email=sender,
            slug=reg.slug,
            source=source,
            calendar=None,
            now=now,
            inbox_id=inbox_id,
            network_id=reg.id,
        )
        out = self.f.to_person(
            reg.network,
            reg.id,
            Person(reg.network.organiser.name, sender),
            key=keys.organiser_preview(request_id),
            kind=Kind.ORGANISER_PREVIEW,
            template=Template.ORGANISER_LINES,
            context=organiser_views.organiser_lines(reg.network, subject, lines),
            now=now,
            token=token if source else None,
            in_reply_to=h.own_message_id(msg) or None,
            auto_submitted="auto-replied",
        )
        await enqueue(conn, [out], now)
        return Disposition(
            "organiser-change",
            f"{reg.slug}: change previewed to {sender}",
            attention=False,
            network_id=reg.id,
        )

    async def network_of_reply(
        self, conn: AsyncConnection, sender: str, msg: Message, tokens: AbstractSet[str]
    ) -> Registered | None:
        """The network of ``sender`` this mail answers: their token, or a mail of ours it cites."""
        theirs = await networks.organised_by(conn, sender)
        for reg in theirs:
            if any(token_matches(self.f.secret, reg.slug, sender, tok) for tok in tokens):
                return reg
        refs = h.message_ids(msg)[:50]
        if not refs or not theirs:
            return None
        cited = await sent_mail.networks_cited(conn, refs)
        return next((reg for reg in theirs if reg.id in cited), None)

    async def apply(
        self, conn: AsyncConnection, msg: Message, request: requests.Request, sender: str
    ) -> Disposition:
        """A confirmed change: applied exactly as ``leernet update`` applies it, once."""
        now = self.now()
        reg = await networks.get_by_id(conn, request.network_id or 0)
        parsed = understand(request.source, now)
        if reg is None or parsed.network is None or parsed.errors:
            return Disposition(
                "organiser-change", "the change can no longer be applied", attention=True
            )
        if not await requests.claim(conn, request.id, now, reg.id):
            raise RuntimeError("claimed twice in one transaction")  # pragma: no cover
        updated = await apply_update(
            conn, self.f, reg, parsed.network, source=request.source, now=now
        )
        sentences = updated.sentences if updated is not None else []
        lang = reg.network.language
        done = _CHANGE_DONE[lang].format(n=len(updated.messages) if updated else 0)
        note = self.f.to_person(
            reg.network,
            reg.id,
            Person(reg.network.organiser.name, sender),
            key=keys.organiser_changed(request.id),
            kind=Kind.ORGANISER_CHANGED,
            context=organiser_views.organiser_lines(reg.network, done, [done, "", *sentences]),
            now=now,
            in_reply_to=h.own_message_id(msg) or None,
            auto_submitted="auto-replied",
        )
        await enqueue(conn, [*(updated.messages if updated else []), note], now)
        return Disposition(
            "organiser-change",
            f"{reg.slug}: change applied, {len(sentences)} change(s)",
            attention=False,
            network_id=reg.id,
        )
