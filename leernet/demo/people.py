"""The simulated people of ``leernet demo``: what they send back, shaped like real clients.

Every function is pure: it takes the bytes a person received (ours) and returns
the raw bytes (CRLF, RFC 5322) of their answer; the Date and Message-ID are
arguments, so a demo run is the same every time. The shapes follow the
reply corpus in ``tests/data/replies`` (Outlook, Gmail, Apple, Thunderbird,
Exchange, Postfix); that knowledge is written out here, the package never
reads the tests.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from leernet.demo import shapes as s
from leernet.demo.answering import STYLES, absent_reply, evaluation_reply
from leernet.demo.calshapes import WRITERS, Answer, Invite, Occurrence, outlook_ics, read_invite
from leernet.demo.outsiders import bounce, out_of_office, stranger_mail
from leernet.demo.shapes import Received

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "CLIENTS",
    "STYLES",
    "absent_reply",
    "bounce",
    "calendar_reply",
    "evaluation_reply",
    "forwarded_accept",
    "out_of_office",
    "stranger_mail",
]

CLIENTS = ("outlook", "gmail", "apple", "thunderbird")
_WORDS = {  # subject prefix and the verb of the body text, per PARTSTAT and language
    "nl": {
        "ACCEPTED": ("Geaccepteerd", "geaccepteerd"),
        "DECLINED": ("Geweigerd", "geweigerd"),
        "TENTATIVE": ("Voorlopig", "voorlopig geaccepteerd"),
    },
    "en": {
        "ACCEPTED": ("Accepted", "accepted"),
        "DECLINED": ("Declined", "declined"),
        "TENTATIVE": ("Tentative", "tentatively accepted"),
    },
}


def calendar_reply(
    invite: bytes,
    *,
    partstat: str,
    client: str,
    session_slot: datetime | None = None,
    comment: str = "",
    date: datetime,
    message_id: str,
    language: str = "nl",
) -> bytes:
    """The participant's iTIP REPLY to the series (or to the occurrence at ``session_slot``)."""
    received, inv = read_invite(invite)
    return _calendar_mail(
        received, inv, inv.attendee, inv.attendee_name, partstat, client,
        session_slot, comment, date, message_id, language,
    )  # fmt: skip


def forwarded_accept(
    invite: bytes,
    colleague_email: str,
    *,
    colleague_name: str = "",
    client: str = "outlook",
    partstat: str = "ACCEPTED",
    date: datetime,
    message_id: str,
    language: str = "nl",
) -> bytes:
    """A colleague who got the invite forwarded answers it: the ATTENDEE is the colleague.

    Outlook and Gmail do this: the REPLY goes to the ORGANIZER (with the
    participant's token) but names the one who answered, not the invitee.
    """
    received, inv = read_invite(invite)
    name = colleague_name or _name_from(colleague_email)
    return _calendar_mail(
        received, inv, colleague_email, name, partstat, client,
        None, "", date, message_id, language, forwarded=True,
    )  # fmt: skip


def _name_from(addr: str) -> str:
    return " ".join(
        w.capitalize() for w in addr.split("@", maxsplit=1)[0].replace("_", ".").split(".")
    )


def _calendar_mail(  # noqa: PLR0917 - the two public entry points differ in who answers
    received: Received,
    inv: Invite,
    attendee: str,
    attendee_name: str,
    partstat: str,
    client: str,
    slot: datetime | None,
    comment: str,
    date: datetime,
    message_id: str,
    language: str,
    *,
    forwarded: bool = False,
) -> bytes:
    partstat = partstat.upper()
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; one of {', '.join(CLIENTS)}")
    if language not in _WORDS or partstat not in _WORDS[language]:
        raise ValueError(f"cannot write a {partstat!r} reply in {language!r}")
    prefix, verb = _WORDS[language][partstat]
    events: tuple[Occurrence, ...]
    if slot is not None:
        events = (inv.occurrence(slot),)
    elif client == "apple":  # Apple answers the master and every override in one REPLY
        events = (inv.master, *inv.overrides)
    else:
        events = (inv.master,)
    answer = Answer(partstat, attendee, attendee_name, comment, date, events)
    title = events[0].summary
    me = s.address(attendee_name, attendee)
    organizer = s.address(inv.organizer_name, inv.organizer)
    said = (
        f"{attendee_name} heeft deze uitnodiging {verb}."
        if language == "nl"
        else (f"{attendee_name} has {verb} this invitation.")
    )
    if comment:
        said += f"\n\n{comment}"
    seed = message_id
    if client == "outlook":
        subject = f"{prefix}: {title}"
        cal = outlook_ics(inv, answer, subject)
        headers = [
            f"From: {me}", f"To: {organizer}", s.subject_header(subject),
            f"Thread-Topic: {title}", f"Thread-Index: AQHb{s.token(seed, 'ti', 20)}==",
            s.date_header(date), f"Message-ID: {message_id}",
            *([] if forwarded else s.references(received)),
            "Accept-Language: nl-BE, en-US", "Content-Language: nl-BE",
            "X-MS-Has-Attach:", "X-MS-TNEF-Correlator:", "X-Mailer: Microsoft Outlook 16.0",
            "MIME-Version: 1.0",
        ]  # fmt: skip
        body = comment + "\r\n" if comment else "\r\n"
        entity = s.multipart("alternative", f"_000_{s.token(seed, 'b', 40)}_", [
            s.text_part('text/plain; charset="utf-8"', s.b64(s.crlf(body).encode()), "base64"),
            s.text_part('text/html; charset="utf-8"', s.b64(s.word_html([comment])), "base64"),
            s.text_part('text/calendar; charset="utf-8"; method=REPLY', s.b64(cal), "base64"),
        ])  # fmt: skip
        return s.message(headers, entity)
    cal = WRITERS[client](inv, answer)
    if client == "gmail":
        when = _gmail_when(inv, events[0], language)
        subject = f"{prefix}: {title} @ {when} ({attendee_name})"
        headers = [
            "MIME-Version: 1.0", f"Reply-To: {me}",
            "Sender: Google Calendar <calendar-notification@google.com>",
            f"Message-ID: {message_id}", s.date_header(date), s.subject_header(subject),
            f"From: {me}", f"To: {inv.organizer}",
        ]  # fmt: skip
        text = (
            f"{said}\n\n{title}\n{when}\n{events[0].location}\n\n"
            "Uitnodiging van Google Agenda: https://calendar.google.com/calendar/\n"
        )
        inline_encoding = "7bit" if cal.isascii() else "base64"
        alternative = s.multipart("alternative", s.token(seed, "alt", 28), [
            s.text_part('text/plain; charset="UTF-8"; format=flowed; delsp=yes',
                        s.b64(s.crlf(text).encode()), "base64"),
            s.text_part('text/html; charset="UTF-8"', s.qp(_gmail_html(said)), "quoted-printable"),
            s.text_part('text/calendar; charset="UTF-8"; method=REPLY',
                        cal if inline_encoding == "7bit" else s.b64(cal), inline_encoding),
        ])  # fmt: skip
        entity = s.multipart("mixed", s.token(seed, "mix", 28), [alternative, _ics_file(cal)])
        return s.message(headers, entity)
    if client == "apple":
        subject = (
            f"Uitnodiging {verb}: {title}"
            if language == "nl"
            else (f"Invitation {prefix}: {title}")
        )
        headers = [
            f"From: {me}",
            "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.300.61.1.2\\))",
            s.subject_header(subject), s.date_header(date, local=True),
            f"Message-Id: {message_id}", f"To: {organizer}",
            "X-Mailer: Apple Mail (2.3774.300.61.1.2)",
        ]  # fmt: skip
        stamp = f"{date.astimezone(s.BRUSSELS):%Y%m%d-%H%M%S}"
        entity = s.multipart("mixed", f"Apple-Mail=_{s.uuid_like(seed, 'b')}", [
            s.text_part("text/plain;\r\n\tcharset=utf-8", s.qp(f"{comment}\n\n"),
                        "quoted-printable"),
            s.part([
                f"Content-Disposition: attachment;\r\n\tfilename=iCal-{stamp}.ics",
                (f"Content-Type: text/calendar;\r\n\tx-unix-mode=0644;\r\n\t"
                 f'name="iCal-{stamp}.ics";\r\n\tmethod=REPLY;\r\n\tcharset=utf-8'),
                "Content-Transfer-Encoding: quoted-printable",
            ], s.qp(cal.decode("utf-8"))),
        ])  # fmt: skip
        return s.message(headers, entity)
    subject = f"{prefix}: {title}"  # thunderbird
    headers = [
        f"Message-ID: {message_id}", s.date_header(date, local=True), "MIME-Version: 1.0",
        "User-Agent: Mozilla Thunderbird", f"Content-Language: {language}",
        f"From: {me}", f"To: {organizer}", s.subject_header(subject),
    ]  # fmt: skip
    alternative = s.multipart("alternative", "-" * 12 + s.token(seed, "alt"), [
        s.text_part("text/plain; charset=UTF-8; format=flowed", s.eight_bit(said + "\n"), "8bit"),
        s.text_part("text/calendar; method=REPLY; charset=UTF-8", s.qp(cal.decode()),
                    "quoted-printable"),
    ])  # fmt: skip
    entity = s.multipart(
        "mixed", "-" * 12 + s.token(seed, "mix"), [alternative, _ics_file(cal)],
        preamble="This is a multi-part message in MIME format.",
    )  # fmt: skip
    return s.message(headers, entity)


def _ics_file(cal: bytes) -> bytes:
    return s.part([
        'Content-Type: application/ics; name="invite.ics"',
        'Content-Disposition: attachment; filename="invite.ics"',
        "Content-Transfer-Encoding: base64",
    ], s.b64(cal))  # fmt: skip


def _gmail_when(inv: Invite, ev: Occurrence, language: str) -> str:
    start, end = ev.start, ev.end
    zone = start.tzname() or ""
    if ev.recurrence_id is not None:
        day = (
            s.nl_gmail(start).split(" om ")[0]
            if language == "nl"
            else (f"{start:%a %b} {start.day}, {start.year}")
        )
        return f"{day} {start:%H:%M} - {end:%H:%M} ({zone})"
    every = next((p[9:] for p in inv.rrule.split(";") if p.startswith("INTERVAL=")), "1")
    if language == "nl":
        weekday = s.nl_day(start).split()[0]
        return f"Elke {every} weken op {weekday} van {start:%H:%M} tot {end:%H:%M} ({zone})"
    return f"Every {every} weeks on {start:%A} from {start:%H:%M} to {end:%H:%M} ({zone})"


def _gmail_html(said: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in said.split("\n\n"))
    return f'<span itemscope itemtype="http://schema.org/InformAction">{paragraphs}</span>'
