"""`leernet demo`: the whole life on embedded servers, and a status that matches what the cast did."""

from __future__ import annotations

import asyncio
import email
import io
import json
import mailbox
from datetime import UTC, datetime
from email.policy import default
from pathlib import Path

import pytest
from rich.console import Console

from leernet.demo.run import run_demo
from leernet.network.load import load_network
from tests.icaljs import expand_with_icaljs


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:

    folder = tmp_path_factory.mktemp("demo") / "out"
    screen = io.StringIO()
    code = asyncio.run(run_demo(folder, fast=True, console=Console(file=screen, width=100)))
    assert code == 0, screen.getvalue()
    return folder, screen.getvalue()


class TestDemo:
    def test_status_matches_what_the_cast_did(self, demo: tuple[Path, str]) -> None:
        """Ines declines session 3, Wouter is tentative, Nathalie was absent in 2, Fatima's mail bounces."""
        folder, screen = demo
        data = json.loads((folder / "export.json").read_text())
        rsvp = {(a["participant"], a["session"]): a for a in data["attendance"]}
        assert rsvp["ines.lambrechts@example.org", 3]["rsvp"] == "declined"
        assert rsvp["ines.lambrechts@example.org", 4]["rsvp"] == "accepted"
        assert rsvp["wouter.dumont@example.be", 1]["rsvp"] == "tentative"
        assert rsvp["wouter.dumont@example.be", 1]["comment"]
        assert {rsvp["bert.claes@example.com", n]["rsvp"] for n in range(1, 7)} == {"accepted"}
        assert {rsvp["fatima.elamrani@example.com", n]["rsvp"] for n in range(1, 7)} == {
            "needs-action"
        }
        assert (
            rsvp["fatima.elamrani@example.com", 1]["present"] is False
        )  # the organiser's roll call
        evaluations = {(e["participant"], e["session"]): e for e in data["evaluations"]}
        assert evaluations["nathalie.goossens@example.org", 2]["absent"] is True
        # Everyone but Fatima evaluates every session they did not decline.
        assert len(evaluations) == 11 * 6 - 1
        assert not any(p == "fatima.elamrani@example.com" for p, _ in evaluations)
        assert "leernet status hr-ovl-2027" in screen
        assert "1 auto-reply" in screen  # the out-of-office, recorded and never answered
        assert "bounce" in screen

    def test_every_message_is_written_for_a_mail_client(self, demo: tuple[Path, str]) -> None:
        """Each message exchanged is an .eml file and an entry in demo.mbox."""
        folder, _ = demo
        files = sorted((folder / "mail").glob("*.eml"))
        box = mailbox.mbox(str(folder / "demo.mbox"))
        try:
            assert len(box) == len(files) > 300
        finally:
            box.close()
        subjects = [
            email.message_from_bytes(f.read_bytes(), policy=default)["Subject"] for f in files
        ]
        assert sum(1 for s in subjects if s.startswith("Uitnodiging:")) == 12

    @pytest.mark.node
    def test_the_invites_expand_in_thunderbirds_parser(self, demo: tuple[Path, str]) -> None:
        """ical.js expands a demo invite to exactly the sessions of the demo's network file."""
        folder, _ = demo
        network = load_network(folder / "network.toml").network
        invite = next(
            m
            for f in sorted((folder / "mail").glob("*.eml"))
            if (m := email.message_from_bytes(f.read_bytes(), policy=default))[
                "Subject"
            ].startswith("Uitnodiging")
        )
        ics = next(p for p in invite.walk() if p.get_content_type() == "text/calendar").get_payload(
            decode=True
        )
        starts = sorted(
            datetime.fromisoformat(o["start"]).astimezone(UTC) for o in expand_with_icaljs(ics)
        )
        assert starts == sorted(s.start for s in network.sessions)
