"""How simulated participants answer an evaluation request, in four clients' shapes.

* ``gmail_top``: numbered answers above "Op do 14 jan. 2027 om 12:30 schreef ...:"
  and the request quoted with "> ".
* ``outlook_inline``: each answer typed under its question in Outlook's
  unquoted original, after the "Van:/Verzonden:/Aan:/Onderwerp:" block; HTML
  and text, windows-1252 when it fits (Outlook's default for Western Europe).
* ``thunderbird_inline``: "> 1. Hoe waardevol ..." quoted with format=flowed
  (RFC 3676), the answer on the lines below each question.
* ``apple_top``: "1) 5" lines, "Verzonden vanaf mijn iPhone", the quote.

Replies thread to the request (In-Reply-To and References, RFC 5322 3.6.4) and
go to its Reply-To, the participant's token address.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from leernet.demo import shapes as s

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from leernet.demo.shapes import Received

STYLES = ("gmail_top", "outlook_inline", "thunderbird_inline", "apple_top")


def evaluation_reply(
    request: bytes, *, answers: Mapping[int, str], style: str, date: datetime, message_id: str
) -> bytes:
    """The participant answers an evaluation request the way their mail client quotes it."""
    r = s.read(request)
    if style == "gmail_top":
        fresh = [f"{n}. {a}" for n, a in sorted(answers.items())]
        return _gmail_style(r, [*fresh, "", "Groetjes,", s.first_name(r.to_name, r.to_addr)],
                            date, message_id)  # fmt: skip
    if style == "apple_top":
        return _apple_style(r, answers, date, message_id)
    if style == "outlook_inline":
        return _outlook_style(r, answers, date, message_id)
    if style == "thunderbird_inline":
        return _thunderbird_style(r, answers, date, message_id)
    raise ValueError(f"unknown style {style!r}; one of {', '.join(STYLES)}")


def absent_reply(request: bytes, *, date: datetime, message_id: str) -> bytes:
    """“Afwezig”, a friendly line, and the request quoted below (Gmail)."""
    r = s.read(request)
    fresh = [
        "Afwezig",
        "",
        "Sorry, ik kon er deze keer niet bij zijn. Tot de volgende sessie!",
        "",
        "Groetjes,",
        s.first_name(r.to_name, r.to_addr),
    ]
    return _gmail_style(r, fresh, date, message_id)


def _reply_headers(r: Received, date: datetime, message_id: str, prefix: str = "Re: ") -> list[str]:
    return [
        f"From: {s.address(r.to_name, r.to_addr)}",
        f"To: {s.address(r.from_name, r.reply_to)}",
        s.subject_header(prefix + r.subject),
        s.date_header(date, local=True),
        f"Message-ID: {message_id}",
        *s.references(r),
        "MIME-Version: 1.0",
    ]


def _quoted(r: Received, marker: str = ">") -> list[str]:
    return [f"> {line}" if line else marker for line in s.lines(r.text.rstrip())]


def _divs(fresh: list[str]) -> str:
    return "".join(f"<div>{html.escape(line) or '<br>'}</div>" for line in fresh)


def _gmail_style(r: Received, fresh: list[str], date: datetime, message_id: str) -> bytes:
    who = f"{r.from_name} <{r.from_addr}>"
    attribution = f"Op {s.nl_gmail(r.date)} schreef {who}:"
    text = "\n".join([*fresh, "", attribution, "", *_quoted(r)]) + "\n"
    link = f'{html.escape(r.from_name)} &lt;<a href="mailto:{r.from_addr}">{r.from_addr}</a>&gt;'
    body_html = (
        f'<div dir="ltr">{_divs(fresh)}</div><br><div class="gmail_quote gmail_quote_container">'
        f'<div dir="ltr" class="gmail_attr">Op {s.nl_gmail(r.date)} schreef {link}:<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
        f'rgb(204,204,204);padding-left:1ex">{s.inner_html(r.html)}</blockquote></div>\n'
    )
    entity = s.multipart("alternative", "000000000000" + s.token(message_id, "g", 12), [
        s.text_part('text/plain; charset="UTF-8"', s.qp(text), "quoted-printable"),
        s.text_part('text/html; charset="UTF-8"', s.qp(body_html), "quoted-printable"),
    ])  # fmt: skip
    return s.message(_reply_headers(r, date, message_id), entity)


def _apple_style(r: Received, answers: Mapping[int, str], date: datetime, message_id: str) -> bytes:
    fresh = [f"{n}) {a}" for n, a in sorted(answers.items())]
    fresh += ["", "Verzonden vanaf mijn iPhone"]
    attribution = (
        f"Op {s.nl_apple(r.date)} heeft {r.from_name} <{r.from_addr}> het volgende geschreven:"
    )
    text = "\n".join([*fresh, "", f"> {attribution}", "> ", *_quoted(r, "> ")]) + "\n"
    body_html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
        f'<body>{_divs(fresh)}<div><br><blockquote type="cite"><div>{html.escape(attribution)}'
        f"</div><br>{s.inner_html(r.html)}</blockquote></div></body></html>"
    )
    headers = _reply_headers(r, date, message_id)
    headers[-1] = "MIME-Version: 1.0 (1.0)"
    headers.append("X-Mailer: iPhone Mail (22D82)")
    entity = s.multipart("alternative", f"Apple-Mail=_{s.uuid_like(message_id, 'a')}", [
        s.text_part("text/plain;\r\n\tcharset=utf-8", s.qp(text), "quoted-printable"),
        s.text_part("text/html;\r\n\tcharset=utf-8", s.qp(body_html), "quoted-printable"),
    ])  # fmt: skip
    return s.message(headers, entity)


def _with_answers(original: list[str], answers: Mapping[int, str]) -> tuple[list[str], set[int]]:
    """The original's lines with each answer typed under its question; the answers' indexes."""
    out: list[str] = []
    marked: set[int] = set()
    for line in original:
        out.append(line)
        number = s.question_number(line)
        if number is not None and number in answers:
            for answer_line in s.lines(answers[number]):
                marked.add(len(out))
                out.append(answer_line)
    return out, marked


def _outlook_style(
    r: Received, answers: Mapping[int, str], date: datetime, message_id: str
) -> bytes:
    me = s.first_name(r.to_name, r.to_addr)
    header = [
        f"Van: {r.from_name} <{r.from_addr}>",
        f"Verzonden: {s.nl_outlook(r.date)}",
        f"Aan: {r.to_name} <{r.to_addr}>",
        f"Onderwerp: {r.subject}",
    ]
    body, marked = _with_answers(s.lines(r.text.rstrip()), answers)
    top = ["Zie mijn antwoorden hieronder.", "", me, "", *header, ""]
    all_lines = top + body
    text = "\n".join(all_lines) + "\n"
    html_bytes = s.word_html(all_lines, frozenset(i + len(top) for i in marked))
    try:  # Outlook writes windows-1252 when every character fits, else UTF-8
        charset = "windows-1252"
        text_qp, html_qp = (
            s.qp(text, charset),
            s.qp(html_bytes.decode().replace("utf-8", charset), charset),
        )
    except UnicodeEncodeError:
        charset = "utf-8"
        text_qp, html_qp = s.qp(text), s.qp(html_bytes.decode())
    headers = [
        *_reply_headers(r, date, message_id, prefix="RE: "),
        f"Thread-Topic: {r.subject}",
        f"Thread-Index: AQHb{s.token(message_id, 'ti', 20)}==",
        "Accept-Language: nl-BE, en-US",
        "Content-Language: nl-BE",
        "X-MS-Has-Attach:",
        "X-MS-TNEF-Correlator:",
    ]
    entity = s.multipart("alternative", f"_000_{s.token(message_id, 'o', 40)}_", [
        s.text_part(f'text/plain; charset="{charset}"', text_qp, "quoted-printable"),
        s.text_part(f'text/html; charset="{charset}"', html_qp, "quoted-printable"),
    ])  # fmt: skip
    return s.message(headers, entity)


def _thunderbird_style(
    r: Received, answers: Mapping[int, str], date: datetime, message_id: str
) -> bytes:
    out = [f"Op {s.nl_thunderbird(r.date)} schreef {r.from_name}:"]
    for line in s.lines(r.text.rstrip()):
        out += s.flowed(line, "> ") if line else [">"]
        number = s.question_number(line)
        if number is not None and number in answers:
            out += [*s.lines(answers[number]), ""]
    headers = [
        *_reply_headers(r, date, message_id),
        "User-Agent: Mozilla Thunderbird",
        "Content-Language: nl",
        "Content-Type: text/plain; charset=UTF-8; format=flowed",
        "Content-Transfer-Encoding: 8bit",
    ]
    return s.message(headers, b"\r\n" + s.eight_bit("\n".join(out) + "\n"))
