"""`status` or `export` by mail: the organiser's network as ``leernet status`` shows it.

The mail goes to the network's organiser only (the caller has verified that the
asker is that organiser). It carries the same facts as ``leernet status`` in
words, and the export as ``.xlsx`` and ``.csv``: the same rows as ``leernet
export`` and nothing more (shared and private answers split as in the CSV).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta
from email.message import Message

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.mailer import headers as h
from leernet.mailer.compose import Attachment
from leernet.mailer.disposition import Disposition
from leernet.mailer.queue import Outgoing, enqueue
from leernet.mailer.tokens import token_matches
from leernet.messages import keys, organiser_views, views
from leernet.messages.factory import Factory
from leernet.messages.kinds import Kind, Template
from leernet.messages.textfmt import decimal
from leernet.network.model import Person
from leernet.organiser import report
from leernet.organiser.export_xlsx import export_xlsx
from leernet.records import networks, sent_mail
from leernet.records.networks import Registered
from leernet.replies.mailtext import reply_text

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS_PER_HOUR = 6  # status mails to one organiser: enough to ask, too few to flood
MAX_STATUS_NETWORKS = 10


class StatusDesk:
    """``status``/``export`` by mail, for the organiser of a running network only."""

    def __init__(self, factory: Factory, now: Callable[[], datetime]) -> None:
        self.f = factory
        self.now = now

    async def answer(
        self,
        conn: AsyncConnection,
        msg: Message,
        tokens: AbstractSet[str],
        inbox_id: int,
        *,
        automatic: bool,
    ) -> Disposition | None:
        """``status``/``export`` from an organiser of a running network: the status, by mail.

        To the plain address, or in reply to a digest (their own token). From anyone
        else it is not a command (classification decides, and nobody is answered).
        """
        sender, _ = h.from_address(msg)
        if sender is None or automatic:
            return None
        theirs = await networks.organised_by(conn, sender)
        if tokens:
            theirs = [
                reg
                for reg in theirs
                if any(token_matches(self.f.secret, reg.slug, sender, tok) for tok in tokens)
            ]
        if not theirs:
            return None
        if h.dmarc_result(msg, self.f.settings.authserv_id) in h.DMARC_REJECT:
            return Disposition(
                "rejected", f"status asked by {sender}: DMARC failed", attention=True
            )
        now = self.now()
        since = now - timedelta(hours=1)
        if await sent_mail.count_since(conn, sender, [Kind.ORGANISER_STATUS], since) >= (
            STATUS_PER_HOUR
        ):
            return Disposition(
                "organiser-status", f"{sender}: status rate limit reached", attention=False
            )
        if len(theirs) > 1:
            named = _named(theirs, h.header_text(msg, "Subject"), reply_text(msg))
            theirs = named or theirs
        if len(theirs) != 1:
            return await self._which(conn, msg, sender, theirs, inbox_id, now)
        messages = [
            await status_mail(
                conn,
                self.f,
                reg,
                key=keys.organiser_status(reg.slug, inbox_id),
                in_reply_to=h.own_message_id(msg) or None,
                now=now,
            )
            for reg in theirs[:MAX_STATUS_NETWORKS]
        ]
        await enqueue(conn, messages, now)
        slugs = ", ".join(reg.slug for reg in theirs[:MAX_STATUS_NETWORKS])
        return Disposition(
            "organiser-status",
            f"status of {slugs} to {sender}",
            attention=False,
            network_id=theirs[0].id,
        )

    async def _which(  # noqa: PLR0917 - one caller, the facts of one question
        self,
        conn: AsyncConnection,
        msg: Message,
        sender: str,
        networks: list[Registered],
        inbox_id: int,
        now: datetime,
    ) -> Disposition:
        """Several networks and none named: the organiser is asked which one."""
        first = networks[0].network
        lang = first.language
        lines = [
            _WHICH[lang][0].format(name=first.organiser.name.split(" ")[0] or ""),
            "",
            _WHICH[lang][1],
            "",
            *(f"- {reg.network.name} ({reg.slug})" for reg in networks[:MAX_STATUS_NETWORKS]),
        ]
        out = self.f.to_person(
            first,
            None,
            Person(first.organiser.name, sender),
            key=keys.organiser_status(None, inbox_id),
            kind=Kind.ORGANISER_STATUS,
            template=Template.ORGANISER_LINES,
            context=organiser_views.organiser_lines(first, _WHICH[lang][2], lines),
            now=now,
            in_reply_to=h.own_message_id(msg) or None,
            auto_submitted="auto-replied",
        )
        await enqueue(conn, [out], now)
        return Disposition("organiser-status", f"{sender}: which network? asked", attention=False)


_WHICH = {
    "nl": (
        "Dag {name},",
        (
            "Je organiseert meer dan één lerend netwerk. Over welk wil je de stand van zaken? "
            'Antwoord met "status" en de naam of de code tussen haakjes:'
        ),
        "Over welk lerend netwerk?",
    ),
    "en": (
        "Hi {name},",
        (
            "You organise more than one learning network. Which one would you like the status "
            'of? Reply with "status" and its name or the code in brackets:'
        ),
        "Which learning network?",
    ),
}


def _named(networks: list[Registered], subject: str, body: str) -> list[Registered]:
    """The networks whose code (slug) or name the organiser's mail mentions."""
    text = f"{subject}\n{body[:4000]}".casefold()
    return [
        reg
        for reg in networks
        if reg.slug.casefold() in text or reg.network.name.casefold() in text
    ]


async def status_mail(
    conn: AsyncConnection,
    factory: Factory,
    reg: Registered,
    *,
    key: str,
    in_reply_to: str | None,
    now: datetime,
) -> Outgoing:
    """The status of ``reg`` for its organiser, with the export attached."""
    net = reg.network
    found = await report.status(conn, net.slug)
    sessions = []
    for summary in found.sessions:
        s = summary.session
        rating = summary.average_rating
        sessions.append(
            views.session_view(net, s)
            | {
                "accepted": summary.accepted,
                "declined": summary.declined,
                "no_answer": summary.no_answer + summary.tentative,
                "present": summary.present,
                "evaluations": summary.evaluations,
                "rating": decimal(rating, net.language) if rating is not None else "",
            }
        )
    people = [
        {"name": p.name or p.email, "marks": p.marks, "evaluations": p.evaluations}
        for p in found.people
    ]
    data = await report.export(conn, net.slug)
    org = net.organiser
    return factory.to_person(
        net,
        reg.id,
        Person(org.name, org.email),
        key=key,
        kind=Kind.ORGANISER_STATUS,
        context=organiser_views.organiser_status(net, sessions, people, len(found.not_sent)),
        now=now,
        in_reply_to=in_reply_to,
        auto_submitted="auto-replied",
        attachments=(
            Attachment(f"{net.slug}.xlsx", XLSX, export_xlsx(data, reg)),
            Attachment(f"{net.slug}.csv", "text/csv", report.export_csv(data, reg)),
        ),
    )
