"""Read an iCalendar object with ical.js (Mozilla's parser), through tests/interop/expand.mjs.

Tests that use it are marked ``node``. Without node they are skipped, unless
LEERNET_REQUIRE_NODE=1 (CI), where a missing node fails them instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

INTEROP = Path(__file__).parent / "interop"
SCRIPT = INTEROP / "expand.mjs"


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} is not installed: the ical.js interop tests cannot run"
        if os.environ.get("LEERNET_REQUIRE_NODE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _install() -> None:
    """``npm ci`` once, under a file lock, when tests/interop/node_modules is missing."""
    if (INTEROP / "node_modules" / "ical.js").is_dir():
        return
    npm = _need("npm")
    lock = Path(tempfile.gettempdir()) / "leernet-interop-npm.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if not (INTEROP / "node_modules" / "ical.js").is_dir():
                subprocess.run(
                    [npm, "ci", "--silent", "--no-audit", "--no-fund"],
                    cwd=INTEROP,
                    check=True,
                    timeout=300,
                )
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_with_icaljs(ics: bytes) -> dict[str, Any]:
    """What ical.js makes of ``ics``: method, organizers, attendees and the expanded occurrences."""
    node = _need("node")
    _install()
    # TZ=UTC: a TZID that ical.js could not resolve would be read as floating local time
    # and still come out right on a machine whose clock is in that zone.
    env = {**os.environ, "TZ": "UTC"}
    done = subprocess.run(
        [node, str(SCRIPT)], input=ics, capture_output=True, check=False, timeout=60, env=env
    )
    if done.returncode != 0:
        pytest.fail(f"ical.js could not read the calendar:\n{done.stderr.decode()}")
    lines = [json.loads(line) for line in done.stdout.decode().splitlines() if line]
    header = lines[0]
    header["occurrences"] = [line for line in lines[1:] if line["kind"] == "occurrence"]
    return header


def expand_with_icaljs(ics: bytes) -> list[dict[str, Any]]:
    """The occurrences ical.js shows for ``ics``, with UTC ``start``/``end``, ``summary``..."""
    occurrences: list[dict[str, Any]] = read_with_icaljs(ics)["occurrences"]
    return occurrences
