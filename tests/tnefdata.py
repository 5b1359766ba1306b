"""Minimal TNEF streams shaped like Outlook's winmail.dat (MS-OXTNEF 2.1.3), built by hand.

Outlook writes attTnefVersion, attOemCodepage and attMessageClass first; that is
all a meeting response needs here. Used by the tests and to write the fixtures in
tests/data/replies/outlook_tnef_*.eml (``python -m tests.tnefdata``).
"""

from __future__ import annotations

import base64
import struct
import textwrap
import zlib
from email.header import Header
from pathlib import Path

SIGNATURE = 0x223E9F78
LVL_MESSAGE = 1


def attribute(attr_id: int, data: bytes, level: int = LVL_MESSAGE) -> bytes:
    """One TNEF attribute: level, id (type << 16 | name), length, data, checksum."""
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attr_id, len(data)) + data + struct.pack("<H", checksum)


def winmail(message_class: str, *, key: int = 0x1A2B) -> bytes:
    """A winmail.dat whose message class is ``message_class`` (e.g. IPM.Schedule.Meeting.Resp.Pos)."""
    return (
        struct.pack("<IH", SIGNATURE, key)
        + attribute(0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
        + attribute(0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
        + attribute(0x00078008, message_class.encode("ascii") + b"\x00")  # attMessageClass
    )


def outlook_mail(
    *,
    sender: str,
    to: str,
    subject: str,
    message_class: str | None,
    body: str = "",
    data: bytes | None = None,
) -> bytes:
    """An Outlook-shaped mail: a text/plain part and, if ``message_class``, a winmail.dat."""
    boundary = "_002_AM9PR02MB7283TNEF_"
    text = (
        f'--{boundary}\r\nContent-Type: text/plain; charset="us-ascii"\r\n'
        f"Content-Transfer-Encoding: 7bit\r\n\r\n{body}\r\n"
    )
    parts = [text]
    if message_class is not None:
        encoded = base64.b64encode(data or winmail(message_class)).decode()
        parts.append(
            f'--{boundary}\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\n'
            'Content-Disposition: attachment; filename="winmail.dat"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + "\r\n".join(textwrap.wrap(encoded, 76))
            + "\r\n"
        )
    head = (
        "Return-Path: <{s}>\r\n"
        "Authentication-Results: mx.example.org; dkim=pass header.d={d};"
        " dmarc=pass header.from={d}\r\n"
        'From: {s}\r\nTo: "Lerend netwerk" <{t}>\r\nSubject: {subj}\r\n'
        "Date: Mon, 4 Jan 2027 08:12:43 +0000\r\n"
        "Message-ID: <{h}.AM9PR02MB7283.eurprd02.prod.outlook.com>\r\n"
        "X-MS-Has-Attach:\r\nX-MS-TNEF-Correlator: <{h}@outlook.com>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
    ).format(
        s=sender,
        d=sender.partition("@")[2],
        t=to,
        subj=Header(subject, "utf-8").encode() if not subject.isascii() else subject,
        h=zlib.crc32(f"{sender}{subject}{message_class}".encode()),
    )
    return (head + "".join(parts) + f"--{boundary}--\r\n").encode("utf-8")


if __name__ == "__main__":
    from tests.test_classify import token

    corpus = Path(__file__).parent / "data" / "replies"
    bert, sofie = "bert.claes@example.com", "sofie.maes@example.com"
    cases = {
        "outlook_tnef_accept": (
            bert,
            "Geaccepteerd: Lerend netwerk werkbaar werk",
            "IPM.Schedule.Meeting.Resp.Pos",
        ),
        "outlook_tnef_decline_en": (
            sofie,
            "Declined: Lerend netwerk werkbaar werk",
            "IPM.Schedule.Meeting.Resp.Neg",
        ),
        "outlook_subject_accepted_no_calendar": (
            bert,
            "Accepted: Lerend netwerk werkbaar werk",
            None,
        ),
        "outlook_subject_accepte_fr": (sofie, "Accepté: Lerend netwerk werkbaar werk", None),
    }
    for name, (who, subject, klass) in cases.items():
        to = f"netwerk+{token(who)}@example.org"
        raw = outlook_mail(sender=who, to=to, subject=subject, message_class=klass)
        (corpus / f"{name}.eml").write_bytes(raw)
