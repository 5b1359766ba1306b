"""Notices to the organiser: a mail put aside, a bounce, a message that will not be delivered.

A notice says what happened, why, and what to do, in the network's language.
It never carries the body of the mail it is about (only sender, subject, reason).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.mailer.queue import FailedMessage, OnFailure, Outgoing, enqueue
from leernet.messages import keys, organiser_views
from leernet.messages.factory import Factory
from leernet.messages.kinds import Kind
from leernet.network.defaults import questions
from leernet.network.model import Network, Person, no_network
from leernet.network.model import language as as_language
from leernet.records import networks

_TEXT = {
    "nl": {
        "attention.title": "Een mail vraagt je aandacht",
        "attention.what": "De dienst kreeg een mail van {sender} (onderwerp volgens de afzender: «{subject}») die ze niet zelf kon verwerken.",
        "attention.todo": "Bekijk de mail in de map '{folder}' van de dienstmailbox. Hoort ze bij een deelnemer, verwerk ze dan zelf of vraag de deelnemer om opnieuw te antwoorden. Er is niets naar de afzender gestuurd.",
        "bounce.title": "Een mail kon niet bezorgd worden",
        "bounce.what": "Een mail aan {address} kwam terug als onbestelbaar.",
        "bounce.todo": "Controleer het adres. Pas het aan in het netwerkbestand en voer 'leernet update' uit; tot dan krijgt dit adres niets meer.",
        "failed.title": "Een bericht is niet verstuurd",
        "failed.what": "Het bericht '{kind}' aan {address} kon niet verstuurd worden.",
        "failed.todo": "Controleer het adres en de instellingen van de mailserver. Het bericht wordt niet opnieuw geprobeerd. Lukt het vandaag ook voor andere berichten niet, dan krijg je daar geen aparte mail over: 'leernet status {slug}' toont elk bericht dat niet vertrokken is.",
        "mailbox.title": "De dienstmailbox weigert de aanmelding",
        "mailbox.what": "leernet kan niet aanmelden op de mailbox {mailbox}: de server zegt nee.",
        "mailbox.todo": "Controleer het wachtwoord of het token (LEERNET_IMAP_PASSWORD) en herstart de dienst. Antwoorden blijven intussen veilig in de mailbox staan; er gaat niets verloren. Je krijgt deze melding één keer per storing.",
        "message.title": "{name} stuurde een bericht",
        "message.what": "{name} antwoordde op een mail van het netwerk (onderwerp: {subject}). Het antwoord is geen evaluatie; je leest het hieronder.",
        "message.todo": "Antwoord {name} rechtstreeks als dat nodig is ({address}).",
        "meeting.title": "{name} antwoordde op de uitnodiging vanuit Outlook",
        "meeting.what": "{name} beantwoordde de uitnodiging ({answer}), maar Outlook stuurde het antwoord zonder agenda-bijlage die leernet kan lezen. Daarom is het niet genoteerd. Er is niets teruggestuurd.",
        "meeting.todo": "Vraag {name} ({address}) om de uitnodiging nog eens te beantwoorden vanuit de agenda, of hou het antwoord zelf bij. De mail staat in de map '{folder}'.",
        "meeting.accepted": "komt",
        "meeting.declined": "komt niet",
        "meeting.tentative": "misschien",
        "meeting.unknown": "antwoord niet leesbaar",
        "strangers.title": "Mails die de dienst niet kon nagaan",
        "strangers.what": "Sinds {since} kwamen er {count} mail(s) binnen van {senders} afzender(s) die de dienst niet als deelnemer kon herkennen. Ze staan in de map '{folder}' van de dienstmailbox. Er is niets naar de afzenders gestuurd.",
        "strangers.todo": "Meestal hoef je niets te doen. Wacht je op een antwoord van een deelnemer, kijk dan in de map en verwerk het zelf. Open geen links of bijlagen uit die mails: wat hieronder staat, schreef de afzender, niet leernet. Je krijgt hierover hoogstens één mail per dag.",
        "strangers.unknown": "{n} zonder antwoordadres of verwijzing naar een mail van het netwerk",
        "strangers.rejected": "{n} waarvan de afzender niet overeenkomt met de deelnemer (mogelijk vervalst)",
        "strangers.line": "afzender volgens de mail: {sender}; onderwerp volgens de afzender: «{subject}»",
        "strangers.more": "en nog {n} andere",
    },
    "en": {
        "attention.title": "A mail needs your attention",
        "attention.what": "The service received a mail from {sender} (subject according to the sender: «{subject}») that it could not handle by itself.",
        "attention.todo": "Look at it in the folder '{folder}' of the service mailbox. If it belongs to a participant, handle it yourself or ask them to answer again. Nothing was sent to the sender.",
        "bounce.title": "A mail could not be delivered",
        "bounce.what": "A mail to {address} came back as undeliverable.",
        "bounce.todo": "Check the address. Correct it in the network file and run 'leernet update'; until then this address gets nothing more.",
        "failed.title": "A message was not sent",
        "failed.what": "The message '{kind}' to {address} could not be sent.",
        "failed.todo": "Check the address and the mail server settings. The message will not be tried again. If more messages fail today you get no separate mail for each: 'leernet status {slug}' lists every message that was not sent.",
        "mailbox.title": "The service mailbox refuses the login",
        "mailbox.what": "leernet cannot log in to the mailbox {mailbox}: the server says no.",
        "mailbox.todo": "Check the password or token (LEERNET_IMAP_PASSWORD) and restart the service. Replies wait safely in the mailbox meanwhile; nothing is lost. You get this notice once per outage.",
        "message.title": "{name} sent a message",
        "message.what": "{name} replied to a mail of the network (subject: {subject}). It is not an evaluation; you can read it below.",
        "message.todo": "Answer {name} directly if needed ({address}).",
        "meeting.title": "{name} answered the invitation from Outlook",
        "meeting.what": "{name} answered the invitation ({answer}), but Outlook sent the answer without a calendar part that leernet can read. So it was not recorded. Nothing was sent back.",
        "meeting.todo": "Ask {name} ({address}) to answer the invitation again from their calendar, or keep track of the answer yourself. The mail is in the folder '{folder}'.",
        "meeting.accepted": "attending",
        "meeting.declined": "not attending",
        "meeting.tentative": "maybe",
        "meeting.unknown": "answer not readable",
        "strangers.title": "Mail the service could not verify",
        "strangers.what": "Since {since}, {count} mail(s) arrived from {senders} sender(s) that the service could not recognise as participants. They are in the folder '{folder}' of the service mailbox. Nothing was sent to the senders.",
        "strangers.todo": "Usually there is nothing to do. If you are waiting for a participant's answer, look in the folder and handle it yourself. Do not open links or attachments from these mails: what follows was written by the sender, not by leernet. You get at most one such mail a day.",
        "strangers.unknown": "{n} without a reply address or reference to a mail of the network",
        "strangers.rejected": "{n} whose sender does not match the participant (possibly forged)",
        "strangers.line": "sender according to the mail: {sender}; subject according to the sender: «{subject}»",
        "strangers.more": "and {n} more",
    },
}


# What the organiser calls each kind of message (a failure notice names it, not our key).
_KIND_NAMES = {
    "nl": {
        "invite": "uitnodiging",
        "invite-update": "gewijzigde uitnodiging",
        "cancel": "annulering",
        "manager-start": "startbericht aan de leidinggevende",
        "reminder": "herinnering",
        "low-acceptance": "waarschuwing weinig bevestigingen",
        "eval-request": "evaluatievraag",
        "eval-reminder": "herinnering aan de evaluatie",
        "digest": "overzicht na de sessie",
        "closing": "afsluitende terugblik",
        "manager-summary": "samenvatting voor de leidinggevende",
        "confirmation": "bevestiging",
        "answer-again": "vraag om opnieuw te antwoorden",
        "rollcall-recorded": "bevestiging van de aanwezigheden",
    },
    "en": {
        "invite": "invitation",
        "invite-update": "updated invitation",
        "cancel": "cancellation",
        "manager-start": "start note to the manager",
        "reminder": "reminder",
        "low-acceptance": "low-acceptance warning",
        "eval-request": "evaluation request",
        "eval-reminder": "evaluation reminder",
        "digest": "session digest",
        "closing": "closing reflection",
        "manager-summary": "summary for the manager",
        "confirmation": "confirmation",
        "answer-again": "request to answer again",
        "rollcall-recorded": "roll call confirmation",
    },
}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_SCHEME = re.compile(r"\b(ht|f)tp(s?)://", re.IGNORECASE)
_DOTTED = re.compile(r"(?<=\w)\.(?=\w)")
_MAX_QUOTE = 80


def defuse(value: str, limit: int = _MAX_QUOTE) -> str:
    """A stranger's words made inert: no control or bidi characters, no link a client would open.

    ``https://x.be`` becomes ``hxxps[:]//x[.]be`` and ``a@b.be`` becomes ``a[at]b[.]be``:
    readable, but neither text nor HTML clients autolink them.
    """
    text = " ".join(_CONTROL.sub(" ", value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _SCHEME.sub(
        lambda m: ("hxxp" if m.group(1).lower() == "ht" else "fxp") + m.group(2) + "://", text
    )
    text = text.replace("://", "[:]//").replace("@", "[at]")  # any other scheme too (sftp://)
    return _DOTTED.sub("[.]", text).replace("«", '"').replace("»", '"')


def _t(language: str, key: str, **values: object) -> str:
    lang = as_language(language)
    if "kind" in values:
        values["kind"] = _KIND_NAMES[lang].get(str(values["kind"]), str(values["kind"]))
    return _TEXT[lang][key].format(**values)


log = logging.getLogger("leernet.notices")

_RECENT = timedelta(days=90)
# Without LEERNET_ADMIN_ADDRESS, mail that belongs to no network is told to the organisers
# of running networks only when they are this few (one team, not a sector fund).
MAX_ORGANISERS_TOLD = 3
_WARN_EVERY = timedelta(hours=1)


async def _recipients(
    conn: AsyncConnection, factory: Factory, network_id: int | None, now: datetime
) -> list[tuple[Network | None, int | None, Person]]:
    if network_id is not None:
        reg = await networks.get_by_id(conn, network_id)
        if reg is not None:
            org = reg.network.organiser
            return [(reg.network, reg.id, Person(org.name, org.email))]
    if factory.settings.admin_address:
        return [(None, None, Person("", factory.settings.admin_address))]
    # The organisers of networks still running or recently ended; else of any network kept.
    rows = await networks.organisers_since(conn, now - _RECENT)
    # One network per organiser is read (a sector fund has hundreds, a few organisers).
    first: dict[str, int] = {}
    for nid, email in rows:
        first.setdefault(email.lower(), nid)
    if len(first) > MAX_ORGANISERS_TOLD:
        # A stranger's subject line is no business of the organiser of every other network,
        # and 250 notices per stray mail would be spam: the mail stays in the attention
        # folder and the log says who should hear about it.
        last = factory.no_admin_warned_at
        if last is None or now - last > _WARN_EVERY:  # once an hour, not once a mail
            factory.no_admin_warned_at = now
            log.warning(
                "mail that belongs to no network is kept in the attention folder, but %d"
                " organisers run networks: set LEERNET_ADMIN_ADDRESS to hear about it",
                len(first),
                extra={"event": "notice.no-admin"},
            )
        return []
    out: list[tuple[Network | None, int | None, Person]] = []
    for nid in first.values():
        reg = await networks.get_by_id(conn, nid)
        if reg is not None:
            org = reg.network.organiser
            out.append((reg.network, reg.id, Person(org.name, org.email)))
    return out


async def notify(
    conn: AsyncConnection,
    factory: Factory,
    *,
    key: str,
    network_id: int | None,
    topic: str,
    now: datetime,
    values: dict[str, object] | Callable[[str], dict[str, object]],
    details: Sequence[str] = (),
    about_inbox_id: int | None = None,
) -> int:
    """Queue one notice per organiser concerned; ``key`` makes it once-only.

    ``about_inbox_id``: the incoming mail it quotes or names (erasing its sender blanks it).
    """
    messages = await compose(
        conn,
        factory,
        key=key,
        network_id=network_id,
        topic=topic,
        now=now,
        values=values,
        details=details,
    )
    if about_inbox_id is not None:
        messages = [replace(m, about_inbox_id=about_inbox_id) for m in messages]
    return await enqueue(conn, messages, now)


def text(language: str, key: str, **values: object) -> str:
    """A notice's text ``key`` (e.g. ``strangers.line``) in ``language``, filled in."""
    return _t(language, key, **values)


async def set_aside(
    conn: AsyncConnection,
    factory: Factory,
    *,
    inbox_id: int,
    network_id: int | None,
    sender: str,
    subject: str,
    reason: str,
    now: datetime,
) -> int:
    """Tell the organiser a mail from a known sender waits in the needs-attention folder."""
    return await notify(
        conn,
        factory,
        key=keys.notice("attention", inbox_id),
        network_id=network_id,
        about_inbox_id=inbox_id,
        topic="attention",
        now=now,
        values={
            "sender": sender[:200] or "?",
            "subject": subject[:200] or "-",
            "folder": factory.settings.imap_attention_folder,
            "reason": reason[:500],
        },
    )


async def compose(
    conn: AsyncConnection,
    factory: Factory,
    *,
    key: str,
    network_id: int | None,
    topic: str,
    now: datetime,
    values: dict[str, object] | Callable[[str], dict[str, object]],
    details: Sequence[str] | Callable[[str], Sequence[str]] = (),
) -> list[Outgoing]:
    """One notice per organiser concerned, composed, not queued (``notify`` queues them).

    ``values`` and ``details`` may be functions of the recipient's language.
    """
    messages: list[Outgoing] = []
    for network, nid, person in await _recipients(conn, factory, network_id, now):
        lang = network.language if network is not None else "nl"
        given = values(lang) if callable(values) else values
        lines = details(lang) if callable(details) else details
        if topic == "attention":  # whoever sent it, its subject is the sender's words
            given = {**given, "subject": defuse(str(given.get("subject", "")), 120) or "-"}
        # Every text may name the network for a command ('leernet status {slug}').
        texts = {"slug": network.slug if network is not None else "SLUG", **given}
        context = organiser_views.notice(
            network,
            title=_t(lang, f"{topic}.title", **texts),
            what_happened=_t(lang, f"{topic}.what", **texts),
            why=str(given.get("reason", "")),
            what_to_do=_t(lang, f"{topic}.todo", **texts),
            details=lines,
            recipient_name=person.name,
            language=lang,
        )
        template_net = network or no_network(lang, questions(lang))
        messages.append(
            factory.to_person(
                template_net,
                nid,
                person,
                key=keys.recipient(key, person.email),
                kind=Kind.NOTICE,
                context=context,
                now=now,
            )
        )
    return messages


def failure_notifier(factory: Factory, now_fn: Callable[[], datetime]) -> OnFailure:
    """The outbox's ``on_failure``: the first failure of a day tells the network's organiser.

    One notice per network and day, not one per message: a server that was down
    beyond the give-up period fails every queued message at once, and 500
    notices help nobody. ``leernet status`` lists every message not sent.
    """

    async def on_failure(conn: AsyncConnection, failed: FailedMessage) -> None:
        if failed.kind == Kind.NOTICE:
            return  # a notice that cannot reach the organiser is recorded, never reported (no loops)
        now = now_fn()
        await notify(
            conn,
            factory,
            key=keys.notice("failed", failed.network_id or "-", f"{now:%Y-%m-%d}"),
            network_id=failed.network_id,
            topic="failed",
            now=now,
            values={
                "kind": failed.kind,
                "address": failed.recipient,
                "reason": f"{failed.code or ''} {failed.reason}".strip(),
            },
        )

    return on_failure
