"""A real Dovecot for tests, started from a throw-away config, plus IMAP helpers.

``dovecot_server`` (session scope) runs one Dovecot on a free loopback port
(MAIL-NOTES "A Dovecot for tests"); ``dovecot`` (function scope) gives each test
a fresh user (password ``secret``), so every test starts with an empty mailbox.
Tests that use them are marked ``dovecot``. Without Dovecot (or without root,
which Dovecot needs to switch to ``nobody``) they are skipped, unless
LEERNET_REQUIRE_DOVECOT=1 (CI), where that fails them instead.

The helpers (``append``, ``uids``, ``messages``, ``folders``) talk IMAP with
aioimaplib, so they work against any server, pymap included.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aioimaplib
import pytest
from pydantic import SecretStr

from leernet.mailer.imap_responses import parse_fetch
from leernet.settings import Security, Settings

if TYPE_CHECKING:
    from collections.abc import Iterator

PASSWORD = "secret"
REQUIRE = "LEERNET_REQUIRE_DOVECOT"
PREMADE = 200  # users netwerk1..netwerk200, one per test


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """Where and as whom to log in; ``settings()`` makes leernet Settings for it."""

    host: str
    port: int
    user: str
    password: str = PASSWORD

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_security": Security.NONE,
            "imap_user": self.user,
            "imap_password": SecretStr(self.password),
            "imap_timeout": 10.0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


CONFIG = """\
instance_name = leernet-test-{port}
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
{extra}
"""


class DovecotServer:
    """One Dovecot process with its own config, users file and maildirs under ``root``."""

    def __init__(self, root: Path, extra_config: str = "") -> None:
        self.root = root
        self.port = free_port()
        self.conf = root / "dovecot.conf"
        self._extra = extra_config
        self._users = itertools.count(1)
        self.dovecot = _binary("dovecot") or "dovecot"
        self.doveadm = _binary("doveadm") or "doveadm"

    def start(self) -> None:
        d = self.root
        for sub in ("run", "state", "mail", "home"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        # MAIL-NOTES gotcha 7: mail runs as nobody, auth as dovecot; both must reach these.
        d.chmod(0o755)
        for sub in ("mail", "home"):
            shutil.chown(d / sub, "nobody", "nogroup")
        # Dovecot re-reads passwd-file at most once a second: the per-test users exist up front.
        names = ["netwerk"] + [f"netwerk{n}" for n in range(1, PREMADE + 1)]
        (d / "users").write_text("".join(f"{n}:{{PLAIN}}{PASSWORD}::::::\n" for n in names))
        (d / "users").chmod(0o644)
        self.conf.write_text(CONFIG.format(d=d, port=self.port, extra=self._extra))
        # MAIL-NOTES gotcha 8: it daemonises and keeps inherited pipes open.
        subprocess.run(  # noqa: PLW1510 - the port check below says whether it started
            [self.dovecot, "-c", str(self.conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"Dovecot did not start; its log:\n{self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def doveadm_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: PLW1510 - callers look at the result
            [self.doveadm, "-c", str(self.conf), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def stop(self) -> None:
        """SIGTERM to the master (``doveadm stop`` would wait 3 s), then wait for it to go."""
        pid_file = self.root / "run" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            self.doveadm_run("stop")
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.02)

    def add_user(self, name: str = "", password: str = PASSWORD) -> ImapAccount:
        """A user with an empty mailbox: one of the premade ones, or a new one (takes a second)."""
        if not name:
            n = next(self._users)
            if n <= PREMADE:
                return ImapAccount("127.0.0.1", self.port, f"netwerk{n}", PASSWORD)
            name = f"netwerk{n}"
        with (self.root / "users").open("a") as users:
            users.write(f"{name}:{{PLAIN}}{password}::::::\n")
        time.sleep(1.1)  # passwd-file is re-read at most once a second
        return ImapAccount("127.0.0.1", self.port, name, password)

    def reset_uidvalidity(self, user: str, folder: str = "INBOX") -> None:
        """Give ``folder`` a new UIDVALIDITY, as a server does after losing its index.

        The mails stay and get new UIDs (RFC 3501 2.3.1.1). Open sessions are
        kicked first, so nobody holds the old index.
        """
        self.doveadm_run("kick", user)
        time.sleep(0.2)
        box = self.root / "mail" / user
        if folder != "INBOX":
            box /= "." + folder
        for path in box.glob("dovecot*"):
            if path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index"):
                path.unlink()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def dovecot_available() -> str:
    """Empty when Dovecot can run here, else why not."""
    if _binary("dovecot") is None:
        return "dovecot is not installed (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "the test Dovecot needs root (it runs the mail user as nobody)"
    return ""


@contextlib.contextmanager
def running_dovecot(extra_config: str = "") -> Iterator[DovecotServer]:
    """A Dovecot started in a temporary folder, stopped and removed afterwards (or a skip)."""
    why = dovecot_available()
    if why:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {why}")
        pytest.skip(why)
    with tempfile.TemporaryDirectory(prefix="leernet-dovecot-") as tmp:
        server = DovecotServer(Path(tmp), extra_config)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """One Dovecot for the whole session, or a skip (a failure when LEERNET_REQUIRE_DOVECOT=1)."""
    with running_dovecot() as server:
        yield server


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> ImapAccount:
    """A fresh Dovecot user with an empty mailbox, password ``secret``."""
    return dovecot_server.add_user()


@contextlib.asynccontextmanager
async def imap_client(account: ImapAccount) -> Any:
    client = aioimaplib.IMAP4(host=account.host, port=account.port, timeout=10)
    await client.wait_hello_from_server()
    response = await client.login(account.user, account.password)
    assert response.result == "OK", response
    try:
        yield client
    finally:
        await client.logout()
        # aioimaplib leaves the socket to the garbage collector; close it while the loop runs.
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()
            await asyncio.sleep(0)


async def append(account: ImapAccount, *raws: bytes, folder: str = "INBOX") -> None:
    """APPEND each raw message to ``folder`` (created if missing)."""
    async with imap_client(account) as client:
        if folder != "INBOX":
            await client.create(aioimaplib.quoted(folder))
        for raw in raws:
            response = await client.append(raw, mailbox=aioimaplib.quoted(folder))
            assert response.result == "OK", response


async def _select(client: Any, folder: str) -> bool:
    return bool((await client.select(aioimaplib.quoted(folder))).result == "OK")


async def uids(account: ImapAccount, folder: str = "INBOX") -> list[int]:
    """The UIDs in ``folder`` (empty when the folder does not exist)."""
    async with imap_client(account) as client:
        if not await _select(client, folder):
            return []
        response = await client.uid_search("ALL", charset=None)
        return sorted(int(w) for line in response.lines[:-1] for w in line.split())


async def messages(account: ImapAccount, folder: str = "INBOX") -> list[bytes]:
    """The raw bytes of every message in ``folder``, in UID order."""
    async with imap_client(account) as client:
        if not await _select(client, folder):
            return []
        response = await client.uid("fetch", "1:*", "(UID BODY.PEEK[])")
        if response.result != "OK":
            return []
        return [m.data for m in sorted(parse_fetch(response.lines), key=lambda m: m.uid)]


async def folders(account: ImapAccount) -> dict[str, str]:
    """Every folder's name -> its LIST attributes."""
    async with imap_client(account) as client:
        response = await client.list('""', "*")
        out: dict[str, str] = {}
        for line in response.lines[:-1]:
            attrs, _, rest = bytes(line).decode().partition(") ")
            name = rest.split(" ", 1)[1].strip('"')
            out[name] = attrs.lstrip("(")
        return out


async def recreate(account: ImapAccount, folder: str) -> None:
    """DELETE and CREATE a folder other than INBOX: it comes back with a new UIDVALIDITY."""
    async with imap_client(account) as client:
        await client.delete(aioimaplib.quoted(folder))
        await client.create(aioimaplib.quoted(folder))
