"""The same service on PostgreSQL: start, send, read a reply, plan, the one-daemon lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import text

from leernet.daemon import Service
from leernet.errors import AlreadyRunning
from leernet.organiser import report
from leernet.organiser.commands import start_network
from leernet.settings import Security
from leernet.store import daemon_lock, open_store
from tests.dovecot import append
from tests.imapserver import pymap_server
from tests.smtpserver import SmtpTestServer

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "config" / "network.example.toml"


@pytest.mark.postgres
async def test_a_network_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """Invites go out, an Outlook accept is recorded, reminders are planned once, and a second daemon is refused."""
    now = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)
    engine = await open_store(postgres_url)
    async with engine.begin() as conn:  # a clean slate when the session's cluster is reused
        await conn.execute(
            text(
                "TRUNCATE networks, outbox, inbox, imap_state, plan_marks RESTART IDENTITY CASCADE"
            )
        )
    async with pymap_server() as imap:
        with SmtpTestServer() as smtp:
            settings = imap.settings(
                smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security=Security.NONE,
                secret=SecretStr("test-secret-not-for-production"), database_url=postgres_url,
            )  # fmt: skip
            with (tmp_path / "start.log").open("w") as log:
                await start_network(
                    EXAMPLE, settings, now, Console(file=log), dry_run=False, out_dir=None
                )
            service = Service(engine, settings, lambda: now)
            assert (await service.send_once()).sent == 17
            await append(imap, (ROOT / "tests/data/replies/outlook_accept_series.eml").read_bytes())
            assert (await service.inbox.run_once()).processed == 1
            later = now + timedelta(days=11)  # two days before the first session
            planner = Service(engine, settings, lambda: later)
            await planner.plan_once()
            await planner.plan_once()
            # 12 reminders, and a warning to the organiser: only 1 of 12 accepted.
            assert (await planner.send_once()).sent == 12 + 1
            async with engine.connect() as conn:
                data = await report.export(conn, "hr-ovl-2027")
            bert = [
                a["rsvp"]
                for a in data["attendance"]
                if a["participant"] == "bert.claes@example.com"
            ]
            assert bert == ["accepted"] * 6
            async with daemon_lock(engine, postgres_url):
                other = await open_store(postgres_url)
                try:
                    with pytest.raises(AlreadyRunning):
                        async with daemon_lock(other, postgres_url):
                            pass
                finally:
                    await other.dispose()
    await engine.dispose()
