"""The hand-written REPLY reader gives exactly what icalendar gives, or leaves it to icalendar."""

from __future__ import annotations

import email
import warnings
from datetime import UTC, date, datetime
from email.policy import compat32
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leernet.calendar import itip
from leernet.calendar.contentlines import fold, param
from leernet.calendar.fastical import read_fast
from leernet.calendar.invite import request_template
from leernet.demo import people
from leernet.mailer.compose import Envelope, compose
from leernet.mailer.tokens import participant_token, reply_address
from leernet.messages import views
from leernet.messages.render import Renderer
from leernet.network.load import load_network

REPLIES = Path(__file__).parent / "data" / "replies"
SERVICE = "netwerk@example.org"
SECRET = "test-secret-not-for-production"
UID = "leernet-hr-ovl-2027@example.org"
ORGANIZER = "ORGANIZER;CN=Lerend netwerk:mailto:netwerk+abc@example.org"
EXAMPLES = settings(
    max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
ROMANCE = (
    "BEGIN:VTIMEZONE\r\nTZID:Romance Standard Time\r\nBEGIN:STANDARD\r\n"
    "DTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
    "DTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)
CUSTOM = ROMANCE.replace("Romance Standard Time", "Customized Time Zone")


def slow(data: bytes) -> itip.ItipReply:
    """What read_reply gave before the fast reader: icalendar's reading."""
    try:
        with warnings.catch_warnings(), itip._own_zones():  # as read_reply: its own zones only
            warnings.simplefilter("ignore")
            return itip._read(data)
    except Exception as exc:
        return itip._failed(f"calendar cannot be parsed: {type(exc).__name__}: {exc}"[:300])


def agree(data: bytes) -> itip.ItipReply | None:
    """The fast reading, after checking it equals icalendar's (None: it left it to icalendar)."""
    with itip._own_zones():
        fast = read_fast(data)
    if fast is not None:
        assert fast == slow(data)
    return fast


def calendar(*lines: str, head: str = "", events: int = 1, newline: str = "\r\n") -> bytes:
    event = ["BEGIN:VEVENT", f"UID:{UID}", "DTSTAMP:20270104T081243Z", *lines, "END:VEVENT"]
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "METHOD:REPLY", head, *event * events]
    text = "\r\n".join(part.rstrip("\r\n") for part in body if part) + "\r\nEND:VCALENDAR\r\n"
    return text.replace("\r\n", newline).encode()


def calendar_parts(raw: bytes) -> list[bytes]:
    msg = email.message_from_bytes(raw, policy=compat32)
    parts = []
    for part in msg.walk():
        if part.get_content_type() in {"text/calendar", "application/ics"}:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload)
    return parts


CORPUS = sorted(REPLIES.glob("*.eml"))


class TestAgainstIcalendar:
    @pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
    def test_reply_corpus(self, path: Path) -> None:
        """Every calendar in the client corpus reads the same as icalendar reads it."""
        for data in calendar_parts(path.read_bytes()):
            assert agree(data) is not None, "a real client's shape left to icalendar"

    def test_corpus_has_calendars(self) -> None:
        """The corpus above holds calendars from the four clients, so the test checks something."""
        found = [p.stem for p in CORPUS if calendar_parts(p.read_bytes())]
        assert {name.split("_")[0] for name in found} >= {"outlook", "gmail", "apple"}

    @pytest.mark.parametrize("client", people.CLIENTS)
    @pytest.mark.parametrize("partstat", ["ACCEPTED", "DECLINED", "TENTATIVE"])
    @pytest.mark.parametrize("session", [None, 1, 4])
    def test_demo_client_shapes(
        self, demo_invite: tuple[bytes, list[datetime]], client: str, partstat: str, session: int
    ) -> None:
        """The REPLY of each simulated client, series or one session, reads the same."""
        invite, slots = demo_invite
        raw = people.calendar_reply(
            invite,
            partstat=partstat,
            client=client,
            session_slot=None if session is None else slots[session - 1],
            comment="Ik kom later; sorry, 10:00 lukt\nniet",
            date=datetime(2027, 1, 5, 9, 15, tzinfo=UTC),
            message_id="<m1@example.com>",
        )
        for data in calendar_parts(raw):
            reply = agree(data)
            assert reply is not None
            assert reply.problem is None

    @pytest.mark.parametrize("client", ["outlook", "gmail"])
    def test_demo_forwarded(self, demo_invite: tuple[bytes, list[datetime]], client: str) -> None:
        """A colleague's answer to a forwarded invite reads the same."""
        raw = people.forwarded_accept(
            demo_invite[0],
            "an.collega@example.com",
            client=client,
            date=datetime(2027, 1, 5, 9, 15, tzinfo=UTC),
            message_id="<m2@example.com>",
        )
        for data in calendar_parts(raw):
            assert agree(data) is not None


@pytest.fixture(scope="module")
def demo_invite() -> tuple[bytes, list[datetime]]:
    network = load_network("config/network.example.toml").network
    bert = network.participants[0]
    token_address = reply_address(SERVICE, participant_token(SECRET, network.slug, bert.email))
    sent = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    template = request_template(network, service_address=token_address, sequence=3, dtstamp=sent)
    cal = template.render(bert, token_address, "Lerend netwerk")
    envelope = Envelope("Lerend netwerk", SERVICE, bert.name, bert.email, reply_to=token_address)
    rendered = Renderer().render("invite", "nl", views.invite(network, bert))
    raw = compose(envelope, rendered, msg_id="<leernet.i@example.org>", date=sent, calendar=cal)
    return raw, [s.slot for s in network.sessions]


class TestShapes:
    def test_folded_attendee_with_quoted_cn(self) -> None:
        """A folded ATTENDEE whose quoted CN holds ; and : keeps the whole name."""
        line = 'ATTENDEE;PARTSTAT=ACCEPTED;CN="Claes; Bert: HR":mailto:Bert.Claes@Example.com'
        reply = agree(calendar(fold(line, 20).decode()))
        assert reply is not None
        assert reply.attendees[0].cn == "Claes; Bert: HR"
        assert reply.attendees[0].email == "bert.claes@example.com"

    def test_rfc6868_carets(self) -> None:
        """RFC 6868 ^n, ^' and ^^ in a parameter become a newline, a quote and a caret."""
        line = (
            "ATTENDEE;PARTSTAT=DECLINED;X-RESPONSE-COMMENT=\"Op ^'cursus^'^nmet ^^\":mailto:a@b.be"
        )
        reply = agree(calendar(line))
        assert reply is not None
        assert reply.comment == 'Op "cursus"\nmet ^'

    def test_comment_escapes(self) -> None:
        r"""COMMENT text loses its escapes: \\, \\; \\n \\N and \\\\ (RFC 5545 3.3.11)."""
        reply = agree(
            calendar("ATTENDEE:mailto:a@b.be", r"COMMENT:Ja\, maar\; later\nof\Nniet \\o/")
        )
        assert reply is not None
        assert reply.comment == "Ja, maar; later\nof\nniet \\o/"

    def test_delegated_to_several(self) -> None:
        """A DELEGATED-TO with two quoted addresses gives both, bare and in lower case."""
        line = (
            'ATTENDEE;PARTSTAT=DELEGATED;DELEGATED-TO="mailto:X@b.be","mailto:y@b.be":mailto:a@b.be'
        )
        reply = agree(calendar(line))
        assert reply is not None
        assert reply.attendees[0].delegated_to == ("x@b.be", "y@b.be")

    def test_valarm_does_not_leak(self) -> None:
        """An ATTENDEE, UID or COMMENT inside a VALARM is not the VEVENT's."""
        alarm = (
            "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nSUMMARY:x\r\n"
            "ATTENDEE:mailto:alarm@example.org\r\nCOMMENT:alarm\r\nEND:VALARM"
        )
        reply = agree(calendar("ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@b.be", alarm))
        assert reply is not None
        assert [a.email for a in reply.attendees] == ["a@b.be"]
        assert reply.comment == ""

    def test_lf_only_and_tab_folds(self) -> None:
        """A calendar with bare LF line ends and tab folds reads the same."""
        line = fold("ATTENDEE;PARTSTAT=TENTATIVE;CN=Bert Claes:mailto:bert@example.com", 30)
        data = calendar(line.decode().replace("\r\n ", "\r\n\t"), newline="\n")
        reply = agree(data)
        assert reply is not None
        assert reply.attendees[0].partstat == "TENTATIVE"


class TestRecurrenceId:
    @pytest.mark.parametrize(
        ("line", "head", "expected", "tzid"),
        [
            ("RECURRENCE-ID;VALUE=DATE:20270211", "", date(2027, 2, 11), None),
            ("RECURRENCE-ID:20270211T083000Z", "", datetime(2027, 2, 11, 8, 30, tzinfo=UTC), None),
            ("RECURRENCE-ID:20270211T093000", "", datetime(2027, 2, 11, 9, 30), None),  # noqa: DTZ001
            (
                'RECURRENCE-ID;TZID="Romance Standard Time":20270408T093000',
                ROMANCE,
                datetime(2027, 4, 8, 7, 30, tzinfo=UTC),
                "Romance Standard Time",
            ),
            (
                "RECURRENCE-ID;TZID=W. Europe Standard Time:20270211T093000",
                "",
                datetime(2027, 2, 11, 8, 30, tzinfo=UTC),
                "W. Europe Standard Time",
            ),
            (
                "RECURRENCE-ID;TZID=Europe/Brussels:20270211T093000",
                ROMANCE.replace("Romance Standard Time", "Europe/Brussels"),
                datetime(2027, 2, 11, 8, 30, tzinfo=UTC),
                "Europe/Brussels",
            ),
        ],
    )
    def test_plain_forms(
        self, line: str, head: str, expected: datetime | date, tzid: str | None
    ) -> None:
        """DATE, UTC, floating, Outlook's Windows zone and IANA zones are read without icalendar."""
        reply = agree(calendar(line, head=head))
        assert reply is not None
        assert (reply.recurrence_id, reply.recurrence_tzid) == (expected, tzid)

    @pytest.mark.parametrize(
        ("line", "head"),
        [
            ("RECURRENCE-ID;TZID=Customized Time Zone:20270211T093000", CUSTOM),
            ("RECURRENCE-ID;TZID=Europe/Brussels:20270211T083000Z", ""),
            ("RECURRENCE-ID;TZID=Europe/Brussels;VALUE=DATE:20270211", ""),
            ("RECURRENCE-ID;VALUE=PERIOD:20270211T083000Z/PT1H", ""),
            ("RECURRENCE-ID:2027-02-11", ""),
            ("RECURRENCE-ID;TZID=/mozilla.org/20050126_1/Europe/Brussels:20270211T093000", ""),
        ],
    )
    def test_odd_forms_go_to_icalendar(self, line: str, head: str) -> None:
        """A custom zone, a Z or DATE with a TZID, a period or a dashed date is icalendar's to read."""
        data = calendar(line, head=head)
        assert read_fast(data) is None
        assert itip.read_reply(data) == slow(data)

    def test_windows_zone_that_disagrees_goes_to_icalendar(self) -> None:
        """An Outlook VTIMEZONE whose rules differ from our table's zone is left to icalendar."""
        shifted = ROMANCE.replace("+0100", "+0300").replace("+0200", "+0400")
        data = calendar('RECURRENCE-ID;TZID="Romance Standard Time":20270211T093000', head=shifted)
        assert read_fast(data) is None


class TestDefers:
    @pytest.mark.parametrize(
        "data",
        [
            calendar("ATTENDEE;CN=a\\;b:mailto:a@b.be"),
            calendar("ATTENDEE; CN=x:mailto:a@b.be"),
            calendar("ATTENDEE;CN=x :mailto:a@b.be"),
            calendar("UID:second"),
            calendar("SEQUENCE: 2"),
            calendar("BEGIN:VTODO", "END:VTODO"),
            calendar(head="X-BROKEN;;:1"),
            calendar(head="REFRESH-INTERVAL;VALUE=DURATION:soon"),
            calendar(head=CUSTOM.replace("TZOFFSETTO:+0100", "TZOFFSETTO:one")),
            b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n",
            b"BEGIN:VCALENDAR\r\n\xff\xfe",
        ],
    )
    def test_icalendar_decides(self, data: bytes) -> None:
        """Lines icalendar might read otherwise, or refuse, are left to icalendar: same result."""
        assert read_fast(data) is None
        assert itip.read_reply(data) == slow(data)


# ------------------------------------------------------------------ generated REPLYs

_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r\n")
_WORDS = st.text(_CHARS, max_size=12) | st.sampled_from(["a;b", "a:b", "a,b", 'a"b', "^", " x "])
_PARTSTATS = st.sampled_from(["ACCEPTED", "declined", "TENTATIVE", "X-MAYBE", "MAYBE", ""])
_ADDRESSES = st.sampled_from(["mailto:Bert@Example.com", "MAILTO:a@b.be", "a@b.be", " mailto:c@d "])
_RIDS = st.sampled_from(
    [
        "RECURRENCE-ID:20270211T083000Z",
        "RECURRENCE-ID:20270211T093000",
        "RECURRENCE-ID;VALUE=DATE:20270211",
        "RECURRENCE-ID;VALUE=date:20270230",
        "RECURRENCE-ID;TZID=Europe/Brussels:20270328T023000",
        'RECURRENCE-ID;TZID="Romance Standard Time":20271031T023000',
        "RECURRENCE-ID;TZID=Romance Standard Time:20270211T093000",
        "RECURRENCE-ID;TZID=Customized Time Zone:20270211T093000",
        "RECURRENCE-ID;TZID=Nowhere/City:20270211T093000",
        "RECURRENCE-ID;TZID=:20270211T093000",
        "RECURRENCE-ID:20270211T0930",
    ]
)
_EXTRA = st.sampled_from(
    [
        "SEQUENCE:2", "SEQUENCE:+3", "SEQUENCE:x", "SEQUENCE:99999999999999999999",
        "DTSTAMP:20270104", "DTSTAMP:20270104T081243", "DTSTAMP:2027", "UID:other",
        "ORGANIZER:mailto:Netwerk@Example.org", "X-MOZ-GENERATION:1", "SUMMARY:a\\,b",
        "DTSTART;TZID=Romance Standard Time:junk", "COMMENT;LANGUAGE=nl:Ja\\nnee",
        "BEGIN:VALARM\r\nTRIGGER:-PT15M\r\nACTION:DISPLAY\r\nEND:VALARM",
        "BEGIN:VALARM\r\nTRIGGER:soon\r\nEND:VALARM", "END:VEVENT\r\nBEGIN:VEVENT",
    ]
)  # fmt: skip


@st.composite
def _attendee(draw: st.DrawFn) -> str:
    params = [f"PARTSTAT={draw(_PARTSTATS)}"]
    for key in draw(st.lists(st.sampled_from(["CN", "X-RESPONSE-COMMENT", "ROLE"]), max_size=2)):
        value = draw(_WORDS)
        params.append(f"{key}={param(value) if draw(st.booleans()) else value}")
    if draw(st.booleans()):
        params.append('DELEGATED-TO="mailto:X@b.be","mailto:y@b.be"')
    return f"ATTENDEE;{';'.join(params)}:{draw(_ADDRESSES)}"


@st.composite
def _replies(draw: st.DrawFn) -> bytes:
    lines = [draw(_attendee()) for _ in range(draw(st.integers(0, 2)))]
    lines += [f"COMMENT:{draw(_WORDS)}" for _ in range(draw(st.integers(0, 2)))]
    lines += draw(st.lists(_RIDS, max_size=1)) + draw(st.lists(_EXTRA, max_size=3))
    lines = draw(st.permutations(lines))
    head = draw(st.sampled_from(["", ROMANCE, CUSTOM]))
    data = calendar(*lines, head=head, events=draw(st.integers(1, 2)))
    if draw(st.booleans()):  # fold every line at a random width, with a space or a tab
        width = draw(st.integers(8, 40))  # fold needs room for a 4-byte character
        sep = draw(st.sampled_from([b"\r\n ", b"\r\n\t"]))
        data = b"".join(
            fold(line.decode(), width).replace(b"\r\n ", sep)
            for line in data.split(b"\r\n")
            if line
        )
    if draw(st.booleans()):
        data = data.replace(b"\r\n", b"\n")
    return data


_JUNK = st.sampled_from(
    [b"BEGIN:VCALENDAR", b"END:VCALENDAR", b"BEGIN:VEVENT", b"END:VEVENT", b"METHOD:REPLY",
     b"UID:leernet-hr-ovl-2027@example.org", b"BEGIN:VTIMEZONE", b"END:VTIMEZONE", b"TZID:X",
     b"BEGIN:VALARM", b"END:VALARM", b"BEGIN:STANDARD", b"END:STANDARD", b" folded", b"",
     b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:p1@example.com", b"RECURRENCE-ID:20270114T093000",
     b"begin:vevent", b"X-COMMENT:x", b'ATTENDEE;CN="x:mailto:a@b.be', b"COMMENT:\\n\\,"]
)  # fmt: skip


_BYTES = st.sampled_from(
    [b";", b":", b'"', b"\\", b" ", b"\t", b"\r\n", b"\r\n ", b"\n", b"^", b",", b"=", b"\x00",
     b"Z", b"0", b"/", b"\xc3", b"-", b"\r", b"BEGIN:VALARM\r\n", b"END:VEVENT\r\n"]
)  # fmt: skip
_EDITS = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 4), _BYTES), min_size=1, max_size=3)
_CORPUS_CALENDARS = [data for path in CORPUS for data in calendar_parts(path.read_bytes())]


class TestGenerated:
    @EXAMPLES
    @given(st.sampled_from(_CORPUS_CALENDARS), _EDITS)
    def test_damaged_client_calendars(
        self, data: bytes, edits: list[tuple[float, int, bytes]]
    ) -> None:
        """A real client's calendar with bytes cut out or put in reads the same, or defers."""
        for where, cut, put in edits:
            at = int(where * len(data))
            data = data[:at] + put + data[at + cut :]
        agree(data)

    @EXAMPLES
    @given(_replies())
    def test_generated_replies(self, data: bytes) -> None:
        """Generated REPLYs with random parameters, escapes and folds read the same, or defer."""
        agree(data)
        assert itip.read_reply(data) == slow(data)

    @EXAMPLES
    @given(st.lists(_JUNK, max_size=30))
    def test_calendar_shaped_junk(self, lines: list[bytes]) -> None:
        """Calendar-shaped junk reads the same as icalendar reads it, or is left to icalendar."""
        agree(b"\r\n".join(lines) + b"\r\n")

    @EXAMPLES
    @given(st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)))  # noqa: DTZ001
    def test_windows_zone_instants(self, local: datetime) -> None:
        """Outlook's zone with its VTIMEZONE gives icalendar's instant for any local time."""
        local = local.replace(microsecond=0)
        rid = f'RECURRENCE-ID;TZID="Romance Standard Time":{local:%Y%m%dT%H%M%S}'
        reply = agree(calendar(rid, head=ROMANCE))
        if local.hour not in {1, 2, 3}:  # only around a DST change may the two zones differ
            assert reply is not None
        if reply is not None:
            expected = local.replace(tzinfo=ZoneInfo("Europe/Brussels")).astimezone(UTC)
            assert reply.recurrence_id == expected
