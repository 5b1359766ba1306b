"""Files leernet writes for the operator are private: 0600 files, 0700 directories.

The database, dry-run ``.eml`` files (every participant's reply token is in
them), ``export --out`` and ``purge --out`` hold what participants wrote; under
the common umask 022 they would be created readable by every local user. Modes
are given at creation (``os.open``/``mkdir``), not fixed afterwards, so the data
is never readable by others, not even for a moment; a file that already exists
is narrowed too (``fchmod``), a directory that already exists is left as the
operator made it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FILE_MODE", "create_file", "make_dirs", "write_bytes"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_dirs(path: Path) -> None:
    """Create ``path`` and any missing parent as 0700 (``Path.mkdir(parents=True)`` uses the umask for parents)."""
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(folder, DIR_MODE)  # noqa: PTH101 - mkdir's mode is masked by the umask


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a 0600 file (replacing its content)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through O_CREAT
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def create_file(path: Path) -> None:
    """Create an empty 0600 file unless ``path`` exists (a SQLite file before SQLite makes it 0644)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
