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
from datetime import datetime
from email.message import Message

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet import registry
from leernet.build import Factory
from leernet.commands import apply_update
from leernet.mailer import headers as h
from leernet.mailer import views
from leernet.mailer.archive import Disposition
from leernet.mailer.outbox import enqueue
from leernet.model import Person
from leernet.organiser import pending
from leernet.organiser.apply_change import apply_change
from leernet.organiser.drafts import is_request, uid_of, understand
from leernet.organiser.findings import has_errors
from leernet.organiser.preview_text import change_preview
from leernet.organiser.remember import remembered, series_uid_of
from leernet.organiser.series import read_series
from leernet.organiser.series_change import read_change
from leernet.registry import Registered

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
        for reg in await registry.organised_by(conn, sender):
            if series_uid_of(await registry.source_of(conn, reg.id)) == uid:
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
    ) -> Disposition:
        """A change from the organiser's calendar, in words, to confirm before anyone hears of it."""
        source = await registry.source_of(conn, reg.id)
        known = remembered(source, reg.network)
        if known is None:
            return Disposition("organiser-change", "no series remembered", attention=True)
        change = read_change(known, calendar)
        if change.stale or change.empty:
            # An older or unchanged copy of the series (clients resend): nothing to do.
            return Disposition("organiser-change", f"{reg.slug}: nothing changed", attention=False)
        new = read_series(calendar).series if is_request(calendar) else None
        new_source, findings = apply_change(source, known, change, new)
        preview = change_preview(change, reg.network, organiser_name=reg.network.organiser.name)
        can_apply = preview.ok and not has_errors(findings)
        now = self.now()
        token = pending.new_token()
        request_id = await pending.save(
            conn,
            token=token,
            organiser_email=sender,
            slug=reg.slug,
            source=new_source if can_apply else "",
            calendar=None,
            now=now,
            inbox_id=inbox_id,
            network_id=reg.id,
        )
        lang = reg.network.language
        lines = [*preview.lines, *(f"- {f.text(lang)}" for f in findings)]
        out = self.f.to_person(
            reg.network,
            reg.id,
            Person(reg.network.organiser.name, sender),
            key=f"organiser-preview/{request_id}",
            kind="organiser-preview",
            template="organiser_lines",
            context=views.organiser_lines(reg.network, preview.subject, lines),
            now=now,
            token=token if can_apply else None,
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

    async def apply(
        self, conn: AsyncConnection, msg: Message, request: pending.Request, sender: str
    ) -> Disposition:
        """A confirmed change: applied exactly as ``leernet update`` applies it, once."""
        now = self.now()
        reg = await registry.get_by_id(conn, request.network_id or 0)
        parsed = understand(request.source, now)
        if reg is None or parsed.network is None or parsed.errors:
            return Disposition(
                "organiser-change", "the change can no longer be applied", attention=True
            )
        if not await pending.claim(conn, request.id, now, reg.id):
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
            key=f"organiser-changed/{request.id}",
            kind="organiser-changed",
            template="organiser_lines",
            context=views.organiser_lines(reg.network, done, [done, "", *sentences]),
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
