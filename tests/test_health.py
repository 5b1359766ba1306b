"""`leernet health` and the systemd notifications: what monitoring sees of the service."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from pydantic import SecretStr

from leernet.cli import main
from leernet.daemon import run_daemon
from leernet.mailer.queue import Outgoing, enqueue
from leernet.ops.health import check, lines
from leernet.ops.watchdog import Notifier
from leernet.settings import Security, Settings
from leernet.store import open_store
from leernet.store import schema as t
from tests.imapserver import pymap_server
from tests.smtpserver import SmtpTestServer

SECRET = "test-secret-not-for-production"


def env(db: Path) -> dict[str, str]:
    return {
        "LEERNET_SECRET": SECRET,
        "LEERNET_SERVICE_ADDRESS": "netwerk@example.org",
        "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
    }


class TestHealth:
    def test_a_store_without_a_daemon_is_unwell(self, tmp_path: Path) -> None:
        """No daemon and no IMAP contact ever: exit 1, one line per problem."""
        runner = CliRunner()
        result = runner.invoke(main, ["health"], env=env(tmp_path / "leernet.db"))
        assert result.exit_code == 1
        assert "problem: no leernet daemon is running" in result.output
        assert "problem: the mailbox was never reached" in result.output

    def test_json_says_the_same(self, tmp_path: Path) -> None:
        """--json carries the problems and the facts behind them."""
        runner = CliRunner()
        result = runner.invoke(main, ["health", "--json"], env=env(tmp_path / "leernet.db"))
        data = json.loads(result.output)
        assert data["healthy"] is False
        assert data["facts"]["daemon_running"] is False
        assert any("daemon" in p for p in data["problems"])

    async def test_a_running_daemon_that_reads_its_mailbox_is_well(self, tmp_path: Path) -> None:
        """While the daemon runs and has read the mailbox, health reports no problem."""
        async with pymap_server() as imap:
            with SmtpTestServer() as smtp:
                settings = imap.settings(
                    smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security=Security.NONE,
                    secret=SecretStr(SECRET),
                    database_url=f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}",
                    imap_poll_seconds=0.2, imap_idle_seconds=1,
                )  # fmt: skip
                stop = asyncio.Event()
                ready = asyncio.Event()

                async def on_ready() -> None:
                    ready.set()

                daemon = asyncio.create_task(
                    run_daemon(settings, once=False, stop=stop, ready=on_ready, tick=0.05)
                )
                try:
                    await asyncio.wait_for(ready.wait(), 30)
                    found = None
                    for _ in range(200):  # the first heartbeat records the first IMAP pass
                        found = await check(settings, datetime.now(UTC))
                        if found.well:
                            break
                        await asyncio.sleep(0.05)
                    assert found is not None
                    assert found.well, found.problems
                    assert lines(found)[0].startswith("leernet is well")
                finally:
                    stop.set()
                    assert await asyncio.wait_for(daemon, 30) == 0
                after = await check(settings, datetime.now(UTC))
                assert "no leernet daemon is running on this database (nobody holds its lock)" in (
                    after.problems
                )

    async def test_stale_contact_overdue_and_failed_mail_are_problems(self, tmp_path: Path) -> None:
        """An hour without IMAP, a message 20 minutes overdue and one failed today: three lines."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}"
        settings = Settings(_env_file=None, secret=SECRET, database_url=url)  # type: ignore[call-arg]
        now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
        engine = await open_store(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    t.service_state.insert().values(
                        key="imap-contact", value="", updated_at=now - timedelta(hours=1)
                    )
                )
                late = now - timedelta(minutes=20)
                await enqueue(
                    conn,
                    [
                        Outgoing("k1", "reminder", "a@example.com", "<1@x>", b"one", None),
                        Outgoing("k2", "reminder", "b@example.com", "<2@x>", b"two", None),
                    ],
                    late,
                )
                await conn.execute(
                    t.outbox.update().where(t.outbox.c.key == "k2").values(state="failed")
                )
        finally:
            await engine.dispose()
        found = await check(settings, now)
        text = "\n".join(lines(found))
        assert "last reached 60 minutes ago" in text
        assert "1 message(s) due more than 15 minutes ago" in text
        assert "1 message(s) failed in the last day" in text


class TestSystemdNotify:
    async def test_ready_watchdog_and_stopping_reach_systemd(self, tmp_path: Path) -> None:
        """Under systemd the daemon says READY=1, then WATCHDOG=1 while it runs, then STOPPING=1."""
        path = tmp_path / "notify.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(path))
        listener.setblocking(False)  # noqa: FBT003 - the socket API
        notifier = Notifier.from_environment(
            {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"}
        )
        assert notifier.interval == 0.05
        loop = asyncio.get_running_loop()
        got: list[str] = []

        async def receive(until: str) -> None:
            while until not in got:
                got.append((await loop.sock_recv(listener, 100)).decode())

        try:
            async with pymap_server() as imap:
                with SmtpTestServer() as smtp:
                    settings = imap.settings(
                        smtp_host="127.0.0.1", smtp_port=smtp.port,
                        smtp_security=Security.NONE, secret=SecretStr(SECRET),
                        database_url=f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}",
                    )  # fmt: skip
                    stop = asyncio.Event()
                    daemon = asyncio.create_task(
                        run_daemon(settings, once=False, stop=stop, notifier=notifier, tick=0.05)
                    )
                    await asyncio.wait_for(receive("READY=1"), 30)
                    got.clear()
                    await asyncio.wait_for(receive("WATCHDOG=1"), 30)
                    await asyncio.wait_for(receive("WATCHDOG=1"), 30)  # again: it keeps going
                    stop.set()
                    assert await asyncio.wait_for(daemon, 30) == 0
                    await asyncio.wait_for(receive("STOPPING=1"), 10)
        finally:
            listener.close()

    def test_outside_systemd_nothing_is_sent(self) -> None:
        """Without NOTIFY_SOCKET the notifier stays silent and has no watchdog."""
        notifier = Notifier.from_environment({})
        assert notifier.interval is None
        assert notifier.send("READY=1") is False
