"""Input built to make parsing slow or unbounded is read with bounded, linear work."""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime
from email.policy import compat32
from typing import Any

import pytest
from dateutil import rrule as dateutil_rrule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leernet.calendar.itip import read_reply
from leernet.calendar.tzguard import MAX_CALENDAR_TRANSITIONS, MAX_TRANSITIONS
from leernet.network.model import Question, QuestionKind
from leernet.replies import classify as classify_module
from leernet.replies import mailtext
from leernet.replies.answers import new_text, parse_answers
from leernet.replies.classify import Context, Outcome, classify
from tests.linear import assert_linear

UID = "leernet-hr-ovl-2027@example.org"
ATTENDEE = "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bert.claes@example.com"
QUESTIONS = [
    Question(1, "Hoe waardevol was deze sessie voor jou?", QuestionKind.RATING),
    Question(2, "Wat neem je mee naar je eigen praktijk?", QuestionKind.TEXT),
    Question(3, "Wat kan er beter in een volgende sessie?", QuestionKind.TEXT),
]
STEP_LIMIT = 20_000  # dateutil occurrences one REPLY may cost; Outlook's zone needs 874


def zone(tzid: str, freq: str, *, observances: int = 1, extra: str = "") -> str:
    blocks = []
    for i in range(observances):
        kind = "STANDARD" if i % 2 == 0 else "DAYLIGHT"
        blocks.append(
            f"BEGIN:{kind}\r\nDTSTART:16010101T0{i % 10}0000\r\nTZOFFSETFROM:+0200\r\n"
            f"TZOFFSETTO:+0100\r\nRRULE:FREQ={freq}{extra}\r\nEND:{kind}\r\n"
        )
    return f"BEGIN:VTIMEZONE\r\nTZID:{tzid}\r\n{''.join(blocks)}END:VTIMEZONE\r\n"


def reply(vtimezone: str, tzid: str, *, attendee: str = ATTENDEE) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//evil//EN\r\nMETHOD:REPLY\r\n"
        f"{vtimezone}BEGIN:VEVENT\r\nUID:{UID}\r\nDTSTAMP:20270104T081243Z\r\n"
        f"RECURRENCE-ID;TZID={tzid}:20270211T093000\r\n{attendee}\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    ).encode()


class _TooMuch(Exception):  # noqa: N818 - a signal of the test, not an error
    pass


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every occurrence dateutil makes; stops a runaway expansion at STEP_LIMIT."""
    count = [0]
    real = dateutil_rrule.rrule._iter  # the one place every expansion passes

    def counted(self: Any) -> Iterator[datetime]:
        for occurrence in real(self):
            count[0] += 1
            if count[0] > STEP_LIMIT:
                raise _TooMuch
            yield occurrence

    monkeypatch.setattr(dateutil_rrule.rrule, "_iter", counted)
    return count


class TestVtimezone:
    @pytest.mark.parametrize("freq", ["HOURLY", "MINUTELY", "SECONDLY", "DAILY", "WEEKLY"])
    def test_sub_yearly_rules_of_a_known_zone_are_not_expanded(
        self, freq: str, steps: list[int]
    ) -> None:
        """A VTIMEZONE with FREQ=HOURLY/MINUTELY from 1601 is dropped for the zone its TZID names."""
        tzid = "Romance Standard Time"
        r = read_reply(reply(zone(tzid, freq, observances=2), tzid))
        assert steps[0] <= STEP_LIMIT
        assert r.problem is None
        # 2027-02-11 09:30 in Brussels (UTC+1), read in the known zone.
        assert r.recurrence_id == datetime(2027, 2, 11, 8, 30, tzinfo=UTC)

    @pytest.mark.parametrize("freq", ["HOURLY", "MINUTELY"])
    def test_sub_yearly_rules_of_an_unknown_zone_make_the_part_unreadable(
        self, freq: str, steps: list[int]
    ) -> None:
        """A VTIMEZONE nobody knows with MINUTELY rules is refused with a reason, never expanded."""
        tzid = "Evil Standard Time"
        r = read_reply(reply(zone(tzid, freq), tzid))
        assert steps[0] == 0
        assert r.problem is not None
        assert "not YEARLY" in r.problem

    def test_many_observances_are_not_expanded(self, steps: list[int]) -> None:
        """A VTIMEZONE with dozens of yearly observances is refused before any expansion."""
        tzid = "Many Standard Time"
        r = read_reply(reply(zone(tzid, "YEARLY;BYMONTH=3;BYDAY=-1SU", observances=40), tzid))
        assert steps[0] == 0
        assert r.problem is not None
        assert "observances" in r.problem

    @pytest.mark.parametrize(
        "extra",
        [
            ";BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYDAY=MO,TU,WE,TH,FR,SA,SU",
            ";BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
            ";COUNT=100000000",
            ";UNTIL=99991231T000000Z",
            ";INTERVAL=0;BYMONTH=3;BYDAY=-1SU",
            ";INTERVAL=-1;BYMONTH=3;BYDAY=-1SU",
        ],
        ids=["every-day", "by-hour", "count", "until-9999", "interval-0", "interval-negative"],
    )
    def test_yearly_rules_with_many_transitions_are_not_expanded(
        self, extra: str, steps: list[int]
    ) -> None:
        """A YEARLY rule that still makes thousands of transitions is refused, not expanded."""
        tzid = "Yearly Evil Time"
        r = read_reply(reply(zone(tzid, "YEARLY", extra=extra), tzid))
        assert steps[0] == 0
        assert r.problem is not None

    def test_many_zones_together_are_not_all_expanded(self, steps: list[int]) -> None:
        """Many acceptable VTIMEZONEs in one calendar stop at the calendar's budget."""
        rule = "YEARLY;BYMONTH=3;BYDAY=-1SU"
        zones = "".join(zone(f"Zone {i}", rule, observances=4) for i in range(20))
        r = read_reply(reply(zones, "Zone 19"))
        assert steps[0] <= MAX_CALENDAR_TRANSITIONS
        assert r.problem is not None
        assert "transitions" in r.problem

    def test_a_zone_named_with_unicode_case_tricks_is_seen(self, steps: list[int]) -> None:
        """“VTıMEZONE” and "ſTANDARD" upper-case to the real names in icalendar: checked too."""
        tzid = "Tricky Time"
        tricky = (
            zone(tzid, "MINUTELY")
            .replace("VTIMEZONE", "VTıMEZONE")
            .replace("STANDARD", "ſTANDARD")
            .replace("MINUTELY", "mınutely")
        )
        r = read_reply(reply(tricky, tzid))
        assert steps[0] == 0
        assert r.problem is not None

    def test_a_folded_rrule_is_seen(self, steps: list[int]) -> None:
        """An RRULE folded over lines (and blank lines) is read as icalendar unfolds it."""
        tzid = "Folded Time"
        folded = zone(tzid, "MINUTELY").replace("FREQ=MINUTELY", "FREQ=MIN\r\n\r\n UTELY")
        r = read_reply(reply(folded, tzid))
        assert steps[0] == 0
        assert r.problem is not None

    def test_outlook_zone_is_still_read(self, steps: list[int]) -> None:
        """Outlook's own yearly VTIMEZONE (1601..2038) is still expanded and used."""
        tzid = "Custom Outlook Name"
        rules = zone(tzid, "YEARLY;BYDAY=-1SU;BYMONTH=10").replace(
            "END:STANDARD\r\n",
            "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\n"
            "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n",
        )
        r = read_reply(reply(rules, tzid))
        assert r.problem is None
        assert r.recurrence_id == datetime(2027, 2, 11, 8, 30, tzinfo=UTC)
        assert steps[0] <= MAX_TRANSITIONS


class TestReplyText:
    def test_a_line_of_repeated_numbers_is_read_linearly(self) -> None:
        """A 74-character line of "1.1.1..." is read (as text), and 8x that line costs ~8x."""
        line = "1.1" * 25
        parsed = parse_answers(f"2. {line[:74]}\n", QUESTIONS)
        assert parsed.answers == {"2": line[:74]}
        assert_linear(lambda n: parse_answers("1.1" * n, QUESTIONS), 25)
        assert_linear(lambda n: parse_answers("1." * n, QUESTIONS), 37)
        assert_linear(lambda n: parse_answers("1 1 " * n, QUESTIONS), 20)
        # Many candidate numbers on one line (under the 2,000-character line cap).
        assert_linear(lambda n: parse_answers("1. x" + " 2" * n, QUESTIONS), 100)
        assert_linear(lambda n: parse_answers("1. x /" + " 2 /" * n, QUESTIONS), 60)
        assert_linear(lambda n: parse_answers("1 x" + " 2" * n, QUESTIONS), 100)
        assert_linear(lambda n: parse_answers("1. 4, " * n, QUESTIONS), 25)

    def test_an_answer_is_not_cut_at_twelve_characters(self) -> None:
        """“2. SESSIE1-GEDEELD” is read whole, not as "SESSIE1-GEDE"."""
        parsed = parse_answers("1. 4\n2. SESSIE1-GEDEELD\n", QUESTIONS)
        assert parsed.answers == {"1": 4, "2": "SESSIE1-GEDEELD"}

    def test_a_greeting_with_many_dots_is_read_linearly(self) -> None:
        """A reply ending in "groeten" and 40,000 dots is read, and 8x the dots costs ~8x."""
        assert parse_answers("1. 4\ngroeten" + "." * 40_000, QUESTIONS).answers == {"1": 4}
        assert mailtext.strip_signoff("1. 4\ngroeten" + "." * 100) == "1. 4"
        assert_linear(lambda n: mailtext.strip_signoff("groeten" + "." * n + "x"), 200)
        assert_linear(lambda n: mailtext.strip_signoff("groeten Bert" + "." * n + "x"), 200)
        assert_linear(lambda n: new_text("1. 4\ngroeten" + "." * n, "nl"), 200)


class TestHtml:
    @pytest.mark.parametrize(
        "unit",
        ['<a b="', "<a ", "<!--", "<![CDATA[", "<x", '<a b=">', "<!-- <b> ", "</", "<![CDATA[x>"],
        ids=[
            "open-quote",
            "open-tag",
            "open-comment",
            "cdata",
            "lt",
            "quote",
            "comment",
            "end",
            "cdata-gt",
        ],
    )
    def test_unfinished_tags_are_read_linearly(self, unit: str) -> None:
        """HTML full of unfinished tags (quadratic in Python's HTMLParser) costs ~8x for 8x."""
        assert isinstance(mailtext.html_to_text("x" + unit * 2000), str)
        assert_linear(lambda n: mailtext.html_to_text("x" + unit * n), 1000)

    def test_ordinary_html_is_read_as_before(self) -> None:
        """Tags, comments, quoted attributes and a lone "<" read as they always did."""
        html = (
            '<div id="x"><!--[if mso]><b>hidden</b><![endif]--><p class="a>b">1. 4</p>'
            "<p>2. a &lt; b < c</p><ol><li>ja</li></ol></div>"
        )
        assert mailtext.html_to_text(html) == "1. 4\n\n2. a < b < c\n\n1. ja"
        word = "<p><![if !supportLists]>1.<![endif]> 4</p><p><![>x</p>"
        assert mailtext.html_to_text(word) == "1. 4\n\n<![>x"

    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.text(alphabet="<>/!-?[]abcdpr \"'=&#;x\n", max_size=80))
    def test_any_tag_soup_is_read(self, html: str) -> None:
        """Any mix of tag characters is read to text; the parser never gives up half-way."""
        assert isinstance(mailtext.html_to_text(html), str)


def _punycode_mail(n: int, ctype: str) -> bytes:
    return (
        "From: karel@elders.example\r\nTo: netwerk@example.org\r\nSubject: x\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {ctype}; charset=punycode\r\n\r\na-" + "b" * n
    ).encode()


class TestCharsets:
    def test_a_punycode_label_is_read_linearly(self) -> None:
        """Text labelled charset=punycode (quadratic to decode: 51 s for 320 kB) is read linearly."""
        assert mailtext.decode_bytes(b"1. 4", "punycode") == "1. 4"
        assert_linear(lambda n: mailtext.decode_bytes(b"a-" + b"b" * n, "punycode"), 20_000)
        assert_linear(
            lambda n: mailtext.reply_text(
                email.message_from_bytes(_punycode_mail(n, "text/plain"), policy=compat32)
            ),
            20_000,
        )

    def test_a_punycode_calendar_is_classified_linearly(self) -> None:
        """A calendar part labelled charset=punycode costs linear time to find and classify."""
        ctx = Context("netwerk@example.org", "mx.example.org", lambda _: None, lambda _: None)
        assert classify(_punycode_mail(100, "text/calendar"), ctx).outcome == Outcome.UNKNOWN
        assert_linear(lambda n: classify(_punycode_mail(n, "text/calendar"), ctx), 20_000)

    def test_a_punycode_encoded_word_is_read_linearly(self) -> None:
        """A Subject of "=?punycode?q?...?=" is kept as written, in linear time."""
        ctx = Context("netwerk@example.org", "mx.example.org", lambda _: None, lambda _: None)

        def mail(n: int) -> bytes:
            subject = "=?punycode?q?a-" + "b" * n + "?="
            return f"From: karel@elders.example\r\nSubject: {subject}\r\n\r\nhallo".encode()

        assert classify(mail(10), ctx).subject.startswith("=?punycode?")
        assert_linear(lambda n: classify(mail(n), ctx), 10_000)

    def test_a_punycode_file_name_is_read_linearly(self) -> None:
        """An attachment name in RFC 2231 charset punycode costs linear time to classify."""
        ctx = Context("netwerk@example.org", "mx.example.org", lambda _: None, lambda _: None)

        def mail(n: int) -> bytes:
            return (
                "From: karel@elders.example\r\nMIME-Version: 1.0\r\n"
                'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                "Content-Type: application/octet-stream\r\n"
                f"Content-Disposition: attachment; filename*=punycode''a-{'b' * n}\r\n\r\n"
                "x\r\n--b--\r\n"
            ).encode()

        assert classify(mail(10), ctx).outcome == Outcome.UNKNOWN
        assert_linear(lambda n: classify(mail(n), ctx), 10_000)

    def test_an_ics_attachment_is_still_found(self) -> None:
        """A REPLY attached as "invite.ics" (also in RFC 2231 form) is still found by its name."""
        for disposition in (
            'attachment; filename="invite.ics"',
            "attachment; filename*=utf-8''invite.ics",
        ):
            raw = (
                "From: a@b.example\r\nMIME-Version: 1.0\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Disposition: {disposition}\r\n\r\nMETHOD:REPLY\r\n"
            ).encode()
            msg = email.message_from_bytes(raw, policy=compat32)
            data, is_reply = classify_module._calendar_part(msg)
            assert (data, is_reply) == (b"METHOD:REPLY\r\n", True)

    @pytest.mark.parametrize("ctype", ["text/plain", "text/calendar"])
    def test_an_rfc2231_charset_is_read_linearly(self, ctype: str) -> None:
        """A charset*= name declared in punycode costs linear time to read and classify."""
        ctx = Context("netwerk@example.org", "mx.example.org", lambda _: None, lambda _: None)

        def mail(n: int) -> bytes:
            return (
                "From: karel@elders.example\r\nMIME-Version: 1.0\r\n"
                f"Content-Type: {ctype}; charset*=punycode''a-{'b' * n}\r\n\r\n1. 4\r\n"
            ).encode()

        def read(n: int) -> None:
            classify(mail(n), ctx)
            mailtext.reply_text(email.message_from_bytes(mail(n), policy=compat32))

        text = mailtext.reply_text(email.message_from_bytes(mail(10), policy=compat32))
        assert text == ("1. 4\r\n" if ctype == "text/plain" else "")
        assert_linear(read, 10_000)
