"""The demo's simulated people answer our real invites and requests the way mail clients do."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.policy import compat32, default
from zoneinfo import ZoneInfo

import icalendar
import pytest

from leernet.calendar.invite import request_template, series_uid
from leernet.demo import people
from leernet.mailer.compose import Envelope, compose
from leernet.mailer.tokens import participant_token, reply_address
from leernet.messages import views
from leernet.messages.render import Renderer
from leernet.network.load import load_network
from leernet.network.model import Network, Participant
from leernet.records.lookups import Candidate
from leernet.replies.answers import parse_answers
from leernet.replies.classify import Context, Outcome, classify
from leernet.replies.mailtext import reply_text

SERVICE = "netwerk@example.org"
SECRET = "test-secret-not-for-production"
SEQUENCE = 3
SENT = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
LATER = datetime(2027, 1, 5, 9, 15, tzinfo=UTC)
BRUSSELS = ZoneInfo("Europe/Brussels")
ANSWERS = {
    1: "4",
    2: "De checklist voor werkbaar werk.\nDie neem ik mee naar onze directie.",
    3: "Meer tijd voor de casussen.",
    4: "ja",
    5: "Omgaan met werkdruk in mijn team.",
}


@pytest.fixture(scope="module")
def network() -> Network:
    return load_network("config/network.example.toml").network


@pytest.fixture(scope="module")
def bert(network: Network) -> Participant:
    return network.participants[0]


@pytest.fixture(scope="module")
def token_address(network: Network, bert: Participant) -> str:
    return reply_address(SERVICE, participant_token(SECRET, network.slug, bert.email))


@pytest.fixture(scope="module")
def invite(network: Network, bert: Participant, token_address: str) -> bytes:
    template = request_template(
        network, service_address=token_address, sequence=SEQUENCE, dtstamp=SENT
    )
    calendar = template.render(bert, token_address, "Lerend netwerk")
    envelope = Envelope("Lerend netwerk", SERVICE, bert.name, bert.email, reply_to=token_address)
    rendered = Renderer().render("invite", "nl", views.invite(network, bert))
    return compose(
        envelope, rendered, msg_id="<leernet.invite@example.org>", date=SENT, calendar=calendar
    )


@pytest.fixture(scope="module")
def request_mail(network: Network, bert: Participant, token_address: str) -> bytes:
    session = network.sessions[0]
    envelope = Envelope("Lerend netwerk", SERVICE, bert.name, bert.email, reply_to=token_address)
    context = views.eval_request(network, bert, session)
    rendered = Renderer().render("eval_request", "nl", context)
    return compose(envelope, rendered, msg_id="<leernet.request@example.org>", date=session.end)


@pytest.fixture(scope="module")
def context(network: Network, bert: Participant) -> Context:
    token = participant_token(SECRET, network.slug, bert.email)
    candidate = Candidate(
        1, 1, network.slug, bert.email, bert.name, series_uid(network.slug, SERVICE), token,
        SEQUENCE,
    )  # fmt: skip
    return Context(
        service_address=SERVICE,
        authserv_id="mx.example.org",
        lookup_token=lambda t: candidate if t == token else None,
        lookup_sent_message=lambda mid: (
            candidate if mid == "<leernet.invite@example.org>" else None
        ),
    )


def parse(raw: bytes) -> EmailMessage:
    """Parse strictly: CRLF only, lines within RFC 5322's 998, no defects anywhere."""
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF in the message"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    for part in msg.walk():
        assert not part.defects, part.defects
    return msg


def calendars(msg: Message) -> list[icalendar.Calendar]:
    found = []
    for part in msg.walk():
        if part.get_content_type() in {"text/calendar", "application/ics"}:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found.append(icalendar.Calendar.from_ical(payload))
    return found


def recurrence_instant(event: icalendar.cal.Component) -> datetime:
    """RECURRENCE-ID as a UTC instant; Outlook's "Romance Standard Time" is Brussels time."""
    prop = event["RECURRENCE-ID"]
    raw = prop.to_ical().decode()
    if raw.endswith("Z"):
        return datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    tzid = str(prop.params["TZID"]).strip('"')
    zone = BRUSSELS if tzid == "Romance Standard Time" else ZoneInfo(tzid)
    return datetime.strptime(raw, "%Y%m%dT%H%M%S").replace(tzinfo=zone).astimezone(UTC)


def attendees(event: icalendar.cal.Component) -> list[icalendar.vCalAddress]:
    value = event.get("ATTENDEE", [])
    return value if isinstance(value, list) else [value]


def moved_slot(network: Network) -> datetime:
    """Session 4 moved to an afternoon after the DST change: its slot is the RRULE's 09:30."""
    return network.session(4).slot


class TestCalendarReply:
    @pytest.mark.parametrize("client", people.CLIENTS)
    @pytest.mark.parametrize("occurrence", [False, True], ids=["series", "occurrence"])
    def test_is_an_itip_reply_to_our_series(
        self, client: str, occurrence: bool, invite: bytes, network: Network, token_address: str
    ) -> None:
        """Every client answers with METHOD:REPLY, our UID and SEQUENCE, and only the invitee."""
        slot = moved_slot(network) if occurrence else None
        raw = people.calendar_reply(
            invite, partstat="TENTATIVE", client=client, session_slot=slot, date=LATER,
            message_id="<reply-1@example.com>",
        )  # fmt: skip
        msg = parse(raw)
        assert msg["From"].addresses[0].addr_spec == "bert.claes@example.com"
        assert msg["To"].addresses[0].addr_spec == token_address
        assert msg["Message-ID"] == "<reply-1@example.com>"
        found = calendars(msg)
        assert found
        for cal in found:
            assert str(cal["METHOD"]) == "REPLY"
            events = list(cal.walk("VEVENT"))
            assert events
            for event in events:
                assert str(event["UID"]) == "leernet-hr-ovl-2027@example.org"
                assert int(event["SEQUENCE"]) == SEQUENCE
                assert event["DTSTAMP"].dt == LATER
                (only,) = attendees(event)
                assert str(only).lower() == "mailto:bert.claes@example.com"
                assert only.params["PARTSTAT"] == "TENTATIVE"
            if occurrence:
                assert len(events) == 1
                assert recurrence_instant(events[0]) == slot
            else:
                assert any("RECURRENCE-ID" not in e and "RRULE" in e for e in events)

    @pytest.mark.parametrize("client", people.CLIENTS)
    def test_comment_is_in_the_calendar_and_the_body(self, client: str, invite: bytes) -> None:
        """A note typed while declining reaches the service as COMMENT and in the mail text."""
        note = "Die dag geef ik zelf een opleiding, sorry!"
        raw = people.calendar_reply(
            invite, partstat="DECLINED", client=client, comment=note, date=LATER,
            message_id="<reply-2@example.com>",
        )  # fmt: skip
        msg = parse(raw)
        for cal in calendars(msg):
            for event in cal.walk("VEVENT"):
                assert str(event["COMMENT"]) == note
        body = msg.get_body(("plain",))
        assert body is not None
        assert note in body.get_content()

    def test_outlook_shape(self, invite: bytes, network: Network) -> None:
        """Outlook: text, HTML and a base64 REPLY side by side, in its own Windows time zone."""
        raw = people.calendar_reply(
            invite, partstat="DECLINED", client="outlook", session_slot=moved_slot(network),
            date=LATER, message_id="<reply-3@example.com>", language="en",
        )  # fmt: skip
        msg = parse(raw)
        assert msg.get_content_type() == "multipart/alternative"
        kinds = [p.get_content_type() for p in msg.iter_parts()]
        assert kinds == ["text/plain", "text/html", "text/calendar"]
        cal_part = list(msg.iter_parts())[2]
        assert cal_part["Content-Transfer-Encoding"] == "base64"
        assert cal_part.get_param("method") == "REPLY"
        assert msg["Subject"].startswith("Declined: ")
        assert msg["In-Reply-To"] == "<leernet.invite@example.org>"
        text = cal_part.get_payload(decode=True)
        assert b'RECURRENCE-ID;TZID="Romance Standard Time":20270408T093000' in text
        assert b"TZID:Romance Standard Time" in text
        assert b"X-MICROSOFT-CDO-INSTTYPE:3" in text

    def test_gmail_shape(self, invite: bytes, network: Network) -> None:
        """Gmail: an inline REPLY plus an invite.ics attachment; an occurrence is written in UTC."""
        raw = people.calendar_reply(
            invite, partstat="ACCEPTED", client="gmail", session_slot=moved_slot(network),
            date=LATER, message_id="<reply-4@example.com>", language="en",
        )  # fmt: skip
        msg = parse(raw)
        kinds = [p.get_content_type() for p in msg.walk()]
        assert kinds == [
            "multipart/mixed", "multipart/alternative", "text/plain", "text/html",
            "text/calendar", "application/ics",
        ]  # fmt: skip
        attachment = next(iter(msg.iter_attachments()))
        assert attachment.get_filename() == "invite.ics"
        assert msg["Subject"].startswith("Accepted: ")
        assert " @ " in msg["Subject"]
        (event,) = calendars(msg)[0].walk("VEVENT")
        assert event["RECURRENCE-ID"].to_ical() == b"20270408T073000Z"

    def test_apple_shape(self, invite: bytes, network: Network) -> None:
        """Apple: the REPLY is an attachment, the address has capitals, all overrides answered."""
        raw = people.calendar_reply(
            invite, partstat="ACCEPTED", client="apple", date=LATER,
            message_id="<reply-5@example.com>",
        )  # fmt: skip
        msg = parse(raw)
        (cal_part,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        assert cal_part.get_content_disposition() == "attachment"
        assert cal_part.get_param("method") == "REPLY"
        (cal,) = calendars(msg)
        events = list(cal.walk("VEVENT"))
        assert len(events) == 1 + len(network.sessions)
        assert str(attendees(events[0])[0]) == "mailto:Bert.Claes@example.com"

    def test_thunderbird_shape(self, invite: bytes) -> None:
        """Thunderbird: multipart/mixed with the text and a quoted-printable REPLY."""
        raw = people.calendar_reply(
            invite, partstat="ACCEPTED", client="thunderbird", date=LATER,
            message_id="<reply-6@example.com>",
        )  # fmt: skip
        msg = parse(raw)
        assert msg.get_content_type() == "multipart/mixed"
        (cal_part,) = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        assert cal_part["Content-Transfer-Encoding"] == "quoted-printable"
        assert msg["User-Agent"] == "Mozilla Thunderbird"

    def test_same_arguments_same_bytes(self, invite: bytes) -> None:
        """A demo run can be replayed: the same answer comes out byte for byte."""
        kw = {"partstat": "ACCEPTED", "date": LATER, "message_id": "<r@example.com>"}
        for client in people.CLIENTS:
            first = people.calendar_reply(invite, client=client, **kw)  # type: ignore[arg-type]
            assert first == people.calendar_reply(invite, client=client, **kw)  # type: ignore[arg-type]

    def test_unknown_client_is_refused(self, invite: bytes) -> None:
        """A misspelt client name is an error, not a silently different shape."""
        with pytest.raises(ValueError, match="unknown client"):
            people.calendar_reply(
                invite, partstat="ACCEPTED", client="lotus", date=LATER, message_id="<x@y>"
            )


class TestForwardedAccept:
    def test_the_colleague_is_the_attendee(self, invite: bytes, token_address: str) -> None:
        """A colleague's answer to a forwarded invite names the colleague, not the invitee."""
        raw = people.forwarded_accept(
            invite, "kim.vermeersch@example.com", date=LATER, message_id="<fwd@example.com>"
        )
        msg = parse(raw)
        assert msg["From"].addresses[0].addr_spec == "kim.vermeersch@example.com"
        assert msg["To"].addresses[0].addr_spec == token_address
        (cal,) = calendars(msg)
        (event,) = cal.walk("VEVENT")
        (only,) = attendees(event)
        assert str(only) == "mailto:kim.vermeersch@example.com"
        assert only.params["PARTSTAT"] == "ACCEPTED"
        assert only.params["CN"] == "Kim Vermeersch"


class TestEvaluationReply:
    @pytest.mark.parametrize("style", people.STYLES)
    def test_answers_and_threads_to_the_request(
        self, style: str, request_mail: bytes, token_address: str
    ) -> None:
        """Each style carries every answer and goes back to the request's token address."""
        raw = people.evaluation_reply(
            request_mail, answers=ANSWERS, style=style, date=LATER, message_id="<ev@example.com>"
        )
        msg = parse(raw)
        assert msg["From"].addresses[0].addr_spec == "bert.claes@example.com"
        assert msg["To"].addresses[0].addr_spec == token_address
        assert msg["In-Reply-To"] == "<leernet.request@example.org>"
        assert "<leernet.request@example.org>" in msg["References"]
        assert msg["Subject"].lower().startswith("re: ")
        body = msg.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        for answer in ANSWERS.values():
            for line in answer.split("\n"):
                assert line in text
        assert "Hoe waardevol was deze sessie" in text  # the original is quoted

    def test_thunderbird_answers_under_each_quoted_question(self, request_mail: bytes) -> None:
        """Thunderbird users type each answer right below the quoted question."""
        raw = people.evaluation_reply(
            request_mail, answers=ANSWERS, style="thunderbird_inline", date=LATER,
            message_id="<tb@example.com>",
        )  # fmt: skip
        body = parse(raw).get_body(("plain",))
        assert body is not None
        lines = body.get_content().splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("> 3. Wat kan er beter"))
        assert lines[at + 1] == ANSWERS[3]
        assert body.get_param("format") == "flowed"

    def test_outlook_writes_windows_1252_until_a_character_does_not_fit(
        self, request_mail: bytes
    ) -> None:
        """Outlook's Western European default charset, and UTF-8 when an emoji needs it."""
        plain = people.evaluation_reply(
            request_mail, answers={1: "5"}, style="outlook_inline", date=LATER, message_id="<o@x>"
        )
        emoji = people.evaluation_reply(
            request_mail,
            answers={1: "5 🙂"},
            style="outlook_inline",
            date=LATER,
            message_id="<o@x>",
        )
        assert parse(plain).get_body(("plain",)).get_content_charset() == "windows-1252"  # type: ignore[union-attr]
        body = parse(emoji).get_body(("plain",))
        assert body is not None
        assert body.get_content_charset() == "utf-8"
        assert "5 🙂" in body.get_content()

    def test_unknown_style_is_refused(self, request_mail: bytes) -> None:
        """A misspelt style is an error."""
        with pytest.raises(ValueError, match="unknown style"):
            people.evaluation_reply(
                request_mail, answers={}, style="lotus", date=LATER, message_id="<x@y>"
            )


class TestAbsentReply:
    def test_says_afwezig_and_quotes_the_request(self, request_mail: bytes) -> None:
        """An absent participant answers "Afwezig" above the quoted request."""
        msg = parse(people.absent_reply(request_mail, date=LATER, message_id="<ab@example.com>"))
        body = msg.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert text.splitlines()[0] == "Afwezig"
        assert "> 1. Hoe waardevol" in text
        assert msg["In-Reply-To"] == "<leernet.request@example.org>"


class TestOutOfOffice:
    def test_exchange_automatic_reply(self, request_mail: bytes) -> None:
        """An out-of-office goes to the From (the service, not the token), marked automatic."""
        msg = parse(people.out_of_office(request_mail, date=LATER, message_id="<oof@example.com>"))
        assert msg["To"].addresses[0].addr_spec == SERVICE
        assert msg["From"].addresses[0].addr_spec == "bert.claes@example.com"
        assert msg["Subject"].startswith("Automatisch antwoord: ")
        assert msg["Auto-Submitted"] == "auto-replied"
        assert msg["X-Auto-Response-Suppress"] == "All"
        body = msg.get_body(("plain",))
        assert body is not None
        assert "afwezig" in body.get_content()


class TestBounce:
    def test_rfc3464_report(self, invite: bytes) -> None:
        """A DSN: a human part, a delivery-status part and the original's headers."""
        raw = people.bounce(
            invite, failed_recipient="bert.claes@example.com", reporting_mta="mx.example.org",
            date=LATER, message_id="<dsn@mx.example.org>",
        )  # fmt: skip
        msg = parse(raw)
        assert msg.get_content_type() == "multipart/report"
        assert msg.get_param("report-type") == "delivery-status"
        assert msg["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.example.org"
        assert msg["To"].addresses[0].addr_spec == SERVICE
        human, status, headers = msg.iter_parts()
        assert human.get_content_type() == "text/plain"
        assert status.get_content_type() == "message/delivery-status"
        blocks = status.get_payload()
        assert isinstance(blocks, list)
        per_message, per_recipient = blocks
        assert per_message["Reporting-MTA"] == "dns; mx.example.org"
        assert per_recipient["Final-Recipient"] == "rfc822; bert.claes@example.com"
        assert per_recipient["Action"] == "failed"
        assert per_recipient["Status"] == "5.1.1"
        assert per_recipient["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
        assert headers.get_content_type() == "text/rfc822-headers"
        assert b"Message-ID: <leernet.invite@example.org>" in raw


class TestStrangerMail:
    def test_a_plain_question_to_the_service(self) -> None:
        """A stranger writes to the service mailbox with no token and no thread."""
        raw = people.stranger_mail(
            sender="info@opleidingen-voorbeeld.example", to=SERVICE, date=LATER,
            message_id="<st@opleidingen-voorbeeld.example>",
        )  # fmt: skip
        msg = parse(raw)
        assert msg["From"].addresses[0].addr_spec == "info@opleidingen-voorbeeld.example"
        assert msg["To"].addresses[0].addr_spec == SERVICE
        assert msg["In-Reply-To"] is None
        body = msg.get_body(("plain",))
        assert body is not None
        assert "lerend netwerk" in body.get_content()


class TestRoundTrip:
    @pytest.mark.parametrize("client", people.CLIENTS)
    def test_calendar_replies_are_rsvps(
        self, client: str, invite: bytes, network: Network, context: Context
    ) -> None:
        """The service reads every client's answer as a verified RSVP for the right occurrence."""
        slot = moved_slot(network)
        raw = people.calendar_reply(
            invite, partstat="DECLINED", client=client, session_slot=slot,
            comment="Dan ben ik op opleiding.", date=LATER, message_id="<rt@example.com>",
        )  # fmt: skip
        result = classify(raw, context)
        assert result.outcome is Outcome.RSVP, result.reason
        assert result.itip is not None
        assert result.itip.recurrence_id == slot
        assert result.itip.comment == "Dan ben ik op opleiding."
        assert not result.stale

    def test_a_forwarded_accept_is_not_the_participant(
        self, invite: bytes, context: Context
    ) -> None:
        """A colleague's accept of a forwarded invite is not counted for the participant."""
        raw = people.forwarded_accept(
            invite, "kim.vermeersch@example.com", date=LATER, message_id="<fw@example.com>"
        )
        result = classify(raw, context)
        assert result.outcome is Outcome.REJECTED
        assert result.attention

    @pytest.mark.parametrize("style", people.STYLES)
    def test_evaluation_answers_are_read_back(
        self, style: str, request_mail: bytes, network: Network, context: Context
    ) -> None:
        """The answers a simulated participant gives are the answers the service records."""
        raw = people.evaluation_reply(
            request_mail, answers=ANSWERS, style=style, date=LATER, message_id="<rb@example.com>"
        )
        result = classify(raw, context)
        assert result.outcome is Outcome.EVALUATION, result.reason
        questions = views.session_questions(network, network.sessions[0])
        body = reply_text(email.message_from_bytes(raw, policy=compat32))
        parsed = parse_answers(body, questions, "nl")
        assert not parsed.absent
        assert dict(parsed.answers) == {
            "1": 4, "2": ANSWERS[2], "3": ANSWERS[3], "4": True, "5": ANSWERS[5],
        }  # fmt: skip

    def test_absent_is_read_as_absent(
        self, request_mail: bytes, network: Network, context: Context
    ) -> None:
        """An "Afwezig" answer is recorded as absent, with no answers."""
        raw = people.absent_reply(request_mail, date=LATER, message_id="<ab@example.com>")
        assert classify(raw, context).outcome is Outcome.EVALUATION
        questions = views.session_questions(network, network.sessions[0])
        parsed = parse_answers(
            reply_text(email.message_from_bytes(raw, policy=compat32)), questions
        )
        assert parsed.absent
        assert not parsed.answers

    def test_automatic_mail_and_strangers(
        self, invite: bytes, request_mail: bytes, context: Context
    ) -> None:
        """Out-of-office, bounce and a stranger are each recognised and never answered."""
        oof = classify(people.out_of_office(request_mail, date=LATER, message_id="<o@x>"), context)
        dsn = people.bounce(
            invite, failed_recipient="bert.claes@example.com", reporting_mta="mx.example.org",
            date=LATER, message_id="<d@x>",
        )  # fmt: skip
        bounced = classify(dsn, context)
        stranger = classify(
            people.stranger_mail(
                sender="a@elders.example", to=SERVICE, date=LATER, message_id="<s@x>"
            ),
            context,
        )
        assert oof.outcome is Outcome.AUTO_REPLY
        assert bounced.outcome is Outcome.BOUNCE
        assert bounced.bounced_recipients == ("bert.claes@example.com",)
        assert stranger.outcome is Outcome.UNKNOWN
        assert stranger.attention
        assert not any(c.answer_to_service for c in (oof, bounced, stranger))
