"""Spoofing and loops through the real processor: nothing recorded, nothing sent to the sender."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from leernet.demo.people import bounce, forwarded_accept, out_of_office
from leernet.mailer.tokens import participant_token, reply_address
from leernet.store import schema as t
from tests.reliability.harness import ORGANISER, SECRET, SERVICE, SLUG
from tests.reliability.service import (
    answers_to,
    evaluation_requests,
    outbox_rows,
    process,
    running_service,
)
from tests.smtpserver import SmtpTestServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from leernet.daemon import Service

P1 = "p1@example.com"
TOKEN = participant_token(SECRET, SLUG, P1)
TOKEN_ADDRESS = reply_address(SERVICE, TOKEN)
UID = f"leernet-{SLUG}@example.org"
WHEN = datetime(2027, 1, 14, 16, 0, tzinfo=UTC)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Service, list[Any], list[Any]]]:
    """A network of three whose invites and first evaluation requests went out."""
    with SmtpTestServer() as smtp:
        async with running_service(tmp_path, n=3, smtp_port=smtp.port) as (svc, clock, _):
            await svc.send_once()
            invites = await outbox_rows(svc.engine, kind="invite")
            requests = await evaluation_requests(svc, clock)
            yield svc, invites, requests


def mail(
    *, sender: str = P1, to: str = TOKEN_ADDRESS, extra: str = "", subject: str = "Re: evaluatie",
    body: str = "1. 5\r\n2. Veel geleerd.\r\n3. Niets.\r\n4. ja\r\n", mid: str = "<x1@example.com>",
    ctype: str = "text/plain; charset=utf-8",
) -> bytes:  # fmt: skip
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
        f"Date: Thu, 14 Jan 2027 16:00:00 +0100\r\nMIME-Version: 1.0\r\n{extra}"
        f"Content-Type: {ctype}\r\n\r\n{body}"
    ).encode()


def ics(attendees: list[str], *, uid: str = UID, organizer: str = TOKEN_ADDRESS) -> str:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//EN", "METHOD:REPLY", "BEGIN:VEVENT",
        f"UID:{uid}", "SEQUENCE:0", "DTSTAMP:20270110T100000Z", f"ORGANIZER:mailto:{organizer}",
        *[f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{a}" for a in attendees],
        "END:VEVENT", "END:VCALENDAR",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


async def recorded(svc: Service) -> int:
    async with svc.engine.connect() as conn:
        counts = [
            (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (t.rsvps, t.evaluations)
        ]
    return sum(counts)


def toward(rows: list[Any], *addresses: str) -> list[Any]:
    wanted = {a.lower() for a in addresses}
    return [r for r in rows if r.recipient.lower() in wanted]


def spoofs(invite: bytes) -> dict[str, bytes]:
    cal = "text/calendar; method=REPLY; charset=utf-8"
    return {
        "right token, other From": mail(sender="Mallory <mallory@evil.example>"),
        "right From, no token": mail(to=SERVICE),
        "right From, wrong token": mail(to=reply_address(SERVICE, "a" * len(TOKEN))),
        "right From, token of another participant": mail(
            to=reply_address(SERVICE, participant_token(SECRET, SLUG, "p2@example.com"))
        ),
        "two From addresses": mail(sender=f"{P1}, mallory@evil.example"),
        "foreign Authentication-Results pass, other From": mail(
            sender="mallory@evil.example",
            extra="Authentication-Results: mx.evil.example; dmarc=pass header.from=example.com\r\n",
        ),
        "our Authentication-Results dmarc=fail": mail(
            extra="Authentication-Results: 127.0.0.1; dmarc=fail header.from=example.com\r\n"
        ),
        "iTIP REPLY with two ATTENDEEs": mail(ctype=cal, body=ics([P1, "p2@example.com"])),
        "iTIP REPLY with a foreign UID": mail(ctype=cal, body=ics([P1], uid="other@evil.example")),
        "iTIP REPLY with a foreign ORGANIZER": mail(
            ctype=cal, body=ics([P1], organizer="boss@evil.example")
        ),
        "forwarded invite accepted by a colleague": forwarded_accept(
            invite, "collega@example.com", date=WHEN, message_id="<fw1@example.com>"
        ),
    }


class TestSpoofing:
    async def test_spoofed_replies_are_never_recorded_or_answered(
        self, world: tuple[Service, list[Any], list[Any]], figure: list[str]
    ) -> None:
        """Eleven spoofing variants: none recorded, nothing sent to the sender, counted in one digest for the organiser."""
        svc, invites, _ = world
        invite = next(r.raw for r in invites if r.recipient == P1)
        for i, (name, shape) in enumerate(spoofs(invite).items()):
            raw = shape.replace(b"<x1@example.com>", f"<spoof{i}@example.com>".encode())
            disposition, new = await process(svc, raw)
            senders = ("mallory@evil.example", "collega@example.com", P1, "p2@example.com")
            assert await recorded(svc) == 0, name
            assert toward(new, *senders) == [], name
            assert disposition.attention, (name, disposition)
        # Unverified mail is counted in one digest a day per network (or for mail naming none).
        told = len(toward(await outbox_rows(svc.engine, kind="notice"), ORGANISER))
        assert 1 <= told <= 2
        figure.append(f"11 spoofing variants: 0 recorded, 0 answered, {told} organiser digest(s)")

    async def test_the_genuine_reply_is_recorded_and_confirmed(
        self, world: tuple[Service, list[Any], list[Any]]
    ) -> None:
        """The control: the participant's own threaded answer is recorded and confirmed once."""
        svc, _, requests = world
        disposition, new = await process(svc, answers_to(requests[0], 1))
        assert disposition.outcome == "evaluation"
        assert [r.kind for r in toward(new, P1)] == ["confirmation"]


def oof(language: str, subject_of: str, *, headers: bool) -> bytes:
    subject = {
        "nl": "Automatisch antwoord: ",
        "fr": "Réponse automatique : ",
        "en": "Automatic reply: ",
    }[language] + subject_of
    extra = "Auto-Submitted: auto-replied\r\n" if headers else ""
    text = {
        "nl": "Ik ben afwezig tot maandag.",
        "fr": "Je suis absent jusqu'à lundi.",
        "en": "I am out of the office until Monday.",
    }[language]
    return mail(
        subject=subject, extra=extra, body=text, mid=f"<oof-{language}-{headers}@example.com>"
    )


class TestLoops:
    async def test_automatic_mail_is_never_answered(
        self, world: tuple[Service, list[Any], list[Any]], figure: list[str]
    ) -> None:
        """Out-of-office in nl/fr/en, an auto-reply to our confirmation, bounces of bounces and our own address: none answered."""
        svc, _, requests = world
        request = next(r for r in requests if r.recipient == P1)
        _, first = await process(svc, answers_to(request, 1))
        (confirmation,) = toward(first, P1)
        exchange = out_of_office(request.raw, date=WHEN, message_id="<oof-x@example.com>")
        dsn = bounce(
            request.raw, failed_recipient=P1, reporting_mta="mx.example.com", date=WHEN,
            message_id="<dsn1@example.com>",
        )  # fmt: skip
        cases = {
            "Exchange out-of-office (nl)": exchange,
            **{
                f"out-of-office subject only ({lang})": oof(lang, "Evaluatie", headers=False)
                for lang in ("nl", "fr", "en")
            },
            **{
                f"out-of-office with Auto-Submitted ({lang})": oof(lang, "Evaluatie", headers=True)
                for lang in ("nl", "fr", "en")
            },
            "auto-reply to our confirmation": mail(
                extra=f"In-Reply-To: {confirmation.message_id}\r\nAuto-Submitted: auto-replied\r\n",
                mid="<auto-conf@example.com>",
            ),
            "vacation reply with X-Autoreply": mail(
                extra="X-Autoreply: yes\r\n", mid="<xauto@example.com>", body="Weg."
            ),
            "bounce of a bounce": bounce(
                dsn,
                failed_recipient="mailer-daemon@mx.example.com",
                reporting_mta="mx2.example",
                date=WHEN,
                message_id="<dsn2@example.com>",
            ),
            "from the service address": mail(sender=SERVICE, mid="<own1@example.org>"),
            "from a plus address of the service": mail(
                sender=TOKEN_ADDRESS, mid="<own2@example.org>"
            ),
        }
        answered = 0
        for name, raw in cases.items():
            disposition, new = await process(svc, raw)
            bad = [r for r in new if r.recipient != ORGANISER]
            answered += len(bad)
            assert bad == [], (name, disposition, [(r.kind, r.recipient) for r in bad])
        figure.append(f"{len(cases)} automatic mails (OOF nl/fr/en, bounces, own address): "
                      f"{answered} answered")  # fmt: skip

    async def test_confirmations_are_rate_limited_per_participant(
        self, world: tuple[Service, list[Any], list[Any]], figure: list[str]
    ) -> None:
        """Ten answers from one participant within an hour get at most four confirmations."""
        svc, _, requests = world
        request = next(r for r in requests if r.recipient == P1)
        confirmations = 0
        for i in range(10):
            raw = answers_to(request, 1).replace(
                b"Message-ID: <answer-1", f"Message-ID: <again{i}-answer-1".encode()
            )
            _, new = await process(svc, raw)
            confirmations += len(toward(new, P1))
        figure.append(f"10 answers in an hour: {confirmations} confirmations")
        assert confirmations == svc.settings.confirmations_per_hour
