"""Output safety: control characters refused at check, invites escaped and folded, HTML escaped, no header injection."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message
from email.utils import getaddresses
from typing import TYPE_CHECKING

import icalendar
import pytest
from click.testing import CliRunner

from leernet.cli import main
from tests.reliability.harness import (
    SECRET,
    Person,
    db_query,
    network_toml,
    settings_for,
    start_network,
)

if TYPE_CHECKING:
    from pathlib import Path

FIELDS = ("name", "title", "location", "speaker", "organiser_name", "participant", "manager")
BAD = {"CR": "a\rb", "LF": "a\nb", "NUL": "a\x00b", "LS": "a\u2028b", "NEL": "a\x85b"}


def hostile_toml(field: str, value: str) -> str:
    person = Person("Bert Claes", "p1@example.com", "Carla Dewit", "m1@example.net")
    if field == "participant":
        person = Person(value, "p1@example.com", "Carla", "m1@example.net")
    elif field == "manager":
        person = Person("Bert", "p1@example.com", value, "m1@example.net")
    kwargs = {
        f: value for f in ("name", "title", "location", "speaker", "organiser_name") if f == field
    }
    return network_toml([person], **kwargs)


class TestCheckRefusesControlCharacters:
    @pytest.mark.parametrize("char", sorted(BAD))
    @pytest.mark.parametrize("field", FIELDS)
    def test_line_break_or_nul_is_refused(self, tmp_path: Path, field: str, char: str) -> None:
        """`leernet check` refuses a CR, LF, NUL or Unicode line break in any name, title, location or speaker."""
        path = tmp_path / "network.toml"
        path.write_text(hostile_toml(field, BAD[char]), encoding="utf-8")
        result = CliRunner().invoke(main, ["check", str(path)], env={"LEERNET_SECRET": SECRET})
        assert result.exit_code == 1, result.output
        assert "line breaks or control characters" in " ".join(result.output.split())


# Values that pass validation but are dangerous in headers, iCalendar or HTML.
TITLE = 'Werkdruk; "meten", \\ en <script>alert(1)</script> =?utf-8?q?=0D=0ABcc:x?= ' + "é" * 40
LOCATION = 'Wetstraat 34, Brussel; zaal "B" \\ <b>bold</b>'
SPEAKER = "Dr. O'Neil <ceo@evil.example>, Bcc: steal@evil.example"
LONG_NAME = ('Zoë "de <Baas>" van der Berg-Smith, Bcc: x@evil.example; ' * 4)[:200]
ORG_NAME = "An =?utf-8?b?QmNjOiBldmlsQGV2aWwuZXhhbXBsZQ==?= Peeters"
EXPECTED_HEADERS = {
    "From", "To", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version",
    "Auto-Submitted", "Content-Language", "Content-Type",
}  # fmt: skip


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, bytes]]:
    """Every start message of a network full of hostile but valid values: (kind, recipient, bytes)."""
    tmp = tmp_path_factory.mktemp("hostile")
    db = tmp / "leernet.db"
    people = [
        Person(LONG_NAME, "p1@example.com", LONG_NAME, "m1@example.net"),
        Person("Ünïcødé 🙂 \u202ereversed", "p2@example.com", "Carla <x>", "m2@example.net"),
    ]
    toml = network_toml(
        people, name=TITLE, title=TITLE, location=LOCATION, speaker=SPEAKER, organiser_name=ORG_NAME
    )
    start_network(tmp, toml, settings_for(db))
    return [
        (k, r, bytes(raw))
        for k, r, raw in db_query(
            db, "SELECT kind, recipient, raw FROM outbox JOIN outbox_body ON outbox_id = outbox.id"
        )
    ]


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def decoded_parts(msg: Message) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        out.setdefault(part.get_content_type(), payload)
    return out


class TestHeaders:
    def test_exactly_the_expected_headers(self, sent: list[tuple[str, str, bytes]]) -> None:
        """Hostile names, titles and locations never add a header, a recipient or a defect."""
        for kind, recipient, raw in sent:
            assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
            msg = parse(raw)
            names = set(msg.keys())
            assert names <= EXPECTED_HEADERS | {"In-Reply-To", "References"}, (kind, names)
            assert len(msg.keys()) == len(names), f"a header repeated in {kind}"
            assert [a for _, a in getaddresses([str(msg["To"])])] == [recipient]
            assert [a for _, a in getaddresses([str(msg["From"])])] == ["netwerk@example.org"]
            assert "Bcc" not in names
            assert "Cc" not in names
            assert not [p for p in msg.walk() if p.defects]

    def test_no_bare_line_feed_in_any_header(self, sent: list[tuple[str, str, bytes]]) -> None:
        """Every header line ends in CRLF (RFC 5322 2.1), also a long non-ASCII Subject."""
        for _, _, raw in sent:
            head = raw.split(b"\r\n\r\n", 1)[0]
            assert b"\n" not in head.replace(b"\r\n", b"")

    def test_the_name_survives_as_a_display_name(self, sent: list[tuple[str, str, bytes]]) -> None:
        """A long name full of quotes, commas and angle brackets is the display name, intact."""
        (raw,) = [r for k, rcpt, r in sent if k == "invite" and rcpt == "p1@example.com"]
        ((name, address),) = getaddresses([str(parse(raw)["To"])])
        assert address == "p1@example.com"
        assert name == LONG_NAME.strip()


class TestInviteText:
    def calendars(self, sent: list[tuple[str, str, bytes]]) -> list[bytes]:
        return [decoded_parts(parse(raw))["text/calendar"] for k, _, raw in sent if k == "invite"]

    def test_text_properties_round_trip_through_icalendar(
        self, sent: list[tuple[str, str, bytes]]
    ) -> None:
        r"""SUMMARY and LOCATION with ; , \\ and quotes come back unchanged from icalendar."""
        for ics in self.calendars(sent):
            cal = icalendar.Calendar.from_ical(ics)
            events = list(cal.walk("VEVENT"))
            assert any(TITLE.strip() in str(e.get("SUMMARY")) for e in events)
            assert any(str(e.get("LOCATION", "")) == LOCATION for e in events)
            assert all(str(e.get("UID")) == "leernet-hr-ovl-2027@example.org" for e in events)

    def test_lines_are_folded_at_75_octets(self, sent: list[tuple[str, str, bytes]]) -> None:
        """Every content line is at most 75 octets (RFC 5545 3.1) and none is broken by a value."""
        for ics in self.calendars(sent):
            lines = ics.split(b"\r\n")
            assert all(len(line) <= 75 for line in lines)
            unfolded = ics.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")
            assert b"\n" not in unfolded.replace(b"\r\n", b"")
            names = {line.split(b":")[0].split(b";")[0] for line in unfolded.split(b"\r\n") if line}
            assert b"BCC" not in names

    @pytest.mark.node
    def test_ical_js_reads_the_same_summary(self, sent: list[tuple[str, str, bytes]]) -> None:
        """ical.js (Thunderbird's parser) reads the hostile title and location unchanged."""
        from tests.icaljs import read_with_icaljs  # noqa: PLC0415

        read = read_with_icaljs(self.calendars(sent)[0])
        assert any(TITLE.strip() in str(o["summary"]) for o in read["occurrences"])
        assert any(o["location"] == LOCATION for o in read["occurrences"])


class TestHtml:
    def test_html_is_escaped(self, sent: list[tuple[str, str, bytes]]) -> None:
        """A <script> or <b> in a title, location or name appears escaped in every HTML part."""
        for _, _, raw in sent:
            html = decoded_parts(parse(raw)).get("text/html", b"").decode()
            assert "<script>" not in html
            assert "<b>bold</b>" not in html
            assert "<Baas>" not in html
            assert "&lt;script&gt;" in html or "&lt;Baas&gt;" in html or "&lt;b&gt;" in html


class TestLongNames:
    def test_a_long_non_ascii_name_keeps_lines_within_998_octets(self, tmp_path: Path) -> None:
        """A 200-character name of emoji (valid in the file) still gives header lines of at most 998 octets."""
        db = tmp_path / "leernet.db"
        toml = network_toml([Person("🙂" * 200, "p1@example.com", "🙂" * 200, "m1@example.net")])
        start_network(tmp_path, toml, settings_for(db))
        for (raw,) in db_query(db, "SELECT raw FROM outbox_body"):
            assert max(len(line) for line in bytes(raw).split(b"\r\n")) <= 998
