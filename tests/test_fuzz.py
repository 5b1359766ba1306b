"""Fuzzing the parsers with hypothesis: raw bytes and mail-shaped structures never raise or stall.

``LEERNET_RELIABILITY_FULL=1`` runs ten times as many examples.
"""

from __future__ import annotations

import email
import os
import time
from email.policy import compat32

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leernet.calendar.itip import ItipReply, read_reply
from leernet.errors import NetworkFileError
from leernet.mailer import headers as h
from leernet.mailer.tokens import participant_token, reply_address, token_from_address
from leernet.network.defaults import questions
from leernet.network.load import parse_network
from leernet.records.lookups import Candidate
from leernet.replies.answers import ParsedAnswers, new_text, parse_answers
from leernet.replies.classify import Classification, Context, Outcome, _classify, _read_message
from leernet.replies.mailtext import reply_text

SERVICE = "netwerk@example.org"
SECRET = "test-secret-not-for-production"
SLUG = "hr-ovl-2027"
TOKEN = participant_token(SECRET, SLUG, "p1@example.com")
CANDIDATE = Candidate(1, 1, SLUG, "p1@example.com", "P", f"leernet-{SLUG}@example.org", TOKEN)
CONTEXT = Context(SERVICE, "mx.example.org", lambda _t: CANDIDATE, lambda _m: CANDIDATE)
EXAMPLES = 3000 if os.environ.get("LEERNET_RELIABILITY_FULL") == "1" else 300
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
SLOW = 1.0  # seconds one message may take, whatever it holds

NAMES = st.sampled_from(
    [b"From", b"To", b"Cc", b"Subject", b"Message-ID", b"References", b"In-Reply-To",
     b"Content-Type", b"Content-Transfer-Encoding", b"Auto-Submitted", b"Return-Path",
     b"Authentication-Results", b"Precedence", b"Reply-To", b"MIME-Version", b"X-Autoreply"]
)  # fmt: skip
VALUES = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(
        [b"=?utf-8?q?=C3?=", b"=?x-unknown?b?AAAA?=", b"=?utf-8?b?!!!?=", b"a@b@c@example.com",
         b'"x" <@>, <>', b"multipart/mixed; boundary=x", b'text/plain; charset="bogus"',
         b"text/calendar; method=REPLY; charset=utf-16", b"base64", b"quoted-printable",
         reply_address(SERVICE, TOKEN).encode(), b"p1@example.com", b"<p1@example.com>",
         b"mx.example.org; dmarc=fail", b"auto-replied", b"multipart/report; report-type=x"]
    ),
)  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=400),
    st.sampled_from(
        [(b"--x\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n"
          b"BEGIN:VEVENT\r\nATTENDEE:mailto:p1@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n--x--"),
         b"1. 5\r\n2. =E9\r\n3. ja\r\n", b"QUJD\r\n====\r\n", b"--x\r\n\r\n--x--\r\n"]
    ),
)  # fmt: skip
MAILS = st.builds(
    lambda fields, body: b"".join(k + b": " + v + b"\r\n" for k, v in fields) + b"\r\n" + body,
    st.lists(st.tuples(NAMES, VALUES), max_size=14),
    BODIES,
)
ICAL_LINES = st.sampled_from(
    [b"BEGIN:VCALENDAR", b"END:VCALENDAR", b"BEGIN:VEVENT", b"END:VEVENT", b"METHOD:REPLY",
     b"UID:leernet-hr-ovl-2027@example.org", b"SEQUENCE:x", b"SEQUENCE:99999999999999999999",
     b"DTSTAMP:20270114T", b"RECURRENCE-ID;TZID=Nowhere/City:20270114T093000",
     b"RECURRENCE-ID;VALUE=DATE:2027011", b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:p1@example.com",
     b"ATTENDEE;PARTSTAT=:mailto:", b"ORGANIZER:mailto:", b"COMMENT:\\n\\,", b" folded",
     b"BEGIN:VTIMEZONE", b"END:VTIMEZONE", b"BEGIN:VALARM"]
)  # fmt: skip


def timed(fn: object, *args: object) -> object:
    start = time.perf_counter()
    result = fn(*args)  # type: ignore[operator]
    assert time.perf_counter() - start < SLOW
    return result


def inner_classify(raw: bytes, ctx: Context) -> Classification:
    """Classify without its catch-all: reading and classifying must not raise on their own."""
    read = _read_message(raw, ctx.max_bytes)
    return read if isinstance(read, Classification) else _classify(read, ctx)


class TestFuzzMail:
    @FUZZ
    @given(st.one_of(MAILS, st.binary(max_size=600)))
    def test_classify_never_raises_on_any_bytes(self, raw: bytes) -> None:
        """Any bytes at all get a classification with a reason, without an exception, in under a second."""
        result = timed(inner_classify, raw, CONTEXT)
        assert isinstance(result, Classification)
        assert result.reason
        if result.outcome in {Outcome.EVALUATION, Outcome.RSVP}:
            assert result.candidate is CANDIDATE

    @FUZZ
    @given(st.one_of(MAILS, st.binary(max_size=600)))
    def test_headers_and_body_readers_never_raise(self, raw: bytes) -> None:
        """The header helpers the processor uses and the body reader accept any mail."""
        msg = email.message_from_bytes(raw, policy=compat32)
        h.message_ids(msg)
        for address in h.recipient_addresses(msg):
            token_from_address(SERVICE, address)
        h.from_address(msg)
        h.dmarc_result(msg, "mx.example.org")
        h.decoded(h.header_text(msg, "Subject"))
        assert isinstance(timed(reply_text, msg), str)


class TestFuzzCalendar:
    @FUZZ
    @given(st.lists(ICAL_LINES, max_size=40))
    def test_read_reply_never_raises_on_calendar_shapes(self, lines: list[bytes]) -> None:
        """Calendar-shaped junk gives a REPLY or a problem, never an exception."""
        result = timed(read_reply, b"\r\n".join(lines) + b"\r\n")
        assert isinstance(result, ItipReply)

    @FUZZ
    @given(st.binary(max_size=800))
    def test_read_reply_never_raises_on_bytes(self, raw: bytes) -> None:
        """Random bytes give a problem, never an exception."""
        assert isinstance(timed(read_reply, raw), ItipReply)


class TestFuzzAnswers:
    @FUZZ
    @given(st.text(max_size=600), st.sampled_from(["nl", "en"]))
    def test_parse_answers_never_raises(self, text: str, language: str) -> None:
        """Any reply text gives answers (possibly none), never an exception."""
        result = timed(parse_answers, text, questions(language), language)
        assert isinstance(result, ParsedAnswers)
        assert isinstance(new_text(text, language), str)

    @FUZZ
    @given(
        st.lists(
            st.one_of(
                st.from_regex(r"\A[0-9]{1,3}[.)]\s?.{0,20}\Z"),
                st.sampled_from(["> 1. vraag", "afwezig", "Op do schreef:", "-- ", "ja", "5/5"]),
                st.text(max_size=30),
            ),
            max_size=40,
        )
    )
    def test_parse_answers_on_answer_shaped_lines(self, lines: list[str]) -> None:
        """Numbered, quoted and rating-shaped lines never make the answer reader raise."""
        result = timed(parse_answers, "\n".join(lines), questions("nl"), "nl")
        for number, value in result.answers.items():
            assert 1 <= int(number) <= len(questions("nl"))
            assert value is not None


TOML_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["a\u2028b", "x\r\ny", "\x00", "<script>", '"', "a@b@c.com", "Ω" * 300]),
)


class TestFuzzNetworkFile:
    @FUZZ
    @given(st.text(max_size=500))
    def test_any_text_is_a_network_or_a_network_file_error(self, text: str) -> None:
        """Any text is either a valid network or a NetworkFileError listing problems."""
        try:
            parse_network(text)
        except NetworkFileError as exc:
            problems = exc.problems
            assert problems

    @FUZZ
    @given(
        st.dictionaries(
            st.sampled_from(["name", "location", "title", "speaker", "email", "organiser", "goal"]),
            TOML_VALUES,
        )
    )
    def test_hostile_values_in_a_valid_shape(self, values: dict[str, str]) -> None:
        """Hostile values in every text field give a network or a NetworkFileError, nothing else."""
        from tests.reliability.harness import Person, network_toml  # noqa: PLC0415

        toml = network_toml(
            [Person(values.get("name", "Bert"), values.get("email", "p1@example.com"))],
            name=values.get("name", "Netwerk") or "Netwerk",
            location=values.get("location", ""),
            title=values.get("title", "Sessie"),
            speaker=values.get("speaker", ""),
            organiser_name=values.get("organiser", "An") or "An",
            goal=values.get("goal", ""),
        )
        try:
            network = parse_network(toml).network
        except NetworkFileError as exc:
            problems = exc.problems
            assert problems
            return
        for text in (network.name, network.organiser.name, *(s.title for s in network.sessions)):
            assert not any(c in text for c in "\r\n\x00\u2028\u2029")
