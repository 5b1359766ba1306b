"""The local servers a benchmark talks to: Dovecot, Postfix's smtp-sink or an aiosmtpd sink.

Every server runs in its own process (so it does not share the event loop or
the CPU time of the process measured) on a free loopback port, and is stopped
by the context manager that started it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


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


# -- Dovecot (MAIL-NOTES "A Dovecot for tests") -----------------------------------------

CONFIG = """\
instance_name = leernet-bench-{port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
  default_fields = uid=nobody gid=nogroup home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
USERS = 64


@dataclass
class Dovecot:
    root: Path
    port: int
    next_user: int = 0

    def user(self) -> str:
        """A user whose mailbox nobody used yet in this run."""
        self.next_user += 1
        if self.next_user > USERS:
            raise RuntimeError("out of premade Dovecot users")
        return f"bench{self.next_user}"

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


def dovecot_available() -> str:
    if _binary("dovecot") is None:
        return "dovecot is not installed (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "the benchmark Dovecot needs root (it runs the mail user as nobody)"
    return ""


@contextlib.contextmanager
def dovecot() -> Iterator[Dovecot]:
    why = dovecot_available()
    if why:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory(prefix="leernet-bench-dovecot-") as tmp:
        d = Path(tmp)
        port = free_port()
        for sub in ("run", "state", "mail", "home"):
            (d / sub).mkdir()
        d.chmod(0o755)
        for sub in ("mail", "home"):
            shutil.chown(d / sub, "nobody", "nogroup")
        names = [f"bench{n}" for n in range(1, USERS + 1)]
        (d / "users").write_text("".join(f"{n}:{{PLAIN}}{PASSWORD}::::::\n" for n in names))
        (d / "users").chmod(0o644)
        conf = d / "dovecot.conf"
        conf.write_text(CONFIG.format(d=d, port=port))
        # MAIL-NOTES gotcha 8: it daemonises and keeps inherited pipes open.
        subprocess.run(  # noqa: PLW1510
            [_binary("dovecot") or "dovecot", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(port, "dovecot")
            yield Dovecot(d, port)
        finally:
            pid_file = d / "run" / "master.pid"
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                    time.sleep(0.02)
