"""The readable text of replies: MIME shapes, transfer encodings, charsets and HTML."""

from __future__ import annotations

import base64
import email
from email import policy
from email.message import EmailMessage, Message

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from leernet.replies.charsets import decode_bytes
from leernet.replies.html_text import OUTLOOK_SEPARATOR, _TextParser, html_to_text
from leernet.replies.mailtext import _texts, reply_text, unflow

POLICIES = pytest.mark.parametrize(
    "pol", [policy.compat32, policy.default], ids=["compat32", "default"]
)


def parse(raw: bytes, pol: policy.Policy) -> Message:
    return email.message_from_bytes(raw, policy=pol)


def single(body: bytes, ctype: str, cte: str = "8bit") -> bytes:
    return (
        b"From: Bert Claes <bert.claes@example.com>\nSubject: Re: Evaluatie\nMIME-Version: 1.0\n"
        b"Content-Type: " + ctype.encode() + b"\nContent-Transfer-Encoding: " + cte.encode()
        + b"\n\n" + body
    )  # fmt: skip


def multipart(subtype: str, *parts: bytes) -> bytes:
    out = (
        b"From: Bert Claes <bert.claes@example.com>\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/" + subtype.encode() + b'; boundary="XX"\n\n'
    )  # fmt: skip
    for part in parts:
        out += b"--XX\n" + part + b"\n"
    return out + b"--XX--\n"


class TestReplyText:
    @POLICIES
    def test_plain_preferred_over_html(self, pol: policy.Policy) -> None:
        """In multipart/alternative the text/plain part is the reply text."""
        raw = multipart(
            "alternative",
            b"Content-Type: text/plain; charset=utf-8\n\n1. 4 (plain)",
            b"Content-Type: text/html; charset=utf-8\n\n<div>1. 4 (html)</div>",
        )
        assert reply_text(parse(raw, pol)).strip() == "1. 4 (plain)"

    @POLICIES
    def test_html_used_when_plain_is_empty(self, pol: policy.Policy) -> None:
        """An empty text/plain alternative falls back to the HTML."""
        raw = multipart(
            "alternative",
            b"Content-Type: text/plain; charset=utf-8\n\n  \n",
            b"Content-Type: text/html; charset=utf-8\n\n<div>1. 4</div><div>4. ja</div>",
        )
        assert reply_text(parse(raw, pol)) == "1. 4\n4. ja"

    @POLICIES
    def test_base64_windows_1252(self, pol: policy.Policy) -> None:
        """Outlook's base64 windows-1252 text keeps é, € and curly quotes."""
        body = base64.encodebytes("2. Idee\u2019s voor caf\u00e9 \u20ac5".encode("cp1252"))
        raw = single(body, 'text/plain; charset="windows-1252"', "base64")
        assert reply_text(parse(raw, pol)).strip() == "2. Idee\u2019s voor caf\u00e9 \u20ac5"

    @POLICIES
    def test_quoted_printable_latin1(self, pol: policy.Policy) -> None:
        """Quoted-printable ISO-8859-1 text is decoded, soft line breaks joined."""
        raw = single(
            b"2. Het id=E9e van =E9=E9n lange=\nregel",
            "text/plain; charset=ISO-8859-1",
            "quoted-printable",
        )
        assert reply_text(parse(raw, pol)) == "2. Het idée van één langeregel"

    @POLICIES
    def test_latin1_label_with_windows_bytes(self, pol: policy.Policy) -> None:
        """Text labelled ISO-8859-1 but written in windows-1252 shows its curly quote."""
        raw = single(b"2. Bert\x92s idee", "text/plain; charset=iso-8859-1")
        assert reply_text(parse(raw, pol)) == "2. Bert\u2019s idee"

    @POLICIES
    def test_8bit_utf8(self, pol: policy.Policy) -> None:
        """Raw 8bit UTF-8 with stars and emoji survives both parsing policies."""
        raw = single("1. ★★★★☆ 😉".encode(), "text/plain; charset=utf-8")
        assert reply_text(parse(raw, pol)) == "1. ★★★★☆ 😉"

    @POLICIES
    @pytest.mark.parametrize(
        ("body", "charset", "text"),
        [
            ("3. caf\u00e9".encode(), "x-unknown-charset", "3. caf\u00e9"),
            ("3. caf\u00e9".encode("latin-1"), "x-unknown-charset", "3. caf\u00e9"),
            ("3. caf\u00e9".encode("latin-1"), "utf-8", "3. caf\u00e9"),
            (b"3. \xff\xfe\xfd\xfc", "", "3. \u00ff\u00fe\u00fd\u00fc"),
        ],
        ids=["unknown-utf8", "unknown-latin1", "wrong-utf8", "none"],
    )
    def test_unknown_or_wrong_charset(
        self, pol: policy.Policy, body: bytes, charset: str, text: str
    ) -> None:
        """An unknown or wrong charset falls back to UTF-8, then Latin-1, without error."""
        ctype = f"text/plain; charset={charset}" if charset else "text/plain"
        assert reply_text(parse(single(body, ctype), pol)) == text

    def test_mostly_utf8_keeps_utf8(self) -> None:
        """UTF-8 text with one stray byte keeps its UTF-8 reading with a replacement mark."""
        raw = ("2. één goed idee en nog veel meer tekst " * 3).encode() + b"\xff"
        assert decode_bytes(raw, "utf-8").startswith("2. één goed idee")

    @POLICIES
    def test_attachment_skipped(self, pol: policy.Policy) -> None:
        """A text file attached to the reply is not read as its text."""
        raw = multipart(
            "mixed",
            b"Content-Type: text/plain; charset=utf-8\n\n1. 4",
            b'Content-Type: text/plain; name="notes.txt"\nContent-Disposition: attachment; '
            b'filename="notes.txt"\n\n1. 1',
        )
        assert reply_text(parse(raw, pol)).strip() == "1. 4"

    @POLICIES
    def test_calendar_and_forwarded_message_skipped(self, pol: policy.Policy) -> None:
        """A text/calendar part and a forwarded message are not the reply's text."""
        raw = multipart(
            "mixed",
            b"Content-Type: text/calendar; method=REPLY; charset=utf-8\n\nBEGIN:VCALENDAR",
            b"Content-Type: message/rfc822\n\nSubject: old\nContent-Type: text/plain\n\n1. 1",
            b"Content-Type: text/plain; charset=utf-8\n\n4. ja",
        )
        assert reply_text(parse(raw, pol)).strip() == "4. ja"

    @POLICIES
    def test_apple_split_text_parts_joined(self, pol: policy.Policy) -> None:
        """Apple Mail's text parts around an inline image are joined in order."""
        raw = multipart(
            "mixed",
            b"Content-Type: text/plain; charset=us-ascii\n\n1. 4",
            b"Content-Type: image/png\nContent-Disposition: inline\n"
            b"Content-Transfer-Encoding: base64\n\niVBORw0KGgo=",
            b"Content-Type: text/plain; charset=us-ascii\n\n4. ja",
        )
        assert reply_text(parse(raw, pol)).split() == ["1.", "4", "4.", "ja"]

    @POLICIES
    def test_format_flowed_unwrapped(self, pol: policy.Policy) -> None:
        """Thunderbird's format=flowed soft breaks are joined, quotes kept apart."""
        body = (
            b"2. Een lang antwoord dat \nover twee regels loopt\n"
            b"> 1. Hoe waardevol was \n> deze sessie?\n"
        )
        raw = single(body, "text/plain; charset=UTF-8; format=flowed")
        assert reply_text(parse(raw, pol)).split("\n")[:2] == [
            "2. Een lang antwoord dat over twee regels loopt",
            "> 1. Hoe waardevol was deze sessie?",
        ]

    def test_flowed_delsp_and_signature(self) -> None:
        """With DelSp=yes the soft-break space goes; the "-- " separator stays a line."""
        assert unflow("een lan \ngwoord\n-- \nBert", delsp=True) == "een langwoord\n-- \nBert"

    def test_email_message_objects(self) -> None:
        """An EmailMessage built by the standard library is read like a parsed one."""
        msg = EmailMessage()
        msg.set_content("1. 5\n4. ja")
        msg.add_alternative("<p>1. 5</p>", subtype="html")
        assert reply_text(msg).strip() == "1. 5\n4. ja"

    @POLICIES
    def test_empty_and_non_text(self, pol: policy.Policy) -> None:
        """A message without any text part gives an empty string."""
        assert reply_text(parse(b"Subject: x\n\n", pol)) == ""
        raw = single(b"iVBORw0KGgo=", "image/png", "base64")
        assert reply_text(parse(raw, pol)) == ""


class TestHtmlToText:
    def test_block_elements_break_lines(self) -> None:
        """<br>, <div> and <li> each start a new line; a <p> is followed by a blank line."""
        html = "<p>1. 4</p><div>2. a<br>b</div><ul><li>x</li><li>y</li></ul>"
        assert html_to_text(html) == "1. 4\n\n2. a\nb\n- x\n- y"

    def test_hidden_parts_dropped(self) -> None:
        """Head, style and script never show up as text."""
        html = (
            "<html><head><title>T</title><style>p{}</style></head>"
            "<body><script>x()</script>1. 4</body>"
        )
        assert html_to_text(html) == "1. 4"

    def test_entities_unescaped(self) -> None:
        """Entities and non-breaking spaces become plain characters."""
        assert html_to_text("<p>Caf&eacute; &amp; co&nbsp;&lt;3 &#8364;</p>") == "Café & co <3 €"

    def test_outlook_numbered_list_keeps_numbers(self) -> None:
        """An answer list Outlook turned into <ol> keeps the numbers the participant typed."""
        assert (
            html_to_text('<ol start="1"><li>4</li><li>De checklist</li></ol>')
            == "1. 4\n2. De checklist"
        )

    def test_blockquote_becomes_quote_lines(self) -> None:
        """Gmail's and Apple's blockquotes become > lines so inline answers stay findable."""
        html = "<div>hoi</div><blockquote>1. Vraag<br>2. Vraag</blockquote><div>4</div>"
        assert html_to_text(html) == "hoi\n> 1. Vraag\n> 2. Vraag\n4"

    def test_outlook_word_html(self) -> None:
        """Word-made HTML (WordSection1, MsoNormal, o:p, &nbsp; paragraphs) reads line by line."""
        html = (
            "<div class=WordSection1><p class=MsoNormal>1.\n4<o:p></o:p></p>"
            "<p class=MsoNormal>&nbsp;<o:p></o:p></p><p class=MsoNormal>4. ja<o:p></o:p></p></div>"
        )
        assert html_to_text(html) == "1. 4\n\n4. ja"

    def test_outlook_web_reply_marker(self) -> None:
        """Outlook on the web's appendonsend marker becomes the separator above From:."""
        html = (
            '<div>1. 4</div><div id="appendonsend"></div><hr>'
            '<div id="divRplyFwdMsg"><b>From:</b> Lerend netwerk<br><b>Sent:</b> Thursday</div>'
        )
        assert html_to_text(html).split("\n") == [
            "1. 4",
            OUTLOOK_SEPARATOR,
            "From: Lerend netwerk",
            "Sent: Thursday",
        ]

    def test_broken_html_does_not_raise(self) -> None:
        """Unclosed and stray tags still give the text."""
        assert html_to_text("<div><p>1. 4<blockquote></div></p></blockquote></b><br></i>") == "1. 4"


class TestRobustness:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(raw=st.binary(max_size=2000), compat=st.booleans())
    def test_arbitrary_bytes_never_raise(self, raw: bytes, compat: bool) -> None:
        """Any bytes parsed as a message give a string, never an exception."""
        try:
            msg = email.message_from_bytes(
                raw, policy=policy.compat32 if compat else policy.default
            )
        except IndexError:
            reject()  # CPython's parser itself fails on some Content-Type values (policy=default)
        assert isinstance(reply_text(msg), str)
        plain, html = _texts(msg, 0, top=True)  # without reply_text's safety net
        assert isinstance(plain + html_to_text(html), str)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        ctype=st.sampled_from(
            ["text/plain", "text/html", "multipart/alternative", "multipart/mixed", "text/calendar"]
        ),
        params=st.text(alphabet="abc=;\"'*%-_ 0123456789utf", max_size=40),
        cte=st.sampled_from(["base64", "quoted-printable", "8bit", "7bit", "x-uue", "bogus", ""]),
        disposition=st.sampled_from(["", "attachment", "inline", "attachment; filename*=''%ff"]),
        body=st.binary(max_size=500),
        compat=st.booleans(),
    )
    def test_mail_shaped_messages_never_raise(
        self, ctype: str, params: str, cte: str, disposition: str, body: bytes, compat: bool
    ) -> None:
        """Mail-shaped messages with odd charsets, encodings and boundaries never raise."""
        raw = (
            f"Content-Type: {ctype}; charset={params}; boundary={params}\n"
            f"Content-Transfer-Encoding: {cte}\nContent-Disposition: {disposition}\n\n"
        ).encode() + body
        try:
            msg = email.message_from_bytes(
                raw, policy=policy.compat32 if compat else policy.default
            )
        except IndexError:
            # CPython's own parser (policy=default) raises on "charset=;0*": not ours to read.
            reject()
        assert isinstance(reply_text(msg), str)
        plain, html = _texts(msg, 0, top=True)  # without reply_text's safety net
        assert isinstance(plain + html_to_text(html), str)

    @settings(max_examples=200, deadline=None)
    @given(html=st.text(alphabet="<>/=\"' abcdivpbrlqoteh&;#x0123456789\n", max_size=300))
    def test_arbitrary_html_never_raises(self, html: str) -> None:
        """Any HTML-like text converts without an exception."""
        parser = _TextParser()  # without html_to_text's safety net
        parser.feed(html)
        parser.close()
        assert isinstance(parser.text(), str)
