"""What the CLI prints: values from network files and the store appear literally, never as Rich markup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from click.testing import CliRunner

from leernet.cli import main
from tests.reliability.harness import SECRET, SLUG, Person, network_toml

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

NETWORK_NAME = "Netwerk [/] werkbaar [bold]werk"
LINK = "[link=//e]Bert[/link]"  # short: the status table cuts names after 22 characters
BOLD = "[bold]Els"
PEOPLE = [
    Person(LINK, "bert@example.com"),
    Person(BOLD, "els@example.com"),
    Person("Jan [/red]", "jan@example.com"),
]


def _env(tmp: Path) -> dict[str, str]:
    return {
        "LEERNET_SECRET": SECRET,
        "LEERNET_SERVICE_ADDRESS": "netwerk@example.org",
        "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'leernet.db'}",
        "COLUMNS": "250",
    }


def _invoke(tmp: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=_env(tmp))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


class TestRichMarkupIsPrintedLiterally:
    def test_check_prints_markup_in_names_as_text(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`leernet check` of a network named with `[/]` and people named with `[link=…]` or `[bold]` prints them as written, without a traceback."""
        monkeypatch.chdir(tmp_path)
        path = tmp_path / "network.toml"
        path.write_text(network_toml(PEOPLE, name=NETWORK_NAME), encoding="utf-8")
        code, output = _invoke(tmp_path, "check", str(path))
        assert code == 0, output
        for text in (NETWORK_NAME, LINK, BOLD, "Jan [/red]"):
            assert text in output

    def test_status_and_update_print_names_as_text(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`leernet status` and the sentences of `leernet update` show markup in names literally."""
        monkeypatch.chdir(tmp_path)
        path = tmp_path / "network.toml"
        path.write_text(network_toml(PEOPLE, name=NETWORK_NAME), encoding="utf-8")
        code, output = _invoke(tmp_path, "start", str(path))
        assert code == 0, output
        code, output = _invoke(tmp_path, "status", SLUG)
        assert code == 0, output
        for text in (NETWORK_NAME, LINK, BOLD, "Jan [/red]"):
            assert text in output
        joined = [*PEOPLE, Person("[link=//x]Nieuw[/link]", "nieuw@example.com")]
        path.write_text(network_toml(joined, name=NETWORK_NAME), encoding="utf-8")
        code, output = _invoke(tmp_path, "update", str(path))
        assert code == 0, output
        assert "New participant: [link=//x]Nieuw[/link] <nieuw@example.com>" in output

    def test_an_error_naming_a_value_prints_it_as_text(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An error message that repeats the user's value (`[/]`) is one plain line and exit 1, not a traceback."""
        monkeypatch.chdir(tmp_path)
        path = tmp_path / "network.toml"
        path.write_text(network_toml(PEOPLE), encoding="utf-8")
        assert _invoke(tmp_path, "start", str(path))[0] == 0
        code, output = _invoke(tmp_path, "status", "geen[/]netwerk")
        assert code == 1
        assert "no network 'geen[/]netwerk' is registered" in output
