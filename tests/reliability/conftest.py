"""The reliability suite's figures: every scenario records what it measured; shown at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

FIGURES: list[tuple[str, str]] = []


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test appends are printed under its name in the terminal summary."""
    lines: list[str] = []
    yield lines
    FIGURES.extend((request.node.nodeid.rpartition("::")[2], line) for line in lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("leernet reliability figures")
    for name, line in FIGURES:
        terminalreporter.write_line(f"{name}: {line}")
