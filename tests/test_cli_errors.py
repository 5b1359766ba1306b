"""The CLI tells bad input from a bug: the first is one clear line and exit 1, the second a traceback and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from leernet.cli import main
from leernet.organiser import commands

EXAMPLE = Path(__file__).parents[1] / "config" / "network.example.toml"


class TestErrors:
    def test_a_missing_secret_is_bad_input(self, tmp_path: Path) -> None:
        """No LEERNET_SECRET: one line that names the setting, exit 1, no traceback."""
        env = {"LEERNET_SECRET": "", "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
        result = CliRunner().invoke(main, ["run", "--once"], env=env)
        assert result.exit_code == 1
        assert "LEERNET_SECRET must be set" in result.output
        assert "Traceback" not in result.output

    def test_a_bug_is_not_dressed_up_as_bad_input(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A ValueError from inside leernet is a bug: exit 2 and the traceback, not "error: ..."."""

        def broken(*_args: object, **_kwargs: object) -> None:
            raise ValueError("an internal mistake")

        monkeypatch.setattr(commands, "check_network", broken)
        result = CliRunner().invoke(main, ["check", str(EXAMPLE)], env={"LEERNET_SECRET": "x" * 20})
        assert result.exit_code == 2
        assert "unexpected error" in result.output
        assert "error: an internal mistake" not in result.output
