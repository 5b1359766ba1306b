"""Builds the organiser corpus in tests/data/organiser/ (run: ``uv run python -m tests.organiser_corpus``).

Each mail is written by hand in the shape its client sends (headers, MIME
structure, the iCalendar lines and their order); only the participant list
inside it is made with openpyxl/csv here, because an xlsx is a zip. The series
is the same in every mail: six Thursdays every two weeks from 11 February 2027,
09:30-12:00, across the change to summer time on 28 March; 11 March is cancelled
(EXDATE) and 8 April moves to Friday 9 April 13:30-16:00 (an override).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).parent / "data" / "organiser"

PEOPLE = [
    ("Bert", "Claes", "bert.claes@example.com", "Els Wouters", "els.wouters@example.com", 46553),
    ("Sofie", "Maes", "sofie.maes@example.com", "Els Wouters", "els.wouters@example.com", 46560),
    ("René", "Peeters", "rene.peeters@example.com", "Marc Dubois", "marc.dubois@example.com", None),
    (
        "Zoë",
        "Janssens",
        "zoe.janssens@example.com",
        "Marc Dubois",
        "marc.dubois@example.com",
        46570,
    ),
    ("Tom", "Willems", "tom.willems@example.com", "Els Wouters", "els.wouters@example.com", None),
    (
        "Lotte",
        "Goossens",
        "lotte.goossens@example.com",
        "Inge Mertens",
        "inge.mertens@example.com",
        None,
    ),
    (
        "Jonas",
        "Wouters",
        "jonas.wouters@example.com",
        "Inge Mertens",
        "inge.mertens@example.com",
        46580,
    ),
    (
        "Nora",
        "El Amrani",
        "nora.elamrani@example.com",
        "Inge Mertens",
        "inge.mertens@example.com",
        None,
    ),
    (
        "Pieter",
        "De Smet",
        "pieter.desmet@example.com",
        "Marc Dubois",
        "marc.dubois@example.com",
        None,
    ),
    (
        "Hanne",
        "Vermeulen",
        "hanne.vermeulen@example.com",
        "Els Wouters",
        "els.wouters@example.com",
        None,
    ),
    ("Kobe", "Jacobs", "kobe.jacobs@example.com", "", "", None),
    (
        "Amira",
        "Haddad",
        "amira.haddad@example.com",
        "Inge Mertens",
        "inge.mertens@example.com",
        None,
    ),
]


def participants_xlsx() -> bytes:
    """Outlook's attachment: Dutch headers, first and last name apart, growth dates as serials."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "Deelnemers"
    ws.append(
        [
            "Voornaam",
            "Achternaam",
            "E-mail",
            "Leidinggevende",
            "E-mail leidinggevende",
            "Groeigesprek",
        ]
    )
    for row in PEOPLE:
        ws.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def participants_csv() -> bytes:
    """Google/Apple/Thunderbird's attachment: Excel's semicolon CSV in Windows-1252."""
    lines = ["Naam;E-mail;Leidinggevende;E-mail leidinggevende;Groeigesprek"]
    for first, last, email, mname, memail, serial in PEOPLE:
        growth = ""
        if serial is not None:
            from datetime import date, timedelta  # noqa: PLC0415

            growth = (date(1899, 12, 30) + timedelta(days=serial)).strftime("%d/%m/%Y")
        lines.append(f"{first} {last};{email};{mname};{memail};{growth}")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def b64(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return "\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def crlf(text: str) -> str:
    return text.strip("\n").replace("\n", "\r\n") + "\r\n"


OUTLOOK_TZ = """BEGIN:VTIMEZONE
TZID:Romance Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE"""

OUTLOOK_UID = "040000008200E00074C5B7101A82E0080000000060A4C2D1E95ADB01000000000000000010000000C3B8AE3E2F6D4A4C8E2E3C1F0B8B6E21"

OUTLOOK_DESCRIPTION = (
    "Doel: samen werkbaar werk in onze teams versterken\\, van elkaar leren en goede praktijken"
    " delen.\\n\\nWe komen zes keer samen. Breng een vraag uit je eigen praktijk mee.\\n\\n"
    "________________________________________________________________________________\\n"
    "Microsoft Teams-vergadering\\nDeelnemen op je computer\\, mobiele app of ruimteapparaat\\n"
    "Klik hier om deel te nemen aan de vergadering<https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ1@thread.v2/0>\\n"
    "________________________________________________________________________________\\n"
)


def outlook_event(sequence: int, extra: str = "", exdates: str = "20270311T093000") -> str:
    return f"""BEGIN:VEVENT
ORGANIZER;CN=An Peeters:mailto:an.peeters@example.com
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Lerend netwerk:mailto:netwerk@example.org
DESCRIPTION;LANGUAGE=nl-BE:{OUTLOOK_DESCRIPTION}
RRULE:FREQ=WEEKLY;COUNT=6;INTERVAL=2;BYDAY=TH;WKST=MO
EXDATE;TZID=Romance Standard Time:{exdates}
UID:{OUTLOOK_UID}
SUMMARY;LANGUAGE=nl-BE:Lerend netwerk werkbaar werk
DTSTART;TZID=Romance Standard Time:20270211T093000
DTEND;TZID=Romance Standard Time:20270211T120000
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:20270104T081243Z
TRANSP:OPAQUE
STATUS:CONFIRMED
SEQUENCE:{sequence}
LOCATION;LANGUAGE=nl-BE:Wetstraat 34\\, Brussel
X-MICROSOFT-CDO-APPT-SEQUENCE:{sequence}
X-MICROSOFT-CDO-OWNERAPPTID:2123456789
X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE
X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY
X-MICROSOFT-CDO-ALLDAYEVENT:FALSE
X-MICROSOFT-CDO-IMPORTANCE:1
X-MICROSOFT-CDO-INSTTYPE:1
X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ1@thread.v2/0
X-MICROSOFT-SCHEDULINGSERVICEUPDATEURL:https://api.scheduler.teams.microsoft.com/teams/abc/def
X-MICROSOFT-DONOTFORWARDMEETING:FALSE
X-MICROSOFT-DISALLOW-COUNTER:FALSE
X-MICROSOFT-REQUESTEDATTENDANCEMODE:DEFAULT
X-MICROSOFT-ISRESPONSEREQUESTED:TRUE
X-MICROSOFT-LOCATIONS:[{{"DisplayName":"Wetstraat 34, Brussel","LocationAnnotation":"","LocationSource":0,"Unresolved":true,"LocationUri":""}}]
BEGIN:VALARM
DESCRIPTION:REMINDER
TRIGGER;RELATED=START:-PT15M
ACTION:DISPLAY
END:VALARM
END:VEVENT
{extra}"""


def outlook_override(sequence: int, rid: str, start: str, end: str) -> str:
    return f"""BEGIN:VEVENT
ORGANIZER;CN=An Peeters:mailto:an.peeters@example.com
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Lerend netwerk:mailto:netwerk@example.org
DESCRIPTION;LANGUAGE=nl-BE:{OUTLOOK_DESCRIPTION}
RECURRENCE-ID;TZID=Romance Standard Time:{rid}
UID:{OUTLOOK_UID}
SUMMARY;LANGUAGE=nl-BE:Lerend netwerk werkbaar werk
DTSTART;TZID=Romance Standard Time:{start}
DTEND;TZID=Romance Standard Time:{end}
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:20270104T081243Z
TRANSP:OPAQUE
STATUS:CONFIRMED
SEQUENCE:{sequence}
LOCATION;LANGUAGE=nl-BE:Wetstraat 34\\, Brussel
X-MICROSOFT-CDO-APPT-SEQUENCE:{sequence}
X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE
X-MICROSOFT-CDO-INSTTYPE:3
X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ1@thread.v2/0
END:VEVENT"""


def outlook_calendar(method: str, events: str) -> str:
    return crlf(
        f"""BEGIN:VCALENDAR
METHOD:{method}
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
{OUTLOOK_TZ}
{events.strip()}
END:VCALENDAR"""
    )


def outlook_mail(
    subject: str, method: str, calendar: str, attachment: bytes | None, msgid: str
) -> str:
    boundary = "_004_AM9PR02MB7283F1A2B3C4D5E6AM9PR02MB7283eurp_"
    alt = "_000_AM9PR02MB7283F1A2B3C4D5E6AM9PR02MB7283eurp_"
    head = f"""Return-Path: <an.peeters@example.com>
Delivered-To: netwerk@example.org
Received: from mail-am6eur05on2071.outbound.protection.outlook.com (mail-am6eur05on2071.outbound.protection.outlook.com [192.0.2.25])
	by mx.example.org (Postfix) with ESMTPS id 4Yb7Kq0Z3Hz9rxM
	for <netwerk@example.org>; Mon, 04 Jan 2027 09:12:44 +0100 (CET)
Authentication-Results: mx.example.org;
	dkim=pass header.d=example.com header.s=selector1 header.b=Qz81kL2p;
	spf=pass (mx.example.org: domain of sender designates 192.0.2.25 as permitted sender) smtp.mailfrom=example.com;
	dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=example.com
From: An Peeters <an.peeters@example.com>
To: Lerend netwerk <netwerk@example.org>
Subject: {subject}
Thread-Topic: Lerend netwerk werkbaar werk
Thread-Index: AdtfE2b1c2VjcmV0IHRocmVhZCBpbmRleA==
Date: Mon, 4 Jan 2027 08:12:43 +0000
Message-ID: <{msgid}>
Accept-Language: nl-BE, en-US
Content-Language: nl-BE
X-MS-Exchange-Organization-AuthAs: Internal
X-MS-Has-Attach: {"yes" if attachment else ""}
X-MS-TNEF-Correlator:
X-MS-Exchange-Organization-SCL: -1
X-Mailer: Microsoft Outlook 16.0
MIME-Version: 1.0
"""
    text = "Hallo,\r\n\r\nHierbij de reeks voor ons lerend netwerk, met de deelnemerslijst.\r\n\r\nAn\r\n"
    body = f"""--{alt}
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

{b64(text.encode())}

--{alt}
Content-Type: text/calendar; charset="utf-8"; method={method}
Content-Transfer-Encoding: base64

{b64(calendar.encode())}

--{alt}--
"""
    if attachment is None:
        return head + f'Content-Type: multipart/alternative;\n\tboundary="{alt}"\n\n' + body
    return (
        head
        + f'Content-Type: multipart/mixed;\n\tboundary="{boundary}"\n\n'
        + f"""--{boundary}
Content-Type: multipart/alternative;
	boundary="{alt}"

{body}
--{boundary}
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
	name="deelnemers werkbaar werk.xlsx"
Content-Description: deelnemers werkbaar werk.xlsx
Content-Disposition: attachment;
	filename="deelnemers werkbaar werk.xlsx"; size={len(attachment)};
	creation-date="Mon, 04 Jan 2027 08:10:02 GMT";
	modification-date="Mon, 04 Jan 2027 08:10:02 GMT"
Content-Transfer-Encoding: base64

{b64(attachment)}

--{boundary}--
"""
    )


GOOGLE_TZ = """BEGIN:VTIMEZONE
TZID:Europe/Brussels
X-LIC-LOCATION:Europe/Brussels
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:GMT+2
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:GMT+1
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""

GOOGLE_DESCRIPTION = (
    "Samen werkbaar werk in onze teams versterken en van elkaar leren.\\n\\nBreng een vraag"
    " mee uit je eigen praktijk.\\n\\n-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:"
    "~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-\\nDeelnemen met Google Meet: https://meet.go"
    "ogle.com/abc-defg-hij\\n\\nMeer informatie over Meet: https://support.google.com/a/users/ans"
    "wer/9282720\\n\\nNiet bewerken.\\n-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~"
    ":~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-"
)


def google_calendar() -> str:
    common = (
        """DTSTAMP:20270104T081243Z
ORGANIZER;CN=An Peeters:mailto:an.peeters@example.com
UID:5k2v8q1c3m0r9t7e6d4b2a1n0p@google.com
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE
 ;CN=An Peeters;X-NUM-GUESTS=0:mailto:an.peeters@example.com
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=
 TRUE;CN=netwerk@example.org;X-NUM-GUESTS=0:mailto:netwerk@example.org
X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij
X-MICROSOFT-CDO-OWNERAPPTID:-1432198765
CREATED:20270104T080512Z
DESCRIPTION:"""
        + GOOGLE_DESCRIPTION
        + """
LAST-MODIFIED:20270104T081243Z
LOCATION:Wetstraat 34\\, 1040 Brussel\\, België
STATUS:CONFIRMED
SUMMARY:Lerend netwerk werkbaar werk
TRANSP:OPAQUE"""
    )
    return crlf(
        f"""BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:REQUEST
{GOOGLE_TZ}
BEGIN:VEVENT
DTSTART;TZID=Europe/Brussels:20270211T093000
DTEND;TZID=Europe/Brussels:20270211T120000
RRULE:FREQ=WEEKLY;WKST=MO;UNTIL=20270422T215959Z;INTERVAL=2;BYDAY=TH
EXDATE;TZID=Europe/Brussels:20270311T093000
{common}
SEQUENCE:0
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:This is an event reminder
TRIGGER:-P0DT0H10M0S
END:VALARM
END:VEVENT
BEGIN:VEVENT
DTSTART;TZID=Europe/Brussels:20270409T133000
DTEND;TZID=Europe/Brussels:20270409T160000
{common}
RECURRENCE-ID:20270408T073000Z
SEQUENCE:0
END:VEVENT
END:VCALENDAR"""
    )


def google_mail(
    calendar: str,
    attachment: bytes | None,
    subject: str = "Uitnodiging: Lerend netwerk werkbaar werk @ Om de 2 weken van 09:30 tot 12:00 op donderdag van do 11 feb 2027 tot do 22 apr 2027 (CET) (netwerk@example.org)",
    method: str = "REQUEST",
) -> str:
    mixed, alt = "000000000000a7c4e0061f3c5d2b", "000000000000a7c4df061f3c5d29"
    plain = (
        "Je bent uitgenodigd voor de volgende terugkerende afspraak.\r\n\r\n"
        "Lerend netwerk werkbaar werk\r\nOm de 2 weken op donderdag van 9:30 tot 12:00 van 11 feb"
        " tot 22 apr 2027 (Midden-Europese standaardtijd - Brussel)\r\n"
    )
    return f"""Return-Path: <an.peeters@example.com>
Delivered-To: netwerk@example.org
Received: from mail-sor-f41.google.com (mail-sor-f41.google.com [192.0.2.26])
	by mx.example.org (Postfix) with ESMTPS id 4Yb7Kq0Z3Hz9rxN
	for <netwerk@example.org>; Mon, 04 Jan 2027 09:12:44 +0100 (CET)
Authentication-Results: mx.example.org;
	dkim=pass header.d=example.com header.s=google header.b=Ab3dE5fG;
	spf=pass (mx.example.org: domain of sender designates 192.0.2.26 as permitted sender) smtp.mailfrom=example.com;
	dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com
MIME-Version: 1.0
Reply-To: An Peeters <an.peeters@example.com>
Sender: Google Agenda <calendar-notification@google.com>
Auto-Submitted: auto-generated
Message-ID: <calendar-4f1d2c3b-9a8e-4b7c-8d6e-5f4a3b2c1d0e@google.com>
Date: Mon, 04 Jan 2027 08:12:43 +0000
Subject: {subject}
From: An Peeters <an.peeters@example.com>
To: netwerk@example.org
Content-Type: multipart/mixed; boundary="{mixed}"

--{mixed}
Content-Type: multipart/alternative; boundary="{alt}"

--{alt}
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes
Content-Transfer-Encoding: base64

{b64(plain.encode())}
--{alt}
Content-Type: text/calendar; charset="UTF-8"; method={method}
Content-Transfer-Encoding: 7bit

{calendar}
--{alt}--

--{mixed}
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

{b64(calendar.encode())}
{_google_list(mixed, attachment)}--{mixed}--
"""


def _google_list(mixed: str, attachment: bytes | None) -> str:
    if attachment is None:
        return ""
    return f"""--{mixed}
Content-Type: text/csv; charset="windows-1252"; name="deelnemers.csv"
Content-Disposition: attachment; filename="deelnemers.csv"
Content-Transfer-Encoding: base64

{b64(attachment)}
"""


APPLE_TZ = """BEGIN:VTIMEZONE
TZID:Europe/Brussels
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
DTSTART:19810329T020000
TZNAME:CEST
TZOFFSETTO:+0200
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
DTSTART:19961027T030000
TZNAME:CET
TZOFFSETTO:+0100
END:STANDARD
END:VTIMEZONE"""


def apple_calendar() -> str:
    people = """ATTENDEE;CN="Lerend netwerk";CUTYPE=INDIVIDUAL;EMAIL="netwerk@example.org";
 PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:netwerk@example
 .org
ATTENDEE;CN="An Peeters";CUTYPE=INDIVIDUAL;EMAIL="an.peeters@example.com";P
 ARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:an.peeters@example.com
ORGANIZER;CN="An Peeters";EMAIL="an.peeters@example.com":mailto:an.peeters@
 example.com"""
    return crlf(
        f"""BEGIN:VCALENDAR
METHOD:REQUEST
VERSION:2.0
PRODID:-//Apple Inc.//macOS 14.5//EN
CALSCALE:GREGORIAN
{APPLE_TZ}
BEGIN:VEVENT
TRANSP:OPAQUE
DTEND;TZID=Europe/Brussels:20270211T120000
UID:8C7D9A0E-3B2F-4E61-9A1D-5F0C2B7E4A93
DTSTAMP:20270104T081243Z
LOCATION:Wetstraat 34\\n1040 Brussel\\nBelgium
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC
DESCRIPTION:Samen werkbaar werk in onze teams versterken en van elkaar lere
 n.\\n\\nBreng een vraag mee uit je eigen praktijk.
SEQUENCE:0
X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-ADDRESS="Wetstraat 34\\\\n1040 Bruss
 el\\\\nBelgium";X-APPLE-RADIUS=70.5;X-TITLE="Wetstraat 34":geo:50.844,4.372
SUMMARY:Lerend netwerk werkbaar werk
LAST-MODIFIED:20270104T081240Z
CREATED:20270104T080101Z
DTSTART;TZID=Europe/Brussels:20270211T093000
EXDATE;TZID=Europe/Brussels:20270311T093000
RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20270422T215959Z
{people}
END:VEVENT
BEGIN:VEVENT
TRANSP:OPAQUE
DTEND;TZID=Europe/Brussels:20270409T160000
UID:8C7D9A0E-3B2F-4E61-9A1D-5F0C2B7E4A93
DTSTAMP:20270104T081243Z
LOCATION:Wetstraat 34\\n1040 Brussel\\nBelgium
SEQUENCE:0
RECURRENCE-ID;TZID=Europe/Brussels:20270408T093000
SUMMARY:Lerend netwerk werkbaar werk
LAST-MODIFIED:20270104T081240Z
CREATED:20270104T080101Z
DTSTART;TZID=Europe/Brussels:20270409T133000
{people}
END:VEVENT
END:VCALENDAR"""
    )


def apple_mail(calendar: str, attachment: bytes) -> str:
    b = "Apple-Mail=_6E1F2A3B-4C5D-4E6F-8A9B-0C1D2E3F4A5B"
    return f"""Return-Path: <an.peeters@example.com>
Delivered-To: netwerk@example.org
Received: from st43p00im-zteg10062001.me.com (st43p00im-zteg10062001.me.com [192.0.2.27])
	by mx.example.org (Postfix) with ESMTPS id 4Yb7Kq0Z3Hz9rxP
	for <netwerk@example.org>; Mon, 04 Jan 2027 09:12:44 +0100 (CET)
Authentication-Results: mx.example.org;
	dkim=pass header.d=example.com header.s=sig1 header.b=Zp9QwE2r;
	spf=pass smtp.mailfrom=example.com;
	dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=example.com
Content-Type: multipart/mixed; boundary="{b}"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))
Subject: Lerend netwerk werkbaar werk
From: An Peeters <an.peeters@example.com>
To: Lerend netwerk <netwerk@example.org>
Date: Mon, 4 Jan 2027 09:12:43 +0100
Message-Id: <A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D@example.com>
X-Mailer: Apple Mail (2.3774.600.62)

--{b}
Content-Transfer-Encoding: quoted-printable
Content-Type: text/plain;
	charset=utf-8

Dag,

In bijlage de reeks en de deelnemers.

An

--{b}
Content-Disposition: attachment;
	filename=deelnemers.csv
Content-Type: text/csv;
	x-unix-mode=0644;
	name="deelnemers.csv"
Content-Transfer-Encoding: base64

{b64(attachment)}
--{b}
Content-Transfer-Encoding: quoted-printable
Content-Type: text/calendar;
	charset=utf-8;
	method=REQUEST;
	name=iCal-20270104-091243.ics
Content-Disposition: attachment;
	filename=iCal-20270104-091243.ics

{quoted(calendar)}
--{b}--
"""


def quoted(text: str) -> str:
    import quopri  # noqa: PLC0415

    return quopri.encodestring(text.encode()).decode()


TB_TZ = """BEGIN:VTIMEZONE
TZID:Europe/Brussels
X-TZINFO:Europe/Brussels[2024a]
BEGIN:DAYLIGHT
TZOFFSETTO:+020000
TZOFFSETFROM:+010000
TZNAME:CEST
DTSTART:19810329T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETTO:+010000
TZOFFSETFROM:+020000
TZNAME:CET
DTSTART:19961027T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
END:VTIMEZONE"""


def thunderbird_calendar(
    time: str = "093000", exdate: str = "20270311T083000Z", sequence: int = 0
) -> str:
    people = """ORGANIZER;RSVP=TRUE;CN=An Peeters;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:an.p
 eeters@example.com
ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;CUTYPE=INDIVI
 DUAL:mailto:netwerk@example.org"""
    return crlf(
        f"""BEGIN:VCALENDAR
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
VERSION:2.0
METHOD:REQUEST
{TB_TZ}
BEGIN:VEVENT
CREATED:20270104T080101Z
LAST-MODIFIED:20270104T081240Z
DTSTAMP:20270104T081240Z
UID:6b0f1c2a-9d3e-4f5a-8b7c-1e2d3f4a5b6c
SUMMARY:Learning network sustainable work
{people}
RRULE:FREQ=WEEKLY;COUNT=6;INTERVAL=2
EXDATE:{exdate}
X-MOZ-SEND-INVITATIONS:TRUE
X-MOZ-SEND-INVITATIONS-UNDISCLOSED:FALSE
DTSTART;TZID=Europe/Brussels:20270211T{time}
DTEND;TZID=Europe/Brussels:20270211T{ {"093000": "120000", "100000": "123000"}[time] }
DESCRIPTION:Six meetings for HR staff of the sector.\\nGoal: strengthen sus
 tainable work in our teams and learn from each other.\\n\\nOnline: https://
 meet.jit.si/learning-network-sustainable-work
LOCATION:Wetstraat 34\\, Brussels
SEQUENCE:{sequence}
X-MOZ-GENERATION:2
END:VEVENT
BEGIN:VEVENT
CREATED:20270104T080101Z
LAST-MODIFIED:20270104T081240Z
DTSTAMP:20270104T081240Z
UID:6b0f1c2a-9d3e-4f5a-8b7c-1e2d3f4a5b6c
SUMMARY:Learning network sustainable work
{people}
RECURRENCE-ID;TZID=Europe/Brussels:20270408T{time}
DTSTART;TZID=Europe/Brussels:20270409T133000
DTEND;TZID=Europe/Brussels:20270409T160000
LOCATION:Wetstraat 34\\, Brussels
SEQUENCE:{sequence}
X-MOZ-GENERATION:2
END:VEVENT
END:VCALENDAR"""
    )


def thunderbird_mail(
    calendar: str,
    attachment: bytes | None,
    subject: str = "Invitation: Learning network sustainable work",
) -> str:
    mixed, alt = "------------7Dq2vW3xY4zA5bC6dE7fG8hJ", "------------0xA1b2C3d4E5f6G7h8I9j0K1"
    return f"""Return-Path: <an.peeters@example.com>
Delivered-To: netwerk@example.org
Received: from smtp.example.com (smtp.example.com [192.0.2.28])
	by mx.example.org (Postfix) with ESMTPS id 4Yb7Kq0Z3Hz9rxQ
	for <netwerk@example.org>; Mon, 04 Jan 2027 09:12:44 +0100 (CET)
Authentication-Results: mx.example.org;
	dkim=pass header.d=example.com header.s=mail header.b=Tb7uV8wX;
	spf=pass smtp.mailfrom=example.com;
	dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com
Message-ID: <0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f@example.com>
Date: Mon, 4 Jan 2027 09:12:43 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-GB
From: An Peeters <an.peeters@example.com>
To: netwerk@example.org
Subject: {subject}
Content-Type: multipart/mixed; boundary="{mixed}"

This is a multi-part message in MIME format.
--{mixed}
Content-Type: multipart/alternative; boundary="{alt}"

--{alt}
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Hello, the series and the participant list are attached.

--{alt}
Content-Type: text/calendar; method=REQUEST; charset=UTF-8
Content-Transfer-Encoding: 8bit

{calendar}
--{alt}--
--{mixed}
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

{b64(calendar.encode())}
{_thunderbird_list(mixed, attachment)}--{mixed}--
"""


def _thunderbird_list(mixed: str, attachment: bytes | None) -> str:
    if attachment is None:
        return ""
    return f"""--{mixed}
Content-Type: text/csv; charset=UTF-8; name="participants.csv"
Content-Disposition: attachment; filename="participants.csv"
Content-Transfer-Encoding: base64

{b64(attachment)}
"""


def participants_csv_en() -> bytes:
    """Thunderbird's attachment: English headers, commas, UTF-8 with BOM (Excel's 'CSV UTF-8')."""
    lines = ["First name,Last name,Email,Manager,Manager email,Growth conversation"]
    lines += [
        f"{f},{last},{e},{m},{me},{'' if s is None else 'SERIAL' + str(s)}"
        for f, last, e, m, me, s in PEOPLE
    ]
    text = "\r\n".join(lines).replace("SERIAL46553", "2027-06-15")
    text = text.replace("SERIAL", "")  # other growth dates as Excel serials
    return ("\ufeff" + text + "\r\n").encode()


SESSIONS = [
    (1, "2027-02-11T09:30", "2027-02-11T09:30", 150, False),
    (2, "2027-02-25T09:30", "2027-02-25T09:30", 150, False),
    (3, "2027-03-11T09:30", "2027-03-11T09:30", 150, True),
    (4, "2027-03-25T09:30", "2027-03-25T09:30", 150, False),
    (5, "2027-04-08T09:30", "2027-04-09T13:30", 150, False),
    (6, "2027-04-22T09:30", "2027-04-22T09:30", 150, False),
]


def expected(**fields: object) -> str:
    sessions = [
        {"number": n, "recurrence_id": rid, "start": start, "minutes": m, "cancelled": c}
        for n, rid, start, m, c in SESSIONS
    ]
    return (
        json.dumps(
            {"timezone": "Europe/Brussels", **fields, "sessions": sessions},
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def write() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    common = {
        "summary": "Lerend netwerk werkbaar werk",
        "organizer": "an.peeters@example.com",
        "participants": 12,
    }
    goal_nl = "Samen werkbaar werk in onze teams versterken en van elkaar leren."
    out = {
        "outlook_series_with_list": (
            outlook_mail(
                "Lerend netwerk werkbaar werk",
                "REQUEST",
                outlook_calendar(
                    "REQUEST",
                    outlook_event(
                        0,
                        outlook_override(
                            0, "20270408T093000", "20270409T133000", "20270409T160000"
                        ),
                    ),
                ),
                participants_xlsx(),
                "AM9PR02MB72830A1B2C3D4E5F6A7B8C9D0E1F2A3B@AM9PR02MB7283.eurprd02.prod.outlook.com",
            ),
            expected(
                **common,
                tzid="Romance Standard Time",
                uid=OUTLOOK_UID,
                language="nl",
                location="Wetstraat 34, Brussel",
                online_url="https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ1@thread.v2/0",
                goal="Samen werkbaar werk in onze teams versterken, van elkaar leren en goede praktijken delen.",
                every_weeks=2,
            ),
        ),
        "google_series_with_list": (
            google_mail(google_calendar(), participants_csv()),
            expected(
                **common,
                tzid="Europe/Brussels",
                uid="5k2v8q1c3m0r9t7e6d4b2a1n0p@google.com",
                language="",
                location="Wetstraat 34, 1040 Brussel, België",
                online_url="https://meet.google.com/abc-defg-hij",
                goal=goal_nl,
                every_weeks=2,
            ),
        ),
        "apple_series_with_list": (
            apple_mail(apple_calendar(), participants_csv()),
            expected(
                **common,
                tzid="Europe/Brussels",
                uid="8C7D9A0E-3B2F-4E61-9A1D-5F0C2B7E4A93",
                language="",
                location="Wetstraat 34, 1040 Brussel, Belgium",
                online_url="",
                goal=goal_nl,
                every_weeks=2,
            ),
        ),
        "thunderbird_series_with_list": (
            thunderbird_mail(thunderbird_calendar(), participants_csv_en()),
            expected(
                **{**common, "summary": "Learning network sustainable work"},
                tzid="Europe/Brussels",
                uid="6b0f1c2a-9d3e-4f5a-8b7c-1e2d3f4a5b6c",
                language="",
                location="Wetstraat 34, Brussels",
                online_url="https://meet.jit.si/learning-network-sustainable-work",
                goal="Strengthen sustainable work in our teams and learn from each other.",
                every_weeks=2,
            ),
        ),
    }
    out |= changes()
    for name, (mail, exp) in out.items():
        (HERE / f"{name}.eml").write_bytes(mail.replace("\r\n", "\n").encode())
        (HERE / f"{name}.expected.json").write_text(exp, encoding="utf-8")


def google_cancel_calendar() -> str:
    return crlf(
        f"""BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:CANCEL
{GOOGLE_TZ}
BEGIN:VEVENT
DTSTART;TZID=Europe/Brussels:20270211T093000
DTEND;TZID=Europe/Brussels:20270211T120000
RRULE:FREQ=WEEKLY;WKST=MO;UNTIL=20270422T215959Z;INTERVAL=2;BYDAY=TH
DTSTAMP:20270301T101500Z
ORGANIZER;CN=An Peeters:mailto:an.peeters@example.com
UID:5k2v8q1c3m0r9t7e6d4b2a1n0p@google.com
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=
 TRUE;CN=netwerk@example.org;X-NUM-GUESTS=0:mailto:netwerk@example.org
CREATED:20270104T080512Z
LAST-MODIFIED:20270301T101500Z
LOCATION:Wetstraat 34\\, 1040 Brussel\\, België
SEQUENCE:1
STATUS:CANCELLED
SUMMARY:Lerend netwerk werkbaar werk
TRANSP:OPAQUE
END:VEVENT
END:VCALENDAR"""
    )


def outlook_cancel_calendar() -> str:
    event = f"""BEGIN:VEVENT
ORGANIZER;CN=An Peeters:mailto:an.peeters@example.com
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Lerend netwerk:mailto:netwerk@example.org
DESCRIPTION;LANGUAGE=nl-BE:\\n
RECURRENCE-ID;TZID=Romance Standard Time:20270422T093000
SUMMARY;LANGUAGE=nl-BE:Geannuleerd: Lerend netwerk werkbaar werk
DTSTART;TZID=Romance Standard Time:20270422T093000
DTEND;TZID=Romance Standard Time:20270422T120000
UID:{OUTLOOK_UID}
CLASS:PUBLIC
PRIORITY:1
DTSTAMP:20270301T101500Z
TRANSP:TRANSPARENT
STATUS:CANCELLED
SEQUENCE:1
LOCATION;LANGUAGE=nl-BE:Wetstraat 34\\, Brussel
X-MICROSOFT-CDO-APPT-SEQUENCE:1
X-MICROSOFT-CDO-OWNERAPPTID:2123456789
X-MICROSOFT-CDO-BUSYSTATUS:FREE
X-MICROSOFT-CDO-INTENDEDSTATUS:FREE
X-MICROSOFT-CDO-ALLDAYEVENT:FALSE
X-MICROSOFT-CDO-IMPORTANCE:2
X-MICROSOFT-CDO-INSTTYPE:3
X-MICROSOFT-DONOTFORWARDMEETING:FALSE
X-MICROSOFT-DISALLOW-COUNTER:FALSE
END:VEVENT"""
    return outlook_calendar("CANCEL", event)


def change_expected(
    base: str, method: str, sequence: int, changes: list[dict[str, object]], *, whole: bool = False
) -> str:
    return (
        json.dumps(
            {
                "base": base,
                "method": method,
                "sequence": sequence,
                "whole_series_cancelled": whole,
                "changes": changes,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def changes() -> dict[str, tuple[str, str]]:
    moved = outlook_override(1, "20270408T093000", "20270409T133000", "20270409T160000")
    moved += "\n" + outlook_override(1, "20270325T093000", "20270326T140000", "20270326T163000")
    tb_retimed = thunderbird_calendar(time="100000", exdate="20270311T090000Z", sequence=1)
    return {
        "outlook_update_moved": (
            outlook_mail(
                "Lerend netwerk werkbaar werk",
                "REQUEST",
                outlook_calendar("REQUEST", outlook_event(1, moved)),
                None,
                "AM9PR02MB72831B2C3D4E5F6A7B8C9D0E1F2A3B4C@AM9PR02MB7283.eurprd02.prod.outlook.com",
            ),
            change_expected(
                "outlook_series_with_list",
                "REQUEST",
                1,
                [{"change": "moved", "number": 4, "start": "2027-03-26T14:00", "minutes": 150}],
            ),
        ),
        "outlook_update_occurrence_only": (
            outlook_mail(
                "Lerend netwerk werkbaar werk",
                "REQUEST",
                outlook_calendar(
                    "REQUEST",
                    outlook_override(1, "20270422T093000", "20270429T100000", "20270429T123000"),
                ),
                None,
                "AM9PR02MB72833D4E5F6A7B8C9D0E1F2A3B4C5D6E@AM9PR02MB7283.eurprd02.prod.outlook.com",
            ),
            change_expected(
                "outlook_series_with_list",
                "REQUEST",
                1,
                [{"change": "moved", "number": 6, "start": "2027-04-29T10:00", "minutes": 150}],
            ),
        ),
        "outlook_cancel_occurrence": (
            outlook_mail(
                "Geannuleerd: Lerend netwerk werkbaar werk",
                "CANCEL",
                outlook_cancel_calendar(),
                None,
                "AM9PR02MB72832C3D4E5F6A7B8C9D0E1F2A3B4C5D@AM9PR02MB7283.eurprd02.prod.outlook.com",
            ),
            change_expected(
                "outlook_series_with_list", "CANCEL", 1, [{"change": "cancelled", "number": 6}]
            ),
        ),
        "google_cancel_series": (
            google_mail(
                google_cancel_calendar(),
                None,
                subject="Geannuleerde afspraak: Lerend netwerk werkbaar werk @ Om de 2 weken van 09:30 tot 12:00 op donderdag (CET) (netwerk@example.org)",
                method="CANCEL",
            ),
            change_expected("google_series_with_list", "CANCEL", 1, [], whole=True),
        ),
        "thunderbird_update_retimed": (
            thunderbird_mail(
                tb_retimed, None, subject="Updated: Learning network sustainable work"
            ),
            change_expected(
                "thunderbird_series_with_list",
                "REQUEST",
                1,
                [
                    {"change": "moved", "number": n, "start": f"{d}T10:00", "minutes": 150}
                    for n, d in (
                        (1, "2027-02-11"),
                        (2, "2027-02-25"),
                        (4, "2027-03-25"),
                        (6, "2027-04-22"),
                    )
                ],
            ),
        ),
    }


if __name__ == "__main__":
    write()
