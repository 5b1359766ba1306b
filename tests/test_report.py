"""What the organiser reads: ``leernet status`` tables and the JSON and CSV exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import update

from leernet.errors import LeernetError
from leernet.mailer.queue import Outgoing, enqueue
from leernet.network.load import parse_network
from leernet.organiser import report
from leernet.records import networks, record, registration
from leernet.records.status import NotSent
from leernet.store import open_store
from leernet.store import schema as t

EXAMPLE = Path(__file__).parent.parent / "config" / "network.example.toml"
SOURCE = EXAMPLE.read_text(encoding="utf-8")
SECRET = "test-secret-not-for-production"
NOW = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)
SLUG = "hr-ovl-2027"
# Session 5 cancelled: it must not appear in the attendance export.
CANCELLED = SOURCE.replace(
    'location = "Sint-Pietersnieuwstraat 25, Gent"',
    'location = "Sint-Pietersnieuwstraat 25, Gent"\ncancelled = true',
)


@pytest.fixture
async def store(tmp_path):
    engine = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}")
    async with engine.begin() as conn:
        reg = await registration.register(
            conn, parse_network(CANCELLED).network, CANCELLED, SECRET, NOW
        )
        bert, sofie, jan = (m.id for m in reg.members[:3])
        for pid, session, partstat, comment in (
            (bert, 0, "ACCEPTED", ""),
            (sofie, 2, "DECLINED", "Op vakantie, sorry — café gesloten"),
            (jan, 2, "TENTATIVE", '=HYPERLINK("http://evil")'),
        ):
            await record.record_rsvp(
                conn,
                participant_id=pid,
                session_number=session,
                partstat=partstat,
                comment=comment,
                sequence=0,
                dtstamp=NOW,
                received_at=NOW,
                inbox_id=None,
            )
        for pid, session, absent, answers, hours in (
            (bert, 2, False, {"1": 3, "2": "eerste versie"}, 0),
            (bert, 2, False, {"1": 4, "2": "Meten is weten", "3": "-meer tijd", "4": True}, 1),
            (sofie, 2, True, {}, 0),
            (jan, 1, False, {"1": 5, "5": "Werkdruk leren bespreken", "4": False}, 0),
        ):
            await record.record_evaluation(
                conn,
                participant_id=pid,
                session_number=session,
                absent=absent,
                answers=answers,
                received_at=NOW + timedelta(hours=hours),
                inbox_id=None,
            )
        els = next(m.id for m in reg.members if m.email == "els.wouters@example.net")
        await record.flag_bounce(conn, participant_id=els, reason="550", now=NOW)
        reg = await networks.get(conn, SLUG)
    yield engine, reg
    await engine.dispose()


class TestExport:
    async def test_json_shape_is_the_contract(self, store):
        """The JSON export has DESIGN.md's keys, lower-case RSVPs and only current evaluations."""
        engine, _ = store
        async with engine.begin() as conn:
            data = await report.export(conn, SLUG)
        assert set(data) == {"network", "attendance", "evaluations"}
        assert data["network"] == SLUG
        assert len(data["attendance"]) == 12 * 5  # 12 people, 6 sessions of which 1 cancelled
        assert {row["session"] for row in data["attendance"]} == {1, 2, 3, 4, 6}
        for row in data["attendance"]:
            assert set(row) == {"participant", "session", "rsvp", "comment", "present"}
            assert row["rsvp"] in {"accepted", "declined", "tentative", "needs-action"}
        by_key = {(r["participant"], r["session"]): r for r in data["attendance"]}
        assert by_key["bert.claes@example.com", 4] == {
            "participant": "bert.claes@example.com",
            "session": 4,
            "rsvp": "accepted",
            "comment": "",
            "present": None,
        }
        assert by_key["sofie.maes@example.com", 2]["rsvp"] == "declined"
        assert by_key["sofie.maes@example.com", 2]["present"] is False
        assert by_key["bert.claes@example.com", 2]["present"] is True
        assert data["evaluations"] == [
            {
                "participant": "bert.claes@example.com",
                "session": 2,
                "absent": False,
                "answers": {"1": 4, "2": "Meten is weten", "3": "-meer tijd", "4": True},
            },
            {"participant": "sofie.maes@example.com", "session": 2, "absent": True, "answers": {}},
            {
                "participant": "jan.peeters@example.be",
                "session": 1,
                "absent": False,
                "answers": {"1": 5, "4": False, "5": "Werkdruk leren bespreken"},
            },
        ]

    async def test_json_text_keeps_accents(self, store):
        """The JSON text writes é and — as they are and reads back to the same data."""
        engine, _ = store
        async with engine.begin() as conn:
            data = await report.export(conn, SLUG)
        text = report.export_json(data)
        assert "café gesloten" in text
        assert json.loads(text) == data

    async def test_csv_for_excel_in_flanders(self, store):
        """The CSV has a BOM, ';' and CRLF, and parses back to one row per person and session."""
        engine, reg = store
        async with engine.begin() as conn:
            data = await report.export(conn, SLUG)
        blob = report.export_csv(data, reg)
        assert blob.startswith(b"\xef\xbb\xbf")
        assert b"\r\n" in blob
        assert blob.count(b"\n") == blob.count(b"\r\n")
        rows = list(csv.reader(io.StringIO(blob.decode("utf-8-sig"), newline=""), delimiter=";"))
        header, body = rows[0], rows[1:]
        assert header == [
            "participant", "name", "session", "date", "title", "rsvp", "comment", "present",
            "absent", "q1", "q2", "q3", "q4", "q5", "q6",
        ]  # fmt: skip
        assert len(body) == 12 * 5
        cell = {(r[0], r[2]): dict(zip(header, r, strict=True)) for r in body}
        bert = cell["bert.claes@example.com", "2"]
        assert bert["name"] == "Bert Claes"
        assert bert["date"] == "2027-02-11 09:30"
        assert bert["title"] == "Werkbaar werk meten"
        assert (bert["rsvp"], bert["present"], bert["absent"]) == ("accepted", "ja", "nee")
        assert (bert["q1"], bert["q2"], bert["q4"]) == ("4", "Meten is weten", "ja")
        assert bert["q3"] == "'-meer tijd"
        jan = cell["jan.peeters@example.be", "2"]
        assert jan["comment"] == '\'=HYPERLINK("http://evil")'
        assert cell["jan.peeters@example.be", "1"]["q5"] == "Werkdruk leren bespreken"
        assert (
            cell["sofie.maes@example.com", "2"]["comment"] == "Op vakantie, sorry — café gesloten"
        )
        assert cell["tom.janssens@example.com", "3"]["present"] == ""

    async def test_unknown_network(self, store):
        """Exporting a network that was never started says which slug is unknown."""
        engine, _ = store
        async with engine.begin() as conn:
            with pytest.raises(LeernetError, match="nope"):
                await report.export(conn, "nope")


class TestStatus:
    async def test_counts_and_marks(self, store):
        """The status report counts each session's answers and marks each person per session."""
        engine, _ = store
        async with engine.begin() as conn:
            status = await report.status(conn, SLUG)
        second = status.sessions[1]
        assert (second.accepted, second.declined, second.tentative, second.no_answer) == (
            1,
            1,
            1,
            9,
        )
        assert (second.evaluations, second.absent, second.average_rating) == (2, 1, 4)
        people = {p.email: p for p in status.people}
        assert people["bert.claes@example.com"].marks == "APAA-A"
        assert people["sofie.maes@example.com"].marks == "?X??-?"
        assert people["jan.peeters@example.be"].marks == "PT??-?"
        assert people["els.wouters@example.net"].bounced
        assert people["bert.claes@example.com"].evaluations == 1

    async def test_shows_who_bounced_and_why(self, store):
        """``leernet status`` lists each flagged participant with the bounce's reason."""
        engine, _ = store
        async with engine.begin() as conn:
            status = await report.status(conn, SLUG)
        assert [(f.email, f.reason) for f in status.flagged] == [("els.wouters@example.net", "550")]
        out = io.StringIO()
        report.render_status(status, Console(file=out, width=80, color_system=None))
        text = out.getvalue()
        assert "Bounced (1)" in text
        row = next(
            line
            for line in text.splitlines()
            if "els.wouters@example.net" in line and "550" in line
        )
        assert "Els Wouters" in row

    async def test_renders_in_80_columns(self, store):
        """``leernet status`` prints both tables within an 80-column terminal, with the counts."""
        engine, _ = store
        async with engine.begin() as conn:
            status = await report.status(conn, SLUG)
        out = io.StringIO()
        report.render_status(status, Console(file=out, width=80, color_system=None))
        text = out.getvalue()
        assert max(len(line) for line in text.splitlines()) <= 80
        row = next(line for line in text.splitlines() if "Werkbaar werk meten" in line)
        assert row.split()[:3] == ["2", "11-02-2027", "09:30"]
        assert row.split()[-7:] == ["1", "1", "1", "9", "2", "1", "4,0"]
        assert "els.wouters@example.net" in text
        assert "(cancelled)" in text
        assert "P present" in text
        assert " APAA-A " in text

    async def test_messages_not_sent_are_listed(self, store):
        """A message that failed for good is listed with its recipient and the server's reason."""
        engine, _ = store
        async with engine.begin() as conn:
            reg = await networks.get(conn, SLUG)
            await enqueue(
                conn,
                [Outgoing("invite/x/1", "invite", "gone@example.com", "<x@y>", b"raw", reg.id)],
                NOW,
            )
            await conn.execute(
                update(t.outbox)
                .where(t.outbox.c.key == "invite/x/1")
                .values(state="failed", last_error="550 5.1.1 no such user")
            )
            status = await report.status(conn, SLUG)
        assert status.not_sent == (NotSent("invite", "gone@example.com", "550 5.1.1 no such user"),)
        out = io.StringIO()
        report.render_status(status, Console(file=out, width=80, color_system=None))
        text = out.getvalue()
        assert "Not sent (1)" in text
        assert "gone@example.com" in text
        assert "550 5.1.1 no such user" in text
        assert max(len(line) for line in text.splitlines()) <= 80
