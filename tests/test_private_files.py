"""Files leernet writes are private under the common umask 022: files 0600, the folders it makes 0700."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from rich.console import Console

from leernet.cli import main
from leernet.mailer.attempts import AttemptLog
from leernet.mailer.inflight import InFlight
from leernet.organiser.commands import purge_network
from leernet.store import daemon_lock, open_store
from tests.reliability.harness import SECRET, SLUG, network_toml, people, settings_for

if TYPE_CHECKING:
    from collections.abc import Iterator

UNIT = Path(__file__).parents[1] / "config" / "leernet.service"


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """Every test here runs under umask 022, the default that made these files 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env(tmp: Path) -> dict[str, str]:
    return {
        "LEERNET_SECRET": SECRET,
        "LEERNET_SERVICE_ADDRESS": "netwerk@example.org",
        "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'leernet.db'}",
    }


class TestPrivateFiles:
    async def test_the_database_its_wal_lock_and_logs_are_0600(self, tmp_path: Path) -> None:
        """The SQLite file, its -wal and -shm, the daemon lock, the attempt log and the in-flight log are created 0600."""
        db = tmp_path / "leernet.db"
        url = f"sqlite+aiosqlite:///{db}"
        engine = await open_store(url)
        try:
            async with daemon_lock(engine, url), engine.connect() as conn:
                await conn.exec_driver_sql("SELECT count(*) FROM inbox")
                attempts = AttemptLog.beside(engine.url)
                attempts.note(1, 1)
                inflight = InFlight.for_store(url)
                inflight.started(1, 1, "0" * 64)
                files = {
                    p.name: mode(p) for p in tmp_path.iterdir() if p.name.startswith("leernet.db")
                }
                attempts.close()
                inflight.close()
        finally:
            await engine.dispose()
        names = ("leernet.db", "leernet.db-wal", "leernet.db-shm", "leernet.db.lock")
        names += ("leernet.db.attempts", "leernet.db.inflight")
        assert files == dict.fromkeys(names, 0o600)

    def test_dry_run_eml_files_and_their_new_folder_are_private(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`start --dry-run --out` makes its folders 0700 and every .eml (each holds a reply token) 0600."""
        monkeypatch.chdir(tmp_path)
        path = tmp_path / "network.toml"
        path.write_text(network_toml(people(2)), encoding="utf-8")
        out = tmp_path / "preview" / "hr"
        result = CliRunner().invoke(
            main, ["start", str(path), "--dry-run", "--out", str(out)], env=_env(tmp_path)
        )
        assert result.exit_code == 0, result.output
        emls = sorted(out.glob("*.eml"))
        assert len(emls) == 4
        assert {mode(p) for p in emls} == {0o600}
        assert (mode(tmp_path / "preview"), mode(out)) == (0o700, 0o700)

    def test_export_and_purge_files_are_0600(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`export --out` and `purge --out` write the organiser's copy 0600, also over an existing 0644 file."""
        monkeypatch.chdir(tmp_path)
        path = tmp_path / "network.toml"
        path.write_text(network_toml(people(2), first="2025-01-16T09:30:00"), encoding="utf-8")
        env = _env(tmp_path)
        runner = CliRunner()
        assert runner.invoke(main, ["start", str(path)], env=env).exit_code == 0
        assert mode(tmp_path / "leernet.db") == 0o600
        exported = tmp_path / "export.csv"
        exported.write_text("old")
        exported.chmod(0o644)
        result = runner.invoke(
            main, ["export", SLUG, "--format", "csv", "--out", str(exported)], env=env
        )
        assert result.exit_code == 0, result.output
        assert mode(exported) == 0o600
        assert exported.read_bytes() != b"old"
        purged = tmp_path / "purge.json"
        settings = settings_for(tmp_path / "leernet.db")
        later = datetime(2026, 6, 1, tzinfo=UTC)
        console = Console(file=StringIO())
        asyncio.run(purge_network(SLUG, purged, settings, later, console, force=True))
        assert mode(purged) == 0o600
        assert SLUG in purged.read_text(encoding="utf-8")

    def test_the_systemd_unit_sets_a_private_umask(self) -> None:
        """The systemd unit runs leernet with UMask=0077."""
        unit = UNIT.read_text(encoding="utf-8")
        assert "\nUMask=0077\n" in unit
