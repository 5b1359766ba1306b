"""The inbox's in-flight log: which mail was being processed when the process died.

A FETCH batch is one transaction, so a crash (``kill -9``, the OOM killer, an
operator ending a hang) rolls everything back and the next start would fetch
and process the same mail again, and hang or crash again, for ever. This log
breaks the circle. Just before the processor runs on a mail the inbox appends
``S <uidvalidity> <uid> <sha256>``, just after ``E <uidvalidity> <uid>``; before
reading a whole batch ahead (``Processor.prepare``) ``P <uidvalidity> <uid>...``;
once the batch's transaction commits the file is removed (a quiet service
leaves none behind). At the next start
(``interrupted``) a mail with an ``S`` and no ``E`` is the one the process died
on: the inbox archives it and sets it aside without running the processor. A
batch whose ``P`` has no ``S`` after it died while being read ahead: its mails
are then processed one per transaction, so a second crash names the mail.

The file is written with ``O_APPEND`` and no fsync, like the attempt log: the
kernel keeps what a killed process wrote (a power cut may lose the last line;
then the mail is simply processed again). Where it lives: beside a SQLite
database (``<db>.inflight``); for any other database in the working directory
(``leernet-<hash of the URL>.inflight``; the systemd unit's
``WorkingDirectory``), because a table would be a schema change and a row
written before each mail would cost a commit per mail. It is created 0600.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from leernet.store.engine import sqlite_path

log = logging.getLogger("leernet.inbox")


_MARK_PARTS = 3  # "<mark> <uidvalidity> <uid>", then the digest on a start line
_SHA256_HEX = 64


@dataclass(frozen=True, slots=True)
class Interrupted:
    """What the log says the last process left unfinished."""

    started: tuple[tuple[int, int, str], ...] = ()  # (uidvalidity, uid, sha256): died on these
    read_ahead: frozenset[tuple[int, int]] = frozenset()  # (uidvalidity, uid): died reading ahead

    def __bool__(self) -> bool:
        return bool(self.started or self.read_ahead)


class InFlight:
    """Append-only ``S``/``E``/``P`` lines, removed after every commit."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._dirty = False

    @classmethod
    def for_store(cls, url: str) -> InFlight:
        """``<db>.inflight`` beside a SQLite file; in the working directory for other stores."""
        path = sqlite_path(url)
        if path is not None:
            return cls(path.with_name(path.name + ".inflight"))
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite"):
            return cls(None)  # an in-memory database dies with the process
        key = parsed.render_as_string(hide_password=True).encode()
        return cls(Path(f"leernet-{hashlib.sha256(key).hexdigest()[:12]}.inflight").absolute())

    def started(self, uidvalidity: int, uid: int, digest: str) -> None:
        """Note that processing of this mail begins."""
        self._write(b"S %d %d %s\n" % (uidvalidity, uid, digest.encode("ascii")))

    def ended(self, uidvalidity: int, uid: int) -> None:
        """Note that processing of this mail ended (committed or handled)."""
        self._write(b"E %d %d\n" % (uidvalidity, uid))

    def reading_ahead(self, uidvalidity: int, uids: list[int]) -> None:
        """Note that the batch's lookups read these mails ahead."""
        self._write(b"P %d %s\n" % (uidvalidity, b" ".join(b"%d" % uid for uid in uids)))

    def committed(self) -> None:
        """The batch is in the store: nothing is in flight any more."""
        if self._dirty:
            self.clear()

    def _write(self, line: bytes) -> None:
        if self.path is None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, line)
            self._dirty = True
        except OSError as exc:
            # Without the log a crash on one mail may repeat at the next start; say so once.
            log.warning("cannot write the in-flight log %s: %s", self.path, exc)
            self.path = None

    def interrupted(self) -> Interrupted:
        """What a previous process started and never finished (read once, at start)."""
        if self.path is None:
            return Interrupted()
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return Interrupted()
        except OSError as exc:
            log.warning("cannot read the in-flight log %s: %s", self.path, exc)
            return Interrupted()
        open_: dict[tuple[int, int], str] = {}
        ahead: set[tuple[int, int]] = set()
        for line in text.splitlines():
            parts = line.decode("ascii", "replace").split()
            if len(parts) < _MARK_PARTS or not all(p.isdigit() for p in parts[1:3]):
                continue  # a line cut short by the kill
            uidvalidity, uid = int(parts[1]), int(parts[2])
            if parts[0] == "S" and len(parts) == _MARK_PARTS + 1 and len(parts[3]) == _SHA256_HEX:
                open_[(uidvalidity, uid)] = parts[3]
                ahead.clear()  # the read-ahead finished: the mail in hand is the one to blame
            elif parts[0] == "E":
                open_.pop((uidvalidity, uid), None)
            elif parts[0] == "P" and all(p.isdigit() for p in parts[1:]):
                ahead = {(uidvalidity, int(u)) for u in parts[2:]}
        started = tuple((uv, uid, digest) for (uv, uid), digest in open_.items())
        return Interrupted(started, frozenset(ahead))

    def clear(self) -> None:
        """Forget every line (after a commit, or once a previous process's were acted on)."""
        self.close()
        self._dirty = False
        if self.path is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove the in-flight log %s: %s", self.path, exc)

    def close(self) -> None:
        """Close the log file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
