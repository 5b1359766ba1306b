"""Classifying incoming mail and verifying senders (DESIGN: Replies are verified, No loops)."""

from __future__ import annotations

import base64
import dataclasses
import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import compat32
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leernet.calendar.itip import match_session
from leernet.mailer import headers
from leernet.mailer.compose import message_id
from leernet.mailer.tokens import participant_token
from leernet.records.lookups import Candidate
from leernet.replies import classify as classify_module
from leernet.replies.classify import Classification, Context, Outcome, classify
from tests.linear import assert_linear

SECRET, SLUG = "test-secret-not-for-production", "hr-ovl-2027"
SERVICE = "netwerk@example.org"
UID = "leernet-hr-ovl-2027@example.org"
ZONE = ZoneInfo("Europe/Brussels")
SLOTS = [
    (n + 1, (datetime(2027, 1, 14, 9, 30, tzinfo=ZONE) + timedelta(weeks=4 * n)).astimezone(UTC))
    for n in range(6)
]
PEOPLE = {
    "bert.claes@example.com": "Bert Claes",
    "sofie.maes@example.com": "Sofie Maes",
    "jan.peeters@example.be": "Jan Peeters",
    "els.wouters@example.net": "Els Wouters",
    "tom.janssens@example.com": "Tom Janssens",
    "nathalie.goossens@example.org": "Nathalie Goossens",
}
CORPUS = Path(__file__).parent / "data" / "replies"


def token(email: str) -> str:
    return participant_token(SECRET, SLUG, email)


def sent_message_id(email: str, kind: str = "invite") -> str:
    """The Message-ID of what we sent: the first invite (SEQUENCE 0) of ``leernet start``."""
    return message_id(f"{kind}/{SLUG}/{email}/0", "example.org", SECRET)


def context(sequence: int = 0, authserv_id: str = "mx.example.org") -> Context:
    candidates = {
        token(email): Candidate(n, 1, SLUG, email, name, UID, token(email), sequence)
        for n, (email, name) in enumerate(PEOPLE.items(), 1)
    }
    sent = {sent_message_id(c.email): c for c in candidates.values()}
    return Context(
        service_address=SERVICE,
        authserv_id=authserv_id,
        lookup_token=candidates.get,
        lookup_sent_message=sent.get,
        organiser_addresses=frozenset({"an.peeters@example.org"}),
    )


CTX = context()
BERT = "bert.claes@example.com"
BERT_TO = f"netwerk+{token(BERT)}@example.org"
AR_PASS = "mx.example.org; dkim=pass header.d=example.com; dmarc=pass header.from=example.com"


def calendar(
    attendees: tuple[str, ...] = (f"mailto:{BERT}",),
    *,
    partstat: str = "ACCEPTED",
    uid: str = UID,
    organizer: str | None = BERT_TO,
    extra: str = "",
) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "METHOD:REPLY", "BEGIN:VEVENT"]
    lines += [f"UID:{uid}", "DTSTAMP:20270104T081243Z", "SEQUENCE:0"]
    if organizer:
        lines.append(f"ORGANIZER:mailto:{organizer}")
    lines += [f"ATTENDEE;PARTSTAT={partstat}:{a}" for a in attendees]
    if extra:
        lines.append(extra)
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def mail(
    *,
    sender: str = f"Bert Claes <{BERT}>",
    to: str = f"Lerend netwerk <{BERT_TO}>",
    subject: str = "Re: Evaluatie sessie 1",
    body: str = "1. 4\r\n2. Veel geleerd\r\n",
    cal: str | None = None,
    extra: str = "",
    auth: str | None = AR_PASS,
) -> bytes:
    head = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <x1@example.com>\r\n"
    if auth:
        head = f"Authentication-Results: {auth}\r\n" + head
    head += extra + "MIME-Version: 1.0\r\n"
    if cal is None:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()
    encoded = base64.encodebytes(cal.encode()).decode()
    return (
        head
        + 'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        + "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body
        + "\r\n--b\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n"
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + encoded
        + "\r\n--b--\r\n"
    ).encode()


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.eml") if p.with_suffix(".expected.json").exists())


class TestCorpus:
    """Every real-client-shaped mail in tests/data/replies is classified as its sidecar says."""

    @pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
    def test_classified_as_expected(self, path: Path) -> None:
        """A corpus mail gets the outcome, participant, PARTSTAT, session and comment expected."""
        expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
        # Evaluation answers (*_eval_*) carry only the answers: they are verified replies.
        kind = expected.get("classification", "evaluation" if "_eval_" in path.stem else None)
        ctx = context(**expected.get("context", {}))
        result = classify(path.read_bytes(), ctx)
        assert result.outcome == kind, result.reason
        assert result.reason
        if "attention" in expected:
            assert result.attention is expected["attention"], result.reason
        if "answer_to_service" in expected:
            assert result.answer_to_service is expected["answer_to_service"]
        if "bounced" in expected:
            assert list(result.bounced_recipients) == expected["bounced"]
        if kind in (Outcome.RSVP, Outcome.EVALUATION):
            assert result.candidate is not None
        if kind == Outcome.RSVP:
            self.check_rsvp(result, expected)
        if kind in (Outcome.REJECTED, Outcome.UNKNOWN):
            assert result.answer_to_service is False

    def check_rsvp(self, result: Classification, expected: dict[str, object]) -> None:
        assert result.candidate is not None
        assert result.itip is not None
        assert result.candidate.email == expected["participant"]
        mine = [a for a in result.itip.attendees if a.email == expected["participant"]]
        assert [a.partstat for a in mine] == [expected["partstat"]]
        session = match_session(result.itip, SLOTS, ZONE)
        start = None if session is None else SLOTS[session - 1][1].astimezone(ZONE)
        assert (start and start.strftime("%Y-%m-%dT%H:%M")) == expected["recurrence"]
        assert result.itip.comment == expected["comment"]
        assert result.stale is expected.get("stale", False)

    def test_corpus_is_there(self) -> None:
        """The corpus covers every client and case the brief lists (at least 40 of them)."""
        names = {p.stem for p in corpus_files() if "_eval_" not in p.stem}
        assert len(names) >= 40
        for client in ("outlook", "owa", "gmail", "apple", "thunderbird", "android"):
            assert any(n.startswith(client) for n in names), client


class TestRules:
    def test_too_large(self) -> None:
        """A message over the size cap needs attention and is not parsed."""
        ctx = dataclasses.replace(CTX, max_bytes=100)
        result = classify(mail(), ctx)
        assert (result.outcome, result.attention) == (Outcome.UNKNOWN, True)

    def test_from_service(self) -> None:
        """Mail from the service's own address (or a plus variant) is never answered."""
        for sender in (SERVICE, BERT_TO, "Lerend netwerk <NETWERK@example.org>"):
            result = classify(mail(sender=sender), CTX)
            assert result.outcome == Outcome.UNKNOWN
            assert not result.answer_to_service
            assert not result.attention

    def test_auto_submitted(self) -> None:
        """Auto-Submitted other than 'no' is an automatic reply, even to a token address."""
        result = classify(mail(extra="Auto-Submitted: auto-replied\r\n"), CTX)
        assert result.outcome == Outcome.AUTO_REPLY
        assert not result.answer_to_service

    def test_auto_submitted_no(self) -> None:
        """Auto-Submitted: no is a person's mail (RFC 3834 5)."""
        assert classify(mail(extra="Auto-Submitted: no\r\n"), CTX).outcome == Outcome.EVALUATION

    @pytest.mark.parametrize(
        "extra",
        [
            "X-Autoreply: yes\r\n",
            "X-Autorespond: yes\r\n",
            "Precedence: bulk\r\n",
            "Precedence: junk\r\n",
            "Precedence: list\r\n",
            "List-Id: <hr.lists.example.com>\r\n",
            "List-Unsubscribe: <mailto:u@example.com>\r\n",
            "Return-Path: <>\r\n",
        ],
    )
    def test_automatic_headers(self, extra: str) -> None:
        """Responder and list headers, and a null envelope sender, mark automatic mail."""
        assert classify(mail(extra=extra), CTX).outcome == Outcome.AUTO_REPLY

    @pytest.mark.parametrize(
        "subject",
        [
            "Automatisch antwoord: Evaluatie",
            "Réponse automatique : Evaluatie",
            "Automatic reply: Evaluatie",
            "Out of Office: Evaluatie",
            "Abwesenheitsnotiz: Evaluatie",
        ],
    )
    def test_out_of_office_subjects(self, subject: str) -> None:
        """Out-of-office subjects in Dutch, French, English and German are automatic replies."""
        assert classify(mail(subject=subject), CTX).outcome == Outcome.AUTO_REPLY

    def test_afwezig_with_token_is_an_answer(self) -> None:
        """A participant who answers 'Afwezig' to the token address is giving an answer."""
        result = classify(mail(subject="Afwezig", body="afwezig\r\n"), CTX)
        assert result.outcome == Outcome.EVALUATION

    def test_afwezig_without_token_is_out_of_office(self) -> None:
        """An 'Afwezig' mail to the bare service address is an out-of-office reply."""
        result = classify(mail(subject="Afwezig", to=SERVICE), CTX)
        assert result.outcome == Outcome.AUTO_REPLY

    def test_automatic_calendar_reply_is_read_not_answered(self) -> None:
        """An iTIP REPLY a calendar server sent automatically counts, but is not answered."""
        result = classify(mail(cal=calendar(), extra="Auto-Submitted: auto-generated\r\n"), CTX)
        assert result.outcome == Outcome.RSVP
        assert not result.answer_to_service

    def test_evaluation(self) -> None:
        """A verified reply without a calendar is an evaluation answer and may be answered."""
        result = classify(mail(), CTX)
        assert result.outcome == Outcome.EVALUATION
        assert result.candidate is not None
        assert result.candidate.email == BERT
        assert result.answer_to_service

    def test_rsvp(self) -> None:
        """A verified iTIP REPLY is an RSVP with its PARTSTAT."""
        result = classify(mail(cal=calendar()), CTX)
        assert result.outcome == Outcome.RSVP
        assert result.itip is not None
        assert result.itip.attendees[0].partstat == "ACCEPTED"
        assert not result.attention

    def test_from_case_insensitive(self) -> None:
        """From is compared case-insensitively with the participant's address."""
        result = classify(mail(sender="BERT.Claes@EXAMPLE.com", cal=calendar()), CTX)
        assert result.outcome == Outcome.RSVP

    def test_organizer_may_be_the_bare_service(self) -> None:
        """ORGANIZER may be the service address itself, or absent."""
        for organizer in (SERVICE, None):
            result = classify(mail(cal=calendar(organizer=organizer)), CTX)
            assert result.outcome == Outcome.RSVP, result.reason

    def test_organizer_with_another_token(self) -> None:
        """An ORGANIZER carrying another participant's token is refused."""
        other = f"netwerk+{token('sofie.maes@example.com')}@example.org"
        result = classify(mail(cal=calendar(organizer=other)), CTX)
        assert result.outcome == Outcome.REJECTED

    def test_foreign_uid(self) -> None:
        """A REPLY to someone else's event is refused with the UID in the reason."""
        result = classify(mail(cal=calendar(uid="abc@google.com")), CTX)
        assert result.outcome == Outcome.REJECTED
        assert "UID" in result.reason

    def test_attendee_not_participant(self) -> None:
        """A REPLY whose ATTENDEE is someone else is refused."""
        result = classify(mail(cal=calendar(("mailto:pieter@example.com",))), CTX)
        assert result.outcome == Outcome.REJECTED
        assert result.attention

    def test_two_attendees(self) -> None:
        """A REPLY naming two ATTENDEEs is refused."""
        cal = calendar((f"mailto:{BERT}", "mailto:sofie.maes@example.com"))
        assert classify(mail(cal=cal), CTX).outcome == Outcome.REJECTED

    def test_delegated(self) -> None:
        """DELEGATED is recorded but needs the organiser's attention."""
        cal = calendar(partstat="DELEGATED")
        result = classify(mail(cal=cal), CTX)
        assert (result.outcome, result.attention) == (Outcome.RSVP, True)

    def test_stale_sequence(self) -> None:
        """A REPLY to an older SEQUENCE than the latest invite is flagged stale."""
        result = classify(mail(cal=calendar()), context(sequence=3))
        assert result.outcome == Outcome.RSVP
        assert result.stale
        assert "older" in result.reason

    def test_counter_needs_attention(self) -> None:
        """A calendar that is not a REPLY (a COUNTER proposal) needs attention."""
        cal = calendar().replace("METHOD:REPLY", "METHOD:COUNTER")
        result = classify(mail(cal=cal), CTX)
        assert (result.outcome, result.attention) == (Outcome.UNKNOWN, True)

    def test_application_ics_attachment(self) -> None:
        """A REPLY only attached as application/ics (quoted-printable) is still read."""
        raw = mail(cal=calendar()).replace(
            b"Content-Type: text/calendar; charset=utf-8; method=REPLY",
            b'Content-Type: application/ics; name="invite.ics"',
        )
        assert classify(raw, CTX).outcome == Outcome.RSVP

    def test_calendar_in_forwarded_message_does_not_count(self) -> None:
        """A REPLY inside a forwarded message (message/rfc822) is not the sender's answer."""
        inner = mail(cal=calendar()).decode()
        raw = (
            mail()
            .decode()
            .replace(
                "Content-Type: text/plain; charset=utf-8\r\n\r\n",
                'Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\n'
                "Content-Type: message/rfc822\r\n\r\n" + inner + "\r\n--o--\r\n",
                1,
            )
        )
        assert classify(raw.encode(), CTX).outcome == Outcome.EVALUATION

    def test_no_token_no_reference(self) -> None:
        """Mail without a token or a reference to our mail needs attention and no answer."""
        result = classify(mail(to=SERVICE), CTX)
        assert (result.outcome, result.attention, result.answer_to_service) == (
            Outcome.UNKNOWN,
            True,
            False,
        )

    def test_reference_fallback(self) -> None:
        """Without plus addressing, In-Reply-To naming our invite finds the participant."""
        extra = f"In-Reply-To: {sent_message_id(BERT)}\r\n"
        result = classify(mail(to=SERVICE, cal=calendar(organizer=None), extra=extra), CTX)
        assert result.outcome == Outcome.RSVP
        assert "reference" in result.reason

    def test_reference_fallback_checks_from(self) -> None:
        """The reference fallback still requires From to be the participant."""
        extra = f"References: <a@b> {sent_message_id(BERT)}\r\n"
        result = classify(mail(sender="x@evil.example", to=SERVICE, extra=extra), CTX)
        assert result.outcome == Outcome.REJECTED

    def test_token_in_delivered_to(self) -> None:
        """The token is also found in Delivered-To when To was rewritten."""
        extra = f"Delivered-To: {BERT_TO}\r\n"
        assert classify(mail(to=SERVICE, extra=extra), CTX).outcome == Outcome.EVALUATION

    def test_wrong_token(self) -> None:
        """A well-formed token that belongs to nobody is refused, never answered."""
        to = "netwerk+aaaaaaaaaaaaaaaaaaaaaaaaaa@example.org"
        result = classify(mail(to=to), CTX)
        assert (result.outcome, result.attention, result.answer_to_service) == (
            Outcome.REJECTED,
            True,
            False,
        )

    def test_other_participants_token(self) -> None:
        """Bert writing to Sofie's token address is refused (From does not match)."""
        to = f"netwerk+{token('sofie.maes@example.com')}@example.org"
        result = classify(mail(to=to), CTX)
        assert result.outcome == Outcome.REJECTED
        assert "does not match" in result.reason

    def test_organiser_without_token(self) -> None:
        """The organiser writing to the service needs attention, with a reason saying so."""
        result = classify(mail(sender="an.peeters@example.org", to=SERVICE), CTX)
        assert result.outcome == Outcome.UNKNOWN
        assert "organiser" in result.reason

    def test_dmarc_fail(self) -> None:
        """Our server's dmarc=fail refuses a reply whose From and token are right."""
        auth = "mx.example.org; dmarc=fail (p=REJECT) header.from=example.com"
        result = classify(mail(auth=auth), CTX)
        assert result.outcome == Outcome.REJECTED
        assert "dmarc=fail" in result.reason

    def test_dmarc_fail_in_a_second_own_header(self) -> None:
        """A fail in any of our server's Authentication-Results headers refuses the reply."""
        raw = mail(
            extra="Authentication-Results: mx.example.org; dmarc=fail header.from=example.com\r\n"
        )
        result = classify(raw, CTX)
        assert (result.outcome, result.attention) == (Outcome.REJECTED, True)

    @pytest.mark.parametrize(
        ("verdict", "outcome"),
        [
            ("temperror", Outcome.REJECTED),
            ("permerror", Outcome.REJECTED),
            ("none", Outcome.EVALUATION),
            ("pass", Outcome.EVALUATION),
        ],
    )
    def test_dmarc_errors_fail_safe(self, verdict: str, outcome: Outcome) -> None:
        """A DMARC error is not a pass (refused); a domain without a policy is read."""
        auth = f"mx.example.org (milter 2) ; dmarc={verdict} header.from=example.com"
        assert classify(mail(auth=auth), CTX).outcome == outcome

    def test_foreign_authserv_id_ignored(self) -> None:
        """A dmarc=fail from another server's Authentication-Results is not ours to trust."""
        auth = "mx.elders.example; dmarc=fail header.from=example.com"
        assert classify(mail(auth=auth), CTX).outcome == Outcome.EVALUATION

    def test_no_authserv_id_configured(self) -> None:
        """With no authserv-id configured, Authentication-Results are ignored."""
        auth = "mx.example.org; dmarc=fail header.from=example.com"
        assert classify(mail(auth=auth), context(authserv_id="")).outcome == Outcome.EVALUATION

    def test_bounce_dsn(self) -> None:
        """An RFC 3464 report names the failed recipient and is never answered."""
        raw = (
            b"From: MAILER-DAEMON@mx.example.org\r\nTo: netwerk@example.org\r\n"
            b"Subject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
            b"--r\r\nContent-Type: text/plain\r\n\r\nsorry\r\n"
            b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
            b"Final-Recipient: rfc822; Jan.Peeters@example.be\r\nAction: failed\r\n"
            b"Status: 5.1.1\r\n\r\n"
            b"--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            b"Message-ID: " + sent_message_id("jan.peeters@example.be").encode() + b"\r\n\r\n"
            b"--r--\r\n"
        )
        result = classify(raw, CTX)
        assert result.outcome == Outcome.BOUNCE
        assert result.bounced_recipients == ("jan.peeters@example.be",)
        assert not result.answer_to_service

    def test_bounce_without_reference_flags_nobody(self) -> None:
        """A bounce that returns no message we sent names nobody and is not put aside."""
        raw = mail(sender="postmaster@example.net", to=SERVICE, subject="Undeliverable: x", body="")
        result = classify(raw, CTX)
        assert (result.outcome, result.bounced_recipients) == (Outcome.BOUNCE, ())
        assert (result.attention, result.answer_to_service) == (False, False)

    def test_bounce_of_our_mail_naming_someone_else(self) -> None:
        """A bounce of our mail to Bert that names another address flags nobody and needs a person."""
        extra = f"In-Reply-To: {sent_message_id(BERT)}\r\nX-Failed-Recipients: sofie.maes@example.com\r\n"
        raw = mail(
            sender="MAILER-DAEMON@mx.example.org",
            to=SERVICE,
            subject="Undelivered Mail",
            extra=extra,
        )
        result = classify(raw, CTX)
        assert (result.outcome, result.bounced_recipients, result.attention) == (
            Outcome.BOUNCE,
            (),
            True,
        )

    def test_bounce_text_scan_skips_message_ids_and_mailfrom(self) -> None:
        """A non-standard bounce's quoted Message-ID and smtp.mailfrom are not failed recipients."""
        body = (
            "Delivery failed.\r\nMessage-ID: <bert.claes@example.com>\r\n"
            "Authentication-Results: mx; spf=pass smtp.mailfrom=bert.claes@example.com\r\n"
        )
        extra = f"In-Reply-To: {sent_message_id(BERT)}\r\n"
        raw = mail(
            sender="postmaster@example.net",
            to=SERVICE,
            subject="Undeliverable: x",
            body=body,
            extra=extra,
        )
        result = classify(raw, CTX)
        assert (result.outcome, result.bounced_recipients) == (Outcome.BOUNCE, ())

    @pytest.mark.parametrize("data", [b"", b"\x00\xff" * 100, b"From: \r\n\r\n", b"\r\n\r\n\r\n"])
    def test_junk(self, data: bytes) -> None:
        """Junk gets a reason and is never answered."""
        result = classify(data, CTX)
        assert result.reason
        assert not result.answer_to_service


class TestFromParsing:
    @pytest.mark.parametrize(
        ("value", "address"),
        [
            ("bert.claes@example.com", "bert.claes@example.com"),
            ("Bert Claes <Bert.Claes@Example.com>", "bert.claes@example.com"),
            ('"Claes, Bert" <bert.claes@example.com>', "bert.claes@example.com"),
            ("=?utf-8?q?Bert_Cla=C3=ABs?= <bert.claes@example.com>", "bert.claes@example.com"),
            ("Bert Claes (HR) <bert.claes@example.com>", "bert.claes@example.com"),
            ("bert.claes@example.com (Bert Claes)", "bert.claes@example.com"),
        ],
    )
    def test_accepted(self, value: str, address: str) -> None:
        """Plain From forms real clients write give their one address in lower case."""
        assert headers.strict_address(value) == address

    @pytest.mark.parametrize(
        "value",
        [
            "bert.claes@example.com, mallory@evil.example",
            "bert.claes@example.com@evil.example",
            "Claes, Bert <bert.claes@example.com>",
            "bert.claes@example.com <mallory@evil.example> <x@y.z>",
            "=?utf-8?q?bert.claes=40example.com?=",
            "=?utf-8?b?YmVydC5jbGFlc0BleGFtcGxlLmNvbQ==?=",
            "bert.claes@example.com <bert@evil.example",
            "friends: bert.claes@example.com;",
            '"bert"@example.com',
            "",
            "<>",
        ],
    )
    def test_refused(self, value: str) -> None:
        """Lists, groups, several @, encoded addresses and broken forms are refused."""
        assert headers.strict_address(value) is None

    def test_display_name_is_not_the_address(self) -> None:
        """A display name that looks like the participant does not make the mail theirs."""
        raw = mail(sender='"bert.claes@example.com" <bert@evil.example>')
        result = classify(raw, CTX)
        assert result.outcome == Outcome.REJECTED
        assert "bert@evil.example" in result.reason

    def test_googlemail_is_gmail(self) -> None:
        """gmail.com and googlemail.com are one mailbox; other domains are not equivalent."""
        assert headers.same_mailbox("bert.claes@googlemail.com", "Bert.Claes@gmail.com")
        assert not headers.same_mailbox("bert.claes@example.com", "bert.claes@example.be")
        assert not headers.same_mailbox("b.claes@gmail.com", "bert.claes@gmail.com")

    def test_dmarc_topmost_of_ours(self) -> None:
        """A fail in our topmost Authentication-Results is not outvoted by a pass below it."""
        msg = email.message_from_bytes(
            b"Authentication-Results: mx.example.org 1; dmarc=fail\r\n"
            b"Authentication-Results: mx.example.org; dmarc=pass\r\n\r\n",
            policy=compat32,
        )
        assert headers.dmarc_result(msg, "MX.example.org") == "fail"


# ---------------------------------------------------------------- properties

header_names = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Subject",
        "Auto-Submitted",
        "Precedence",
        "Return-Path",
        "Authentication-Results",
        "In-Reply-To",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Delivered-To",
        "List-Id",
    ]
)
header_values = st.one_of(
    st.text(max_size=80).map(lambda s: s.replace("\r", " ").replace("\n", " ")),
    st.sampled_from(
        [
            BERT,
            BERT_TO,
            SERVICE,
            "<>",
            'multipart/mixed; boundary="b"',
            "multipart/report; report-type=delivery-status; boundary=b",
            "text/calendar; method=REPLY",
            "base64",
            "quoted-printable",
            "mx.example.org; dmarc=fail",
            sent_message_id(BERT),
        ]
    ),
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"--b\r\nContent-Type: text/calendar\r\n\r\n" + calendar().encode() + b"--b--\r\n",
            b"--b\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--b--",
            b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
            calendar().encode(),
        ]
    ),
)


@st.composite
def email_like(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(header_names, header_values), max_size=12))
    head = "".join(f"{n}: {v}\r\n" for n, v in lines)
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + draw(bodies)


UNEXPECTED = "could not be classified"  # the safety net's reason: a bug if a test reaches it


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=3000))
    def test_never_raises_on_bytes(self, raw: bytes) -> None:
        """Any bytes are classified with a reason, never an exception."""
        assert classify(raw, CTX).reason
        assert not classify(raw, CTX).reason.startswith(UNEXPECTED)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(email_like())
    def test_never_raises_on_email_like(self, raw: bytes) -> None:
        """Arbitrary header and MIME combinations are classified, never an exception."""
        result = classify(raw, CTX)
        assert result.reason
        assert not result.reason.startswith(UNEXPECTED)
        if result.outcome not in (Outcome.RSVP, Outcome.EVALUATION):
            assert not result.answer_to_service

    @settings(max_examples=300, deadline=None)
    @given(
        st.one_of(
            st.text(max_size=60).map(lambda s: s.replace("\r", " ").replace("\n", " ")),
            st.emails().map(str),
            st.sampled_from(
                [
                    f'"{BERT}" <bert@evil.example>',
                    f"{BERT}@evil.example",
                    f"{BERT}, {BERT}",
                    f"=?utf-8?q?{BERT.replace('@', '=40')}?=",
                    f"<{BERT}> <bert@evil.example>",
                    f"{BERT} <bert@evil.example>",
                    f"bert@evil.example ({BERT})",
                ]
            ),
        ),
        st.booleans(),
    )
    def test_spoofed_from_is_never_trusted(self, sender: str, with_calendar: bool) -> None:
        """A From that is not exactly the participant never yields an RSVP or an evaluation."""
        if headers.strict_address(sender) in (BERT, "bert.claes@googlemail.com"):
            return  # that is the participant, not a spoof
        raw = mail(sender=sender, cal=calendar() if with_calendar else None)
        result = classify(raw, CTX)
        assert result.outcome not in (Outcome.RSVP, Outcome.EVALUATION), sender
        assert not result.answer_to_service


class TestCalendarAfterSender:
    """A calendar is parsed only once the sender is known to be a verified participant."""

    @pytest.fixture
    def parsed(self, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
        calls: list[bytes] = []
        real = classify_module.read_reply

        def counting(data: bytes) -> Any:
            calls.append(data)
            return real(data)

        monkeypatch.setattr(classify_module, "read_reply", counting)
        return calls

    def test_a_strangers_calendar_is_not_parsed(self, parsed: list[bytes]) -> None:
        """No token and no reference: the mail is unknown before its calendar is read."""
        raw = mail(to=f"Lerend netwerk <{SERVICE}>", cal=calendar())
        result = classify(raw, CTX)
        assert (result.outcome, parsed) == (Outcome.UNKNOWN, [])

    def test_a_forged_senders_calendar_is_not_parsed(self, parsed: list[bytes]) -> None:
        """A right token but another From is rejected before its calendar is read."""
        result = classify(mail(sender="mallory@evil.example", cal=calendar()), CTX)
        assert (result.outcome, parsed) == (Outcome.REJECTED, [])

    def test_a_participants_calendar_is_parsed_once(self, parsed: list[bytes]) -> None:
        """A verified participant's REPLY is read exactly once."""
        result = classify(mail(cal=calendar()), CTX)
        assert result.outcome == Outcome.RSVP
        assert len(parsed) == 1


def _with_attachment(size: int) -> bytes:
    pdf = base64.encodebytes(b"\x25\x50\x44\x46" * (size // 4)).decode()
    return (
        mail()
        .decode()
        .replace(
            "Content-Type: text/plain; charset=utf-8\r\n\r\n",
            'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\n'
            "Content-Type: text/plain\r\n\r\n1. 4\r\n--m\r\nContent-Type: application/pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + pdf + "\r\n--m--\r\n",
            1,
        )
        .encode()
    )


def _nested(levels: int) -> bytes:
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(levels)
    )
    closing = "".join(f"--b{i}--\r\n" for i in reversed(range(levels)))
    return (
        mail()
        .decode()
        .replace(
            "Content-Type: text/plain; charset=utf-8\r\n\r\n",
            opening + "Content-Type: text/plain\r\n\r\nhi\r\n" + closing,
            1,
        )
        .encode()
    )


def _many_parts(parts: int) -> bytes:
    body = "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * parts
    return (
        mail()
        .decode()
        .replace(
            "Content-Type: text/plain; charset=utf-8\r\n\r\n",
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + body + "--b--\r\n",
            1,
        )
        .encode()
    )


def _huge_from(n: int) -> bytes:
    return b"From: " + b"a " * n + b"<x@y.z>\r\nTo: " + BERT_TO.encode() + b"\r\n\r\nhi"


class TestLimits:
    def test_large_message_costs_like_its_size(self) -> None:
        """A 25 MB message with a big attachment is classified, in time linear in its size."""
        raw = _with_attachment(16 * 1024 * 1024)
        assert len(raw) > 20_000_000
        assert classify(raw, CTX).outcome == Outcome.EVALUATION
        assert_linear(lambda n: classify(_with_attachment(n), CTX), 2 * 1024 * 1024)

    def test_deep_nesting(self) -> None:
        """MIME nested 1000 levels deep does not blow the stack; 8000 levels cost no more per byte."""
        assert classify(_nested(1000), CTX).reason
        # The stdlib parser stops at the recursion limit, so deeper mail cannot cost more.
        assert_linear(lambda n: classify(_nested(n), CTX), 1000)

    def test_many_parts(self) -> None:
        """A message with hundreds of thousands of parts is refused before parsing."""
        result = classify(_many_parts(200_000), CTX)
        assert (result.outcome, result.attention) == (Outcome.UNKNOWN, True)
        assert_linear(lambda n: classify(_many_parts(n), CTX), 25_000)

    def test_huge_header(self) -> None:
        """A megabytes-long From header is refused, in time linear in its length."""
        assert classify(_huge_from(5_000_000), CTX).outcome == Outcome.UNKNOWN
        assert_linear(lambda n: classify(_huge_from(n), CTX), 625_000)


class TestForgedBounces:
    @settings(max_examples=200, deadline=None)
    @given(
        sender=st.sampled_from(
            ["MAILER-DAEMON@relay.example", "postmaster@example.com", "x@y.example"]
        ),
        subject=st.sampled_from(
            ["Undelivered Mail Returned to Sender", "Onbestelbaar: x", "failure notice"]
        ),
        failed=st.lists(st.sampled_from(sorted(PEOPLE)), min_size=1, max_size=3),
        reference=st.sampled_from(
            ["", "In-Reply-To: <guess@example.org>\r\n", "References: <a@b>\r\n"]
        ),
        dsn=st.booleans(),
    )
    def test_a_bounce_citing_nothing_we_sent_never_names_anyone(
        self, sender: str, subject: str, failed: list[str], reference: str, dsn: bool
    ) -> None:
        """However it names participants, a bounce that returns no message we sent flags nobody."""
        names = ", ".join(failed)
        head = f"From: {sender}\r\nTo: {SERVICE}\r\nSubject: {subject}\r\nReturn-Path: <>\r\n"
        head += f"X-Failed-Recipients: {names}\r\n{reference}MIME-Version: 1.0\r\n"
        if dsn:
            blocks = "".join(
                f"Final-Recipient: rfc822; {a}\r\nAction: failed\r\n\r\n" for a in failed
            )
            body = (
                'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
                f"--r\r\nContent-Type: text/plain\r\n\r\n{names}\r\n"
                f"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n{blocks}"
                "--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <leernet.0@example.org>\r\n\r\n--r--\r\n"
            )
        else:
            body = f"Content-Type: text/plain\r\n\r\n{names}: 550 user unknown\r\n"
        result = classify((head + body).encode(), CTX)
        assert result.bounced_recipients == ()
        assert not result.answer_to_service
