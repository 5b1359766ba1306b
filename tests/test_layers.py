"""The layer contract: the rooms of ``leernet/`` import downwards only, and CI says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the ``leernet`` package under ``tree`` with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--config",
            str(tree / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(
        ROOT / "leernet", tmp_path / "leernet", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


class TestLayers:
    def test_the_tree_keeps_every_contract(self, copy: Path) -> None:
        """As checked in: every contract is kept."""
        result = lint_imports(copy)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 broken" in result.stdout

    def test_a_lower_room_importing_a_higher_one_breaks_it(self, copy: Path) -> None:
        """The domain model importing the replies' processor is refused, and the import is named."""
        model = copy / "leernet" / "network" / "model.py"
        model.write_text(model.read_text() + "\nimport leernet.replies.processor  # noqa\n")
        result = lint_imports(copy)
        assert result.returncode != 0
        assert "leernet.network.model -> leernet.replies.processor" in result.stdout

    def test_sql_outside_the_records_breaks_it(self, copy: Path) -> None:
        """A message context reading the tables itself is refused: the records own them."""
        views = copy / "leernet" / "messages" / "render.py"
        views.write_text(views.read_text() + "\nfrom leernet.store import schema  # noqa\n")
        result = lint_imports(copy)
        assert result.returncode != 0
        assert "leernet.messages.render -> leernet.store.schema" in result.stdout
