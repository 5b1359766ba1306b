"""The outbox's attempt log: which messages went as far as the SMTP DATA command.

A row is ``sending`` from its claim until its outcome is committed, so after a
``kill -9`` the store alone cannot tell a message the server may have taken
(the kill came after DATA) from one that never left (a claimed row still
waiting, or a kill before DATA), nor one whose 250 came but was not committed
yet (outcomes are written 20 at a time). This log tells them apart: just before
DATA the sender appends ``<row id> <attempts>`` to a file next to the database,
and after the 250 ``<row id> <attempts> <unix time>``. Recovery
(``recovery.recover``) then marks a row with a 250 ``sent``, puts one that never
reached DATA back as ``queued`` and one cut between DATA and the 250 as
``resend`` (perhaps delivered once); a ``resend`` cut there again is not sent a
third time.

The file is written with ``O_APPEND`` and no fsync: the kernel keeps what a
killed process wrote; a power cut may lose the last lines, and then a message
may be sent once more than strictly needed (never lost). Without a file (a
PostgreSQL store, or the file cannot be opened) every interrupted row counts
as perhaps delivered, as before the log existed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL

from leernet.store.engine import sqlite_path

log = logging.getLogger("leernet.outbox")


_WITH_TIME = 3  # "<row> <attempt> <time>": the 250 came


@dataclass(frozen=True, slots=True)
class Attempts:
    """Per (row id, attempts): reached DATA (a key), and when the server said 250 (or None)."""

    seen: dict[tuple[int, int], datetime | None]

    def reached(self, row_id: int, attempts: int) -> bool:
        """Whether this attempt of the row went as far as DATA."""
        return (row_id, attempts) in self.seen

    def delivered_at(self, row_id: int, attempts: int) -> datetime | None:
        """When the server said 250 to this attempt (None: it did not, as far as the log knows)."""
        return self.seen.get((row_id, attempts))


class AttemptLog:
    """Append-only lines ``<row id> <attempts>`` (reached DATA) and ``… <unix time>`` (250)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def beside(cls, url: URL) -> AttemptLog:
        """The log of a SQLite store (``<db>.attempts``); a disabled log for other stores."""
        path = sqlite_path(url)
        return cls(None if path is None else path.with_name(path.name + ".attempts"))

    @property
    def enabled(self) -> bool:
        """Whether there is a log at all (SQLite stores only)."""
        return self.path is not None

    def note(self, row_id: int, attempts: int) -> None:
        """Record that this attempt of the row is about to send DATA."""
        self._write(b"%d %d\n" % (row_id, attempts))

    def delivered(self, row_id: int, attempts: int, when: datetime) -> None:
        """Record the server's 250 for this attempt, before the store has it (one batch later)."""
        self._write(b"%d %d %d\n" % (row_id, attempts, int(when.timestamp())))

    def _write(self, line: bytes) -> None:
        if self.path is None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, line)
        except OSError as exc:
            # Without the line a crash may send this message once more: never lose it.
            log.warning("cannot write the attempt log %s: %s", self.path, exc)
            self.path = None

    def read(self) -> Attempts | None:
        """What the log says about each attempt; None when there is no log to ask."""
        if self.path is None:
            return None
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return Attempts({})
        except OSError as exc:
            log.warning("cannot read the attempt log %s: %s", self.path, exc)
            return None
        seen: dict[tuple[int, int], datetime | None] = {}
        for line in text.splitlines():
            parts = line.split()
            if not all(p.isdigit() for p in parts) or len(parts) not in {2, 3}:
                continue  # a line cut short by the kill
            key = (int(parts[0]), int(parts[1]))
            if len(parts) == _WITH_TIME:
                seen[key] = datetime.fromtimestamp(int(parts[2]), UTC)
            else:
                seen.setdefault(key, None)
        return Attempts(seen)

    def clear(self) -> None:
        """Forget every line: call only when no row is in flight."""
        self.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def close(self) -> None:
        """Close the log file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
