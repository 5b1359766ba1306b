"""Organisers start a network from their mailbox: request, preview, START by reply, started.

Through the real inbox processor and store: the organiser sends the network
file to the service address; only they get a preview (with the invite as a
participant will get it); only their reply with the preview's token starts it,
once; strangers and spoofers get no answer and start nothing.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leernet.mailer.tokens import participant_token, reply_address
from leernet.network.load import parse_network
from leernet.organiser.desk import PREVIEWS_PER_DAY
from leernet.records import networks, registration
from leernet.store import schema as t
from tests.test_summary_preview import SERVICE, World, open_world

ROOT = Path(__file__).parents[1]
ORGANISER = "an.peeters@example.org"
SLUG = "per-mail-2027"
SOURCE = (
    (ROOT / "config" / "network.example.toml")
    .read_text(encoding="utf-8")
    .replace('slug = "hr-ovl-2027"', f'slug = "{SLUG}"')
)
ASKED = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
PARTICIPANTS = SOURCE.count("[[participants]]")


def request(
    source: str = SOURCE, *, sender: str = ORGANISER, dmarc: str = "pass", to: str = SERVICE
) -> bytes:
    """The organiser's mail: a few words and the network file attached."""
    msg = EmailMessage()
    msg["Authentication-Results"] = f"mx.example.org; dmarc={dmarc} header.from=example.org"
    msg["From"] = f"An Peeters <{sender}>"
    msg["To"] = f"Lerend netwerk <{to}>"
    msg["Subject"] = "Nieuw lerend netwerk"
    msg["Date"] = format_datetime(ASKED)
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("Dag, hierbij ons nieuwe netwerk.\n\nGroeten,\nAn\n")
    msg.add_attachment(
        source.encode(), maintype="application", subtype="toml", filename="netwerk.toml"
    )
    return msg.as_bytes(policy=email.policy.SMTP)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(tmp_path, organisers=f"{ORGANISER},@vormingsfonds.be") as w:
        yield w


async def previews(world: World) -> list[EmailMessage]:
    out = []
    for m in await world.mails():
        if m.kind == "organiser-preview":
            async with world.engine.connect() as conn:
                raw = (
                    await conn.execute(
                        select(t.outbox_body.c.raw).join(t.outbox).where(t.outbox.c.key == m.key)
                    )
                ).scalar_one()
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            out.append(parsed)
    return out


async def confirm(
    world: World, preview: EmailMessage, text: str = "START", at: datetime = ASKED, **kw: str
) -> str:
    reply_to = parseaddr(str(preview["Reply-To"]))[1]
    return await world.reply(
        f"{text}\n\nOp 5 december schreef Lerend netwerk:\n> Antwoord met START",
        at,
        subject=f"Re: {preview['Subject']}",
        in_reply_to=str(preview["Message-ID"]),
        sender=kw.get("sender", ORGANISER),
        to=reply_to,
        dmarc=kw.get("dmarc", "pass"),
    )


async def kinds(world: World) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in await world.mails():
        out[m.kind] = out.get(m.kind, 0) + 1
    return out


class TestRequest:
    async def test_a_request_gets_a_preview_for_the_organiser_only(self, world: World) -> None:
        """The organiser's network file brings one preview to them, with the invite attached; nobody else gets anything."""
        assert await world.receive(request(), ASKED) == "organiser-request"
        mails = await world.mails()
        assert [(m.kind, m.recipient) for m in mails] == [("organiser-preview", ORGANISER)]
        (preview,) = await previews(world)
        text = preview.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Antwoord dan met START" in text
        assert "Bert Claes <bert.claes@example.com>" in text
        assert parseaddr(str(preview["Reply-To"]))[1].startswith("netwerk+")
        (attached,) = [
            p for p in preview.iter_attachments() if p.get_filename() == "uitnodiging.eml"
        ]
        assert attached.get_content_type() == "message/rfc822"
        (invite,) = attached.iter_parts()  # the message itself, as a participant gets it
        assert "bert.claes@example.com" in str(invite["To"])
        calendar = next(p for p in invite.walk() if p.get_content_type() == "text/calendar")
        assert "BEGIN:VCALENDAR" in calendar.get_content()
        async with world.engine.connect() as conn:
            assert await networks.get(conn, SLUG) is None  # nothing registered yet

    async def test_a_file_with_errors_says_what_to_fix_and_cannot_be_started(
        self, world: World
    ) -> None:
        """A bad address: the preview names the field, says "pas aan", and offers no START."""
        broken = SOURCE.replace('email = "bert.claes@example.com"', 'email = "bert@"')
        await world.receive(request(broken), ASKED)
        (preview,) = await previews(world)
        text = preview.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Pas aan wat hieronder staat" in text
        assert "'bert@' is not an email address" in text
        assert "START" not in text
        assert preview["Reply-To"] is None

    async def test_a_stranger_gets_no_answer(self, world: World) -> None:
        """Someone not in LEERNET_ORGANISERS: the mail is set aside, nothing is sent to anyone."""
        outcome = await world.receive(request(sender="mallory@example.net"), ASKED)
        assert outcome == "organiser-refused"
        assert await world.mails() == []

    async def test_a_domain_entry_lets_a_colleague_ask(self, world: World) -> None:
        """“@vormingsfonds.be” in LEERNET_ORGANISERS: a colleague there gets a preview too."""
        colleague = "els@vormingsfonds.be"
        source = SOURCE.replace(f'email = "{ORGANISER}"', f'email = "{colleague}"')
        assert await world.receive(request(source, sender=colleague), ASKED) == "organiser-request"
        assert [m.recipient for m in await world.mails()] == [colleague]

    async def test_a_spoofed_request_is_refused(self, world: World) -> None:
        """From the organiser's address but DMARC failed at our server: no preview at all."""
        assert await world.receive(request(dmarc="fail"), ASKED) == "rejected"
        assert await world.mails() == []

    async def test_previews_per_sender_are_limited(self, world: World) -> None:
        """A flood of requests costs the organiser at most a day's worth of previews."""
        for i in range(PREVIEWS_PER_DAY + 5):
            await world.receive(request(), ASKED + timedelta(minutes=i))
        assert (await kinds(world)) == {"organiser-preview": PREVIEWS_PER_DAY}


class TestConfirmation:
    async def test_start_by_reply_starts_the_network_once(self, world: World) -> None:
        """START in reply to the preview registers the network and queues every invite; a replay changes nothing."""
        await world.receive(request(), ASKED)
        (preview,) = await previews(world)
        assert await confirm(world, preview) == "organiser-start"
        after = await kinds(world)
        assert after["invite"] == PARTICIPANTS
        assert after["organiser-started"] == 1
        assert after["manager-start"] >= 1
        async with world.engine.connect() as conn:
            assert await networks.get(conn, SLUG) is not None
        # The same confirmation again, or a second one: never a second set of invites.
        await confirm(world, preview, at=ASKED + timedelta(minutes=5))
        again = await kinds(world)
        assert again["invite"] == PARTICIPANTS
        assert again["organiser-started"] == 1

    async def test_a_confirmation_from_someone_else_starts_nothing(self, world: World) -> None:
        """The preview's token in a reply from another address, or with DMARC failed: nothing starts."""
        await world.receive(request(), ASKED)
        (preview,) = await previews(world)
        assert await confirm(world, preview, sender="mallory@example.net") == "rejected"
        assert await confirm(world, preview, dmarc="fail") == "rejected"
        assert "invite" not in await kinds(world)

    async def test_an_expired_preview_is_answered_with_a_fresh_one(self, world: World) -> None:
        """START eight days later: not acted on; the organiser gets a new preview to confirm."""
        await world.receive(request(), ASKED)
        (preview,) = await previews(world)
        outcome = await confirm(world, preview, at=ASKED + timedelta(days=8))
        assert outcome == "organiser-request"
        assert await kinds(world) == {"organiser-preview": 2}

    async def test_any_other_answer_is_not_a_start(self, world: World) -> None:
        """“Kan sessie 3 een uur later?” is no START: a fresh preview, nothing sent to participants."""
        await world.receive(request(), ASKED)
        (preview,) = await previews(world)
        await confirm(world, preview, text="Kan sessie 3 een uur later?")
        assert await kinds(world) == {"organiser-preview": 2}

    async def test_participants_get_nothing_before_the_confirmation(self, world: World) -> None:
        """Until START, every queued message goes to the organiser."""
        await world.receive(request(), ASKED)
        await world.receive(request(), ASKED + timedelta(hours=1))
        async with world.engine.connect() as conn:
            others = (
                await conn.execute(select(func.count()).where(t.outbox.c.recipient != ORGANISER))
            ).scalar_one()
        assert others == 0


CORPUS = ROOT / "tests" / "data" / "organiser"
SERIES_ASKED = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # the corpus mails are of 4 January


@pytest.fixture
async def colleagues(tmp_path: Path) -> AsyncIterator[World]:
    """The service of an organisation whose whole domain may start networks."""
    async with open_world(tmp_path, organisers="@example.com") as w:
        yield w


class TestMeetingSeries:
    @pytest.mark.parametrize("client", ["outlook", "google", "apple", "thunderbird"])
    async def test_a_series_with_a_list_is_previewed_then_started(
        self, colleagues: World, client: str
    ) -> None:
        """The organiser's meeting series and participant list (as their client sends them):
        a preview with every session, then on START the invites and our acceptance.
        """
        raw = (CORPUS / f"{client}_series_with_list.eml").read_bytes()
        expected = json.loads((CORPUS / f"{client}_series_with_list.expected.json").read_text())
        assert await colleagues.receive(raw, SERIES_ASKED) == "organiser-request"
        (preview,) = await previews(colleagues)
        text = preview.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "START" in text, text  # in the organiser's language (Google's and Thunderbird's: en)
        assert text.count("\n- ") >= expected["participants"]
        assert await confirm(
            colleagues, preview, at=SERIES_ASKED, sender=expected["organizer"]
        ) == ("organiser-start")
        done = await kinds(colleagues)
        assert done["invite"] == expected["participants"]
        (started,) = [m for m in await colleagues.mails() if m.kind == "organiser-started"]
        assert started.recipient == expected["organizer"]
        assert "METHOD:REPLY" in started.text
        assert "PARTSTAT=ACCEPTED" in started.text
        assert expected["uid"][:40] in started.text.replace("\r\n ", "")

    async def test_a_participant_reply_to_the_plain_address_is_no_request(
        self, tmp_path: Path
    ) -> None:
        """A calendar REPLY to the plain address (a participant without plus addressing), even
        from a domain that may start networks, is an RSVP, never a request.
        """
        raw = (ROOT / "tests" / "data" / "replies" / "outlook_no_token_references.eml").read_bytes()
        async with open_world(tmp_path, organisers="@example.be") as w:
            assert await w.receive(raw, SERIES_ASKED) != "organiser-request"
            assert "organiser-preview" not in await kinds(w)


def plain(subject: str, body: str, *, sender: str = ORGANISER, to: str = SERVICE) -> bytes:
    return (
        "Authentication-Results: mx.example.org; dmarc=pass header.from=example.org\r\n"
        f"From: An Peeters <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(ASKED)}\r\nMessage-ID: {make_msgid(domain='example.org')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


async def attachments_of(world: World, kind: str) -> list[EmailMessage]:
    out = []
    async with world.engine.connect() as conn:
        rows = await conn.execute(
            select(t.outbox_body.c.raw).join(t.outbox).where(t.outbox.c.kind == kind)
        )
        for (raw,) in rows:
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            out.append(parsed)
    return out


class TestStatusByMail:
    async def test_status_brings_the_export_as_xlsx_and_csv(self, world: World) -> None:
        """“status” from the organiser of a running network: the status in words, and the
        export as a workbook whose rows are those of leernet export.
        """
        from openpyxl import load_workbook  # noqa: PLC0415

        from leernet.organiser import report  # noqa: PLC0415

        assert await world.receive(plain("status", "Graag de stand."), ASKED) == "organiser-status"
        (mail,) = await attachments_of(world, "organiser-status")
        assert parseaddr(str(mail["To"]))[1] == ORGANISER
        files = {p.get_filename(): p.get_content() for p in mail.iter_attachments()}
        assert set(files) == {"hr-ovl-2027.xlsx", "hr-ovl-2027.csv"}
        book = load_workbook(io.BytesIO(files["hr-ovl-2027.xlsx"]), read_only=True)
        attendance = list(book.worksheets[0].iter_rows(values_only=True))
        async with world.engine.connect() as conn:
            data = await report.export(conn, "hr-ovl-2027")
        assert len(attendance) - 1 == len(data["attendance"])

    async def test_a_reply_to_a_digest_saying_export_is_answered(self, world: World) -> None:
        """“export” in reply to a digest (the organiser's own token) gets the status too."""
        token = participant_token("test-secret-not-for-production", "hr-ovl-2027", ORGANISER)
        to = reply_address(SERVICE, token)
        outcome = await world.receive(plain("Re: overzicht", "export\n\n> digest", to=to), ASKED)
        assert outcome == "organiser-status"

    async def test_a_stranger_asking_for_status_gets_nothing(self, world: World) -> None:
        """Anyone but the network's organiser: no status, no answer of any kind."""
        await world.receive(plain("status", "", sender="mallory@example.net"), ASKED)
        assert await attachments_of(world, "organiser-status") == []
        assert [m for m in await world.mails() if m.recipient == "mallory@example.net"] == []

    async def test_a_forged_organiser_gets_nothing(self, world: World) -> None:
        """From the organiser's address with DMARC failed at our server: refused."""
        raw = plain("status", "").replace(b"dmarc=pass", b"dmarc=fail")
        assert await world.receive(raw, ASKED) == "rejected"
        assert await attachments_of(world, "organiser-status") == []

    async def test_an_organiser_of_two_networks_is_asked_which(self, world: World) -> None:
        """Two running networks and none named: a question listing both; naming one answers it."""
        second = SOURCE.replace("Lerend netwerk werkbaar werk", "Lerend netwerk welzijn")
        async with world.engine.begin() as conn:
            await registration.register(
                conn,
                parse_network(second).network,
                second,
                "test-secret-not-for-production",
                ASKED,
            )
        assert await world.receive(plain("status", ""), ASKED) == "organiser-status"
        assert await attachments_of(world, "organiser-status") != []
        (question,) = await attachments_of(world, "organiser-status")
        text = question.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "hr-ovl-2027" in text
        assert SLUG in text
        assert list(question.iter_attachments()) == []
        outcome = await world.receive(plain(f"status {SLUG}", ""), ASKED + timedelta(minutes=1))
        assert outcome == "organiser-status"
        answers = await attachments_of(world, "organiser-status")
        files = [p.get_filename() for m in answers for p in m.iter_attachments()]
        assert files == [f"{SLUG}.xlsx", f"{SLUG}.csv"]


class TestChangesFromTheCalendar:
    async def started(self, world: World) -> None:
        raw = (CORPUS / "outlook_series_with_list.eml").read_bytes()
        await world.receive(raw, SERIES_ASKED)
        (preview,) = await previews(world)
        sender = "an.peeters@example.com"
        assert await confirm(world, preview, at=SERIES_ASKED, sender=sender) == "organiser-start"

    async def test_a_moved_occurrence_is_previewed_then_sent_to_everyone(
        self, colleagues: World
    ) -> None:
        """Outlook moves session 4: the organiser reads the change in words; on START every
        participant gets the updated invite, and not before.
        """
        await self.started(colleagues)
        invites = (await kinds(colleagues))["invite"]
        update = (CORPUS / "outlook_update_moved.eml").read_bytes()
        assert await colleagues.receive(update, SERIES_ASKED) == "organiser-change"
        assert "invite-update" not in await kinds(colleagues)  # nobody hears of it yet
        change = (await previews(colleagues))[-1]
        text = change.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "4" in text
        assert "26 maart" in text or "March 26" in text or "26 March" in text, text
        outcome = await confirm(
            colleagues, change, at=SERIES_ASKED, sender="an.peeters@example.com"
        )
        assert outcome == "organiser-change"
        assert (await kinds(colleagues))["invite-update"] == invites
        # The same confirmation again changes nothing more.
        await confirm(colleagues, change, at=SERIES_ASKED, sender="an.peeters@example.com")
        assert (await kinds(colleagues))["invite-update"] == invites

    async def test_someone_else_cannot_change_the_network(self, colleagues: World) -> None:
        """The same update from another colleague of the domain is not a change of this network."""
        await self.started(colleagues)
        update = (
            (CORPUS / "outlook_update_moved.eml")
            .read_bytes()
            .replace(b"From: An Peeters <an.peeters@example.com>", b"From: Els <els@example.com>")
        )
        assert await colleagues.receive(update, SERIES_ASKED) != "organiser-change"
        assert "invite-update" not in await kinds(colleagues)

    async def test_a_cancelled_series_cancels_the_network_for_everyone(
        self, colleagues: World
    ) -> None:
        """Google cancels the whole series: after START every participant gets a cancellation."""
        raw = (CORPUS / "google_series_with_list.eml").read_bytes()
        await colleagues.receive(raw, SERIES_ASKED)
        (preview,) = await previews(colleagues)
        sender = "an.peeters@example.com"
        assert await confirm(colleagues, preview, at=SERIES_ASKED, sender=sender) == (
            "organiser-start"
        )
        invited = {m.recipient for m in await colleagues.mails() if m.kind == "invite"}
        cancel = (CORPUS / "google_cancel_series.eml").read_bytes()
        assert await colleagues.receive(cancel, SERIES_ASKED) == "organiser-change"
        change = (await previews(colleagues))[-1]
        assert await confirm(colleagues, change, at=SERIES_ASKED, sender=sender) == (
            "organiser-change"
        )
        after = [m for m in await colleagues.mails() if m.recipient in invited]
        told = {m.recipient for m in after if m.kind != "invite"}
        assert told == invited, {m.kind for m in after}


LIST_AGAIN = (
    "naam;e-mail;leidinggevende;e-mail leidinggevende\r\n"
    "Bert Claes;bert.claes@example.com;Carla Dewit;carla.dewit@example.com\r\n"
    "Sofie Maes;sofie.maes@example.com;Carla Dewit;carla.dewit@example.com\r\n"
    "Jan Peeters;jan.peeters@example.be;Dirk Van den Broeck;dirk.vandenbroeck@example.be\r\n"
    "Hanne Verlinden;hanne.verlinden@example.com;Koen De Smet;koen.desmet@example.org\r\n"
)


class TestListSentAgain:
    async def test_a_new_list_in_reply_adds_and_removes_after_confirmation(
        self, world: World
    ) -> None:
        """A list in reply to a digest: Els leaves, Hanne joins; previewed first, applied on JA."""
        token = participant_token("test-secret-not-for-production", "hr-ovl-2027", ORGANISER)
        msg = EmailMessage()
        msg["Authentication-Results"] = "mx.example.org; dmarc=pass header.from=example.org"
        msg["From"] = f"An Peeters <{ORGANISER}>"
        msg["To"] = reply_address(SERVICE, token)
        msg["Subject"] = "Re: Overzicht: Kennismaking en verwachtingen (donderdag 14 januari 2027)"
        msg["Message-ID"] = make_msgid(domain="example.org")
        msg.set_content("Hierbij de nieuwe lijst.\n")
        msg.add_attachment(
            LIST_AGAIN.encode(), maintype="text", subtype="csv", filename="deelnemers.csv"
        )
        assert await world.receive(msg.as_bytes(), ASKED) == "organiser-change"
        assert "invite" not in await kinds(world)  # nobody hears of it before the JA
        (preview,) = await previews(world)
        text = preview.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Hanne Verlinden" in text
        assert "Els Wouters" in text
        outcome = await confirm(world, preview, text="ja")
        assert outcome == "organiser-change"
        mails = await world.mails()
        assert [m.recipient for m in mails if m.kind == "invite"] == ["hanne.verlinden@example.com"]
        assert "els.wouters@example.net" in {m.recipient for m in mails if m.kind != "invite"}

    async def test_the_same_series_with_a_new_list_previews_the_list(
        self, colleagues: World
    ) -> None:
        """The organiser sends their unchanged series again with a shorter list: the list
        change is previewed (who leaves), and applied on JA.
        """
        from leernet.organiser.intake.participant_list import read_participant_list  # noqa: PLC0415
        from leernet.organiser.intake.request import read_request  # noqa: PLC0415

        series = (CORPUS / "outlook_series_with_list.eml").read_bytes()
        await colleagues.receive(series, SERIES_ASKED)
        (preview,) = await previews(colleagues)
        sender = "an.peeters@example.com"
        await confirm(colleagues, preview, at=SERIES_ASKED, sender=sender)
        original = read_request(series)
        listed = read_participant_list(original.lists[0].filename, original.lists[0].data)
        kept = listed.participants[:-1]
        csv = "naam;e-mail;leidinggevende;e-mail leidinggevende\r\n" + "".join(
            f"{p.name};{p.email};{p.manager_name};{p.manager_email}\r\n" for p in kept
        )
        msg = EmailMessage()
        msg["Authentication-Results"] = "mx.example.org; dmarc=pass header.from=example.com"
        msg["From"] = f"An Peeters <{sender}>"
        msg["To"] = SERVICE
        msg["Subject"] = "Lerend netwerk werkbaar werk"
        msg["Message-ID"] = make_msgid(domain="example.com")
        msg.set_content("Nieuwe lijst.\n")
        msg.add_attachment(
            original.calendars[0], maintype="text", subtype="calendar", params={"method": "REQUEST"}
        )
        msg.add_attachment(csv.encode(), maintype="text", subtype="csv", filename="lijst.csv")
        assert await colleagues.receive(msg.as_bytes(), SERIES_ASKED) == "organiser-change"
        change = (await previews(colleagues))[-1]
        text = change.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert listed.participants[-1].name in text
        assert await confirm(colleagues, change, at=SERIES_ASKED, sender=sender) == (
            "organiser-change"
        )
        gone = listed.participants[-1].email
        assert any(m.recipient == gone and m.kind != "invite" for m in await colleagues.mails())
