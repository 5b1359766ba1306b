"""`leernet run`: the three loops run a network's life; SIGTERM stops cleanly; one daemon per database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import func, select

from leernet.cli import main
from leernet.daemon import run_daemon
from leernet.network.load import load_network
from leernet.organiser.commands import start_network
from leernet.planning.planner import candidate_steps
from leernet.planning.steps import plan
from leernet.settings import Security
from leernet.store import open_store
from leernet.store import schema as t
from tests.dovecot import ImapAccount
from tests.imapserver import pymap_server
from tests.smtpserver import SmtpTestServer, closed_port
from tests.test_cli_e2e import env

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "config" / "network.example.toml"
T0 = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def now(self) -> datetime:
        return self.t


async def done_at(db: Path, now: datetime, limit: float = 120) -> None:
    """Wait until the daemon has done everything due at ``now``: every step planned, all sent.

    An event in the store, not a quiet period: a busy machine only makes it come later.
    """
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    try:
        async with asyncio.timeout(limit):
            while True:
                async with engine.connect() as conn:
                    steps = await candidate_steps(conn, now)
                    marked = {r[0] for r in await conn.execute(select(t.plan_marks.c.key))}
                    pending = (
                        await conn.execute(
                            select(func.count()).where(
                                t.outbox.c.state.notin_(("sent", "failed", "skipped", "cancelled"))
                            )
                        )
                    ).scalar_one()
                if not plan(steps, marked, now).due and pending == 0:
                    return
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


class TestLoops:
    async def test_a_network_runs_from_start_to_closing(self, tmp_path: Path) -> None:
        """With the clock moved session by session, the daemon's loops send each round exactly once."""
        network = load_network(EXAMPLE).network
        clock = Clock(T0)
        async with pymap_server() as imap:
            with SmtpTestServer() as smtp:
                settings = imap.settings(
                    smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security=Security.NONE,
                    secret=SecretStr("test-secret-not-for-production"),
                    database_url=f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}",
                    imap_poll_seconds=0.2, imap_idle_seconds=1,
                )  # fmt: skip
                db = tmp_path / "leernet.db"
                with (tmp_path / "start.log").open("w") as log:
                    await start_network(
                        EXAMPLE, settings, clock.now(), Console(file=log), dry_run=False,
                        out_dir=None,
                    )  # fmt: skip
                stop = asyncio.Event()
                daemon = asyncio.create_task(
                    run_daemon(settings, once=False, now=clock.now, stop=stop, tick=0.05)
                )
                try:
                    await done_at(db, clock.now())
                    assert len(smtp.received) == 17  # 12 invites, 5 manager notes
                    moments = []
                    for s in network.sessions:
                        moments += [
                            s.start - timedelta(days=1),  # reminders, low-acceptance warning
                            s.end + timedelta(hours=2),  # evaluation requests
                            s.end + timedelta(days=3, hours=2),  # evaluation reminders
                            s.end + timedelta(days=6, hours=2),  # digest (and the closing)
                        ]
                    last = network.sessions[-1]
                    # The closing summaries, three days after their preview at the last digest.
                    moments.append(last.end + timedelta(days=9, hours=2))
                    # Jan's growth conversation: his preview, then his summary.
                    moments.append(datetime(2027, 9, 11, 8, 0, tzinfo=UTC))
                    moments.append(datetime(2027, 9, 14, 8, 0, tzinfo=UTC))
                    for moment in moments:
                        clock.t = moment
                        await done_at(db, moment)
                finally:
                    stop.set()
                    assert await asyncio.wait_for(daemon, 30) == 0

        ids = Counter(m.message_id for m in smtp.received)
        assert max(ids.values()) == 1, "a message was sent twice"
        kinds = await sent_kinds(tmp_path / "leernet.db")
        assert set(kinds) == set(ids), "every message received is a sent outbox row, and back"
        per = Counter((rcpt, kind) for rcpt, kind in kinds.values())
        # Nobody answers here: six reminders, six requests, six evaluation reminders.
        bert = {kind: n for (rcpt, kind), n in per.items() if rcpt == "bert.claes@example.com"}
        assert bert == {
            "invite": 1,
            "reminder": 6,
            "eval-request": 6,
            "eval-reminder": 6,
            "closing": 1,
            "summary-preview": 1,  # what Carla will read, three days ahead
        }
        organiser = {kind: n for (rcpt, kind), n in per.items() if rcpt == "an.peeters@example.org"}
        assert organiser == {"digest": 6, "low-acceptance": 6}
        assert per["carla.dewit@example.com", "manager-summary"] == 4  # Bert, Sofie, Tom, Fatima
        assert per["dirk.vandenbroeck@example.be", "manager-summary"] == 2  # Jan (his date), Pieter


async def sent_kinds(db: Path) -> dict[str, tuple[str, str]]:
    """Message-ID -> (recipient, kind) of every outbox row marked sent."""
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(t.outbox.c.message_id, t.outbox.c.recipient, t.outbox.c.kind).where(
                    t.outbox.c.state == "sent"
                )
            )
            return {r.message_id: (r.recipient, r.kind) for r in rows}
    finally:
        await engine.dispose()


def _spawn(environment: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from leernet.cli import main; main()", *args],
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.dovecot
class TestProcess:
    def test_sigterm_stops_cleanly_and_a_restart_duplicates_nothing(
        self, dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SIGTERM ends `leernet run` with exit 0; a second daemon is refused meanwhile; a restart sends nothing again."""
        monkeypatch.chdir(tmp_path)
        runner = CliRunner()
        with SmtpTestServer() as smtp:
            environment = env(smtp, dovecot, tmp_path)
            assert runner.invoke(main, ["start", str(EXAMPLE)], env=environment).exit_code == 0
            daemon = _spawn(environment, "run")
            try:
                smtp.wait_for(17, timeout=30)
                second = runner.invoke(main, ["run", "--once"], env=environment)
                assert second.exit_code == 1
                assert "already running" in second.output
                daemon.send_signal(signal.SIGTERM)
                _, errors = daemon.communicate(timeout=30)
            finally:
                if daemon.poll() is None:  # a failure above: never leave the daemon running
                    daemon.kill()
                    daemon.communicate(timeout=30)
            assert daemon.returncode == 0, errors
            assert "leernet stopped" in errors
            again = runner.invoke(main, ["run", "--once"], env=environment)
            assert again.exit_code == 0, again.output
            assert "sent 0" in again.output
            ids = Counter(m.message_id for m in smtp.received)
            assert len(ids) == 17
            assert max(ids.values()) == 1

    def test_startup_says_plainly_what_is_wrong(
        self, dovecot: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A wrong IMAP password or an unreachable server is one clear line, not a traceback."""
        monkeypatch.chdir(tmp_path)
        runner = CliRunner()
        with SmtpTestServer() as smtp:
            environment = env(smtp, dovecot, tmp_path)
            wrong = runner.invoke(
                main, ["run", "--once"], env={**environment, "LEERNET_IMAP_PASSWORD": "nope"}
            )
            assert wrong.exit_code == 1
            assert "LOGIN" in wrong.output
            assert "Traceback" not in wrong.output
            gone = runner.invoke(
                main,
                ["run", "--once"],
                env={**environment, "LEERNET_IMAP_PORT": str(closed_port())},
            )
            assert gone.exit_code == 1
            assert "IMAP" in gone.output
            folder = runner.invoke(
                main, ["run", "--once"], env={**environment, "LEERNET_IMAP_FOLDER": "Nergens"}
            )
            assert folder.exit_code == 1
            assert "LEERNET_IMAP_FOLDER" in folder.output
