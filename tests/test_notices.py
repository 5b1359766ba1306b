"""Who hears about mail that belongs to no network."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from sqlalchemy import select

from leernet.messages.factory import Factory
from leernet.messages.notices import MAX_ORGANISERS_TOLD, notify
from leernet.network.load import load_network
from leernet.records import registration
from leernet.settings import Settings
from leernet.store import open_store
from leernet.store import schema as t

EXAMPLE = Path(__file__).parents[1] / "config" / "network.example.toml"
SECRET = "test-secret-not-for-production"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def stray_notice(tmp_path: Path, organisers: int, admin: str = "") -> list[str]:
    """Register networks run by ``organisers`` people; return who is told about a stray mail."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}"
    settings = Settings(
        _env_file=None,
        service_address="netwerk@example.org",
        secret=SECRET,
        database_url=url,
        admin_address=admin,
    )
    engine = await open_store(url)
    try:
        async with engine.begin() as conn:
            for i in range(organisers):
                source = (
                    EXAMPLE.read_text()
                    .replace('"hr-ovl-2027"', f'"net-{i}"')
                    .replace('"an.peeters@example.org"', f'"organiser{i}@example.org"')
                )
                path = tmp_path / f"net-{i}.toml"
                path.write_text(source)
                network = load_network(path).network
                await registration.register(conn, network, source, SECRET, NOW)
            await notify(
                conn,
                Factory(settings),
                key="notice/attention/1",
                network_id=None,
                topic="attention",
                now=NOW,
                values={"sender": "x@elders.be", "subject": "?", "folder": "f", "reason": "r"},
            )
            rows = await conn.execute(select(t.outbox.c.recipient).order_by(t.outbox.c.recipient))
            return list(rows.scalars())
    finally:
        await engine.dispose()


class TestStrayMail:
    async def test_a_few_organisers_each_hear_about_it(self, tmp_path: Path) -> None:
        """With one team running the networks, each of its organisers gets one notice."""
        told = await stray_notice(tmp_path, MAX_ORGANISERS_TOLD)
        assert told == [f"organiser{i}@example.org" for i in range(MAX_ORGANISERS_TOLD)]

    async def test_many_organisers_are_not_all_told(self, tmp_path: Path) -> None:
        """With more organisers and no admin address, no organiser gets a stranger's subject line."""
        assert await stray_notice(tmp_path, MAX_ORGANISERS_TOLD + 1) == []

    async def test_the_admin_address_hears_about_it(self, tmp_path: Path) -> None:
        """With LEERNET_ADMIN_ADDRESS set, only that address is told, however many organisers."""
        told = await stray_notice(tmp_path, MAX_ORGANISERS_TOLD + 1, admin="hr@example.org")
        assert told == ["hr@example.org"]


class TestAttentionSubject:
    async def test_a_subject_is_marked_and_defused_whoever_reports_it(self, tmp_path: Path) -> None:
        """Every attention notice shows the subject as the sender's words, with no link left in it."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}"
        settings = Settings(
            _env_file=None,
            service_address="netwerk@example.org",
            secret=SECRET,
            database_url=url,
            admin_address="hr@example.org",
        )
        engine = await open_store(url)
        try:
            async with engine.begin() as conn:
                await notify(
                    conn,
                    Factory(settings),
                    key="notice/attention/7",
                    network_id=None,
                    topic="attention",
                    now=NOW,
                    values={
                        "sender": "x@elders.be",
                        "subject": "Log in: https://evil.example/a\r\nBcc: y",
                        "folder": "f",
                        "reason": "r",
                    },
                )
                raw = (await conn.execute(select(t.outbox_body.c.raw))).scalar_one()
        finally:
            await engine.dispose()
        msg = email.message_from_bytes(raw, policy=default)
        assert isinstance(msg, EmailMessage)
        plain = msg.get_body(("plain",))
        assert plain is not None
        text = " ".join(str(plain.get_content()).split())
        assert "onderwerp volgens de afzender: «Log in: hxxps[:]//evil[.]example/a Bcc: y»" in text
        assert "evil.example" not in text
