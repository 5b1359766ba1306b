"""The organiser's roll call: what a reply to the digest marks, and whom."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import select

from leernet.organiser.commands import update_network
from leernet.replies.rollcall_text import parse_rollcall
from leernet.store import schema as t
from tests.test_consent import SOURCE
from tests.test_summary_preview import ORGANISER, World, open_world

DIGEST_1 = datetime(2027, 1, 21, 12, 0, tzinfo=UTC)  # after session 1's digest moment
ANNA = """[[participants]]
name = "Anna Aerts"
email = "anna.aerts@example.com"
manager_name = "Carla Dewit"
manager_email = "carla.dewit@example.com"

"""


class TestReading:
    def test_numbers_joined_by_words_and_commas(self) -> None:
        """“afwezig: 2 en 4” and "aanwezig: 1, 3 and 5." mark exactly those numbers."""
        call = parse_rollcall("afwezig: 2 en 4\naanwezig: 1, 3 and 5.", 6)
        assert call.absent == (2, 4)
        assert call.present == (1, 3, 5)

    def test_a_sentence_between_numbers_is_not_guessed(self) -> None:
        """“afwezig: 2 en dan nee, 4” marks nobody and is reported as not understood."""
        call = parse_rollcall("afwezig: 2 en dan nee, 4", 6)
        assert call.empty
        assert call.unknown == ("afwezig: 2 en dan nee, 4",)

    def test_a_number_outside_the_list_is_reported(self) -> None:
        """A number beyond the digest's list is named, the valid ones still count."""
        call = parse_rollcall("aanwezig: 1, 9", 4)
        assert call.present == (1,)
        assert call.unknown == ("aanwezig: 1, 9",)

    def test_a_pathological_line_is_read_once(self) -> None:
        """A line of thousands of numbers is not read (no digest has that many): reported instead."""
        line = "aanwezig: " + "1 " * 20_000 + "x"
        call = parse_rollcall(line, 4)
        assert call.empty
        assert call.unknown == (line[:100],)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    (tmp_path / "store").mkdir()
    async with open_world(tmp_path / "store") as w:
        yield w


class TestNumberingOfTheDigest:
    async def test_the_numbers_are_those_of_the_digest_answered(
        self, world: World, tmp_path: Path
    ) -> None:
        """An update adds Anna at the top after the digest: "afwezig: 2" still means Sofie."""
        await world.pass_at(DIGEST_1)
        (digest,) = [m for m in await world.mails() if m.key == "digest/hr-ovl-2027/1"]
        assert "2. Sofie Maes" in digest.text or "2 Sofie Maes" in digest.text
        changed = tmp_path / "network.toml"
        changed.write_text(SOURCE.replace("[[participants]]\n", ANNA + "[[participants]]\n", 1))
        console = Console(file=io.StringIO())
        await update_network(
            changed, world.factory.settings, DIGEST_1, console, dry_run=False, out_dir=None
        )
        outcome = await world.reply(
            "afwezig: 2",
            DIGEST_1.replace(hour=15),
            subject="Re: digest",
            in_reply_to=digest.message_id,
            sender=ORGANISER,
        )
        assert outcome == "rollcall"
        async with world.engine.connect() as conn:
            marked = (
                await conn.execute(
                    select(t.participants.c.email, t.presence.c.present)
                    .join(t.presence, t.presence.c.participant_id == t.participants.c.id)
                    .where(t.presence.c.session_number == 1)
                )
            ).all()
        assert [(r.email, r.present) for r in marked] == [("sofie.maes@example.com", False)]
