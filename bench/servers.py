"""The local servers a benchmark talks to: Dovecot, Postfix's smtp-sink or an aiosmtpd sink.

Every server runs in its own process (so it does not share the event loop or
the CPU time of the process measured) on a free loopback port, and is stopped
by the context manager that started it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.dovecot import PASSWORD, DovecotServer, _binary, dovecot_available, free_port

__all__ = ["PASSWORD", "Dovecot", "Sink", "dovecot", "free_port", "sink_kinds", "smtp_sink"]


def _wait_port(port: int, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start on port {port}")


# -- SMTP sinks -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sink:
    name: str
    port: int


@contextlib.contextmanager
def smtp_sink(kind: str) -> Iterator[Sink]:
    """``smtp-sink`` (Postfix, C) or ``aiosmtpd`` (Python), each in its own process."""
    port = free_port()
    if kind == "smtp-sink":
        binary = _binary("smtp-sink")
        if binary is None:
            raise RuntimeError("smtp-sink is not installed (apt-get install postfix)")
        # -u nobody: it refuses to run as root; backlog 256; 8BITMIME and PIPELINING on.
        cmd = [binary, "-u", "nobody", f"127.0.0.1:{port}", "256"]
    else:
        cmd = [sys.executable, "-m", "bench.sink", str(port)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_port(port, kind)
        yield Sink(kind, port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def sink_kinds() -> list[str]:
    kinds = ["aiosmtpd"]
    if _binary("smtp-sink") is not None:
        kinds.insert(0, "smtp-sink")
    return kinds


# -- Dovecot: the tests' throw-away server (tests/dovecot.py), with bulk delivery ------


@dataclass
class Dovecot:
    server: DovecotServer

    @property
    def root(self) -> Path:
        return self.server.root

    @property
    def port(self) -> int:
        return self.server.port

    def user(self) -> str:
        """A user whose mailbox nobody used yet in this run (one of the premade ones)."""
        return self.server.add_user().user

    def fill(self, user: str, messages: list[bytes]) -> None:
        """Deliver messages straight into the user's maildir (``new/``): no APPEND round trips.

        Dovecot indexes them on the next SELECT, as it does for mail its LDA delivered.
        """
        box = self.root / "mail" / user
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        stamp = int(time.time())
        for i, raw in enumerate(messages):
            (box / "new" / f"{stamp}.M{i}P{os.getpid()}.bench").write_bytes(raw)
        subprocess.run(["chown", "-R", "nobody:nogroup", str(box)], check=True)


@contextlib.contextmanager
def dovecot() -> Iterator[Dovecot]:
    why = dovecot_available()
    if why:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory(prefix="leernet-bench-dovecot-") as tmp:
        server = DovecotServer(Path(tmp))
        server.start()
        try:
            yield Dovecot(server)
        finally:
            server.stop()
