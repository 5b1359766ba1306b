"""Mail that is not a participant's answer: automatic replies, bounces, a stranger writing.

The service must recognise each (DESIGN "No loops") and never answer it:
an Exchange out-of-office (RFC 3834 Auto-Submitted), a Postfix delivery
status notification (RFC 3464 multipart/report) and a stranger's question to
the service mailbox.
"""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime, getaddresses
from typing import TYPE_CHECKING

from leernet.demo import shapes as s

if TYPE_CHECKING:
    from datetime import datetime


def out_of_office(received: bytes, *, date: datetime, message_id: str) -> bytes:
    """An Exchange automatic reply to the From of what arrived (the service, not the token)."""
    r = s.read(received)
    back = date + timedelta(days=9)
    name = r.to_name or s.first_name("", r.to_addr)
    text = (
        "Dag,\n\n"
        f"Bedankt voor je bericht. Ik ben afwezig tot en met {s.nl_day(back)} en lees mijn mail "
        "niet. Je bericht wordt niet doorgestuurd.\n"
        f"Voor dringende vragen kun je terecht bij onthaal@{r.to_addr.partition('@')[2]}.\n\n"
        f"Met vriendelijke groet,\n{name}\n"
    )
    headers = [
        f"From: {s.address(r.to_name, r.to_addr)}",
        f"To: {s.address(r.from_name, r.from_addr)}",
        s.subject_header(f"Automatisch antwoord: {r.subject}"),
        f"Thread-Topic: {r.subject}",
        s.date_header(date),
        f"Message-ID: {message_id}",
        *s.references(r),
        "Content-Language: nl-BE",
        # RFC 3834 5: an automatic reply says so; Exchange also asks others not to answer it.
        "Auto-Submitted: auto-replied",
        "X-Auto-Response-Suppress: All",
        f"X-MS-Exchange-Inbox-Rules-Loop: {r.to_addr}",
        "MIME-Version: 1.0",
    ]
    entity = s.multipart("alternative", f"_000_{s.token(message_id, 'oof', 40)}_", [
        s.text_part('text/plain; charset="utf-8"', s.qp(text), "quoted-printable"),
        s.text_part('text/html; charset="utf-8"', s.qp(s.word_html(s.lines(text)).decode()),
                    "quoted-printable"),
    ])  # fmt: skip
    return s.message(headers, entity)


def bounce(
    original: bytes, *, failed_recipient: str, reporting_mta: str, date: datetime, message_id: str
) -> bytes:
    """A Postfix-style RFC 3464 DSN: the recipient does not exist (5.1.1)."""
    r = s.read(original)
    sender = r.return_path or r.from_addr  # RFC 3464 2: the DSN goes to the envelope sender
    queue_id = s.token(message_id, "qid", 12).upper()
    remote = failed_recipient.partition("@")[2]
    human = (
        f"This is the mail system at host {reporting_mta}.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        f"<{failed_recipient}>: host mx.{remote}[198.51.100.7] said: 550 5.1.1\n"
        "    User unknown\n"
    )
    status = (
        f"Reporting-MTA: dns; {reporting_mta}\nX-Postfix-Queue-ID: {queue_id}\n"
        f"X-Postfix-Sender: rfc822; {sender}\n"
        f"Arrival-Date: {format_datetime((date - timedelta(seconds=4)).astimezone(s.BRUSSELS))}\n\n"
        f"Final-Recipient: rfc822; {failed_recipient}\n"
        f"Original-Recipient: rfc822;{failed_recipient}\nAction: failed\nStatus: 5.1.1\n"
        f"Remote-MTA: dns; mx.{remote}\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{failed_recipient}>: Recipient address rejected:"
        " user unknown\n"
    )
    block = r.header_block.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not r.return_path:
        block = f"Return-Path: <{sender}>\r\n".encode() + block
    headers = [
        s.date_header(date, local=True),
        f"From: MAILER-DAEMON@{reporting_mta} (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender",
        f"To: {sender}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
    ]
    boundary = f"{queue_id}.{int(date.timestamp())}/{reporting_mta}"
    entity = s.multipart(
        "report", boundary, [
            s.part(["Content-Description: Notification",
                    "Content-Type: text/plain; charset=us-ascii"], s.crlf(human).encode("ascii")),
            s.part(["Content-Description: Delivery report",
                    "Content-Type: message/delivery-status"], s.crlf(status).encode("ascii")),
            s.part(["Content-Description: Undelivered Message Headers",
                    "Content-Type: text/rfc822-headers"], block),
        ],
        params=" report-type=delivery-status;",
        preamble="This is a MIME-encapsulated message.\r\n",
    )  # fmt: skip
    # Postfix puts Content-Transfer-Encoding and Message-Id after the Content-Type.
    entity = entity.replace(
        b"\r\n\r\n",
        f"\r\nContent-Transfer-Encoding: 7bit\r\nMessage-Id: {message_id}\r\n\r\n".encode(),
        1,
    )
    return s.message(headers, entity)


def stranger_mail(*, sender: str, to: str, date: datetime, message_id: str) -> bytes:
    """Someone outside the network writes to the service mailbox: a trainer offering a session."""
    pairs = getaddresses([sender])
    name, addr = pairs[0] if pairs and pairs[0][1] else ("", sender)
    name = name or "Sanne De Smet"
    text = (
        "Goedemiddag,\n\n"
        "Via een klant hoorde ik over jullie lerend netwerk rond werkbaar werk. Wij verzorgen "
        "opleidingen over werkdruk en veerkracht en geven graag eens een sessie als externe "
        "spreker. Met wie mag ik daarvoor contact opnemen?\n\n"
        "Alvast bedankt!\n\n"
        f"Met vriendelijke groeten,\n{name}\nOpleidingen Voorbeeld bv\n+32 9 123 45 67\n"
    )
    headers = [
        f"From: {s.address(name, addr)}",
        f"To: {to}",
        s.subject_header("Vraag over jullie lerend netwerk"),
        s.date_header(date, local=True),
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Content-Language: nl-BE",
    ]
    entity = s.multipart("alternative", s.token(message_id, "st"), [
        s.text_part('text/plain; charset="utf-8"', s.qp(text), "quoted-printable"),
        s.text_part('text/html; charset="utf-8"', s.qp(s.word_html(s.lines(text)).decode()),
                    "quoted-printable"),
    ])  # fmt: skip
    return s.message(headers, entity)
