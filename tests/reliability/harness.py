"""Shared pieces of the reliability suite: network files, a killing SMTP sink, daemon processes.

Everything runs on loopback; every wait is bounded in time. ``FULL`` (the
environment variable ``LEERNET_RELIABILITY_FULL=1``) selects the heavier variants.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from aiosmtpd.smtp import SMTP, Envelope, Session
from rich.console import Console

from leernet.settings import Security, Settings

FULL = os.environ.get("LEERNET_RELIABILITY_FULL") == "1"
SECRET = "test-secret-not-for-production"
SERVICE = "netwerk@example.org"
SLUG = "hr-ovl-2027"
ORGANISER = "an.peeters@example.org"
# Far enough ahead that the real clock of a daemon subprocess never makes a step due.
FUTURE_FIRST = "2031-01-16T09:30:00"
NOW = datetime(2030, 12, 1, 9, 0, tzinfo=UTC)


def toml_string(value: str) -> str:
    """A TOML basic string (escapes quotes, backslashes and control characters)."""
    out = []
    for ch in value:
        if ch in {'"', "\\"}:
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str
    manager_name: str = ""
    manager_email: str = ""


def people(n: int, *, managers: bool = True) -> list[Person]:
    """``n`` participants, each with a manager of their own (so 2n start messages)."""
    return [
        Person(
            f"Deelnemer {i}",
            f"p{i}@example.com",
            f"Manager {i}" if managers else "",
            f"m{i}@example.net" if managers else "",
        )
        for i in range(1, n + 1)
    ]


def network_toml(
    participants: list[Person],
    *,
    slug: str = SLUG,
    name: str = "Lerend netwerk werkbaar werk",
    goal: str = "Van elkaar leren.",
    location: str = "Wetstraat 34, Brussel",
    title: str = "Kennismaking",
    speaker: str = "Dr. Lieve Martens",
    work_form: str = "Intervisie",
    organiser_name: str = "An Peeters",
    language: str = "nl",
    first: str = FUTURE_FIRST,
    count: int = 3,
    questions: list[tuple[str, str, bool]] | None = None,
) -> str:
    lines = [
        "[network]",
        f"slug = {toml_string(slug)}",
        f"name = {toml_string(name)}",
        f"goal = {toml_string(goal)}",
        f"language = {toml_string(language)}",
        'timezone = "Europe/Brussels"',
        f"location = {toml_string(location)}",
        f"max_participants = {max(15, len(participants))}",
        "",
        "[organiser]",
        f"name = {toml_string(organiser_name)}",
        f"email = {toml_string(ORGANISER)}",
        "",
        "[schedule]",
        f"first = {first}",
        "every_weeks = 4",
        f"count = {count}",
        "minutes = 150",
        "",
    ]
    for n in range(1, count + 1):
        kind = "kickoff" if n == 1 else ("closing" if n == count else "session")
        lines += [
            "[[sessions]]",
            f"number = {n}",
            f'kind = "{kind}"',
            f"title = {toml_string(title + (f' {n}' if n > 1 else ''))}",
            f"work_form = {toml_string(work_form)}",
            f"speaker = {toml_string(speaker)}",
            "",
        ]
    for p in participants:
        lines += [
            "[[participants]]",
            f"name = {toml_string(p.name)}",
            f"email = {toml_string(p.email)}",
        ]
        if p.manager_email:
            lines += [
                f"manager_name = {toml_string(p.manager_name)}",
                f"manager_email = {toml_string(p.manager_email)}",
            ]
        lines.append("")
    if questions is not None:
        lines.append("[evaluation]")
        for text, kind, share in questions:
            lines += [
                "[[evaluation.questions]]",
                f"text = {toml_string(text)}",
                f'kind = "{kind}"',
                f"share_with_manager = {'true' if share else 'false'}",
                "",
            ]
    return "\n".join(lines) + "\n"


def settings_for(db: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {
        "service_address": SERVICE,
        "secret": SECRET,
        "database_url": f"sqlite+aiosqlite:///{db}",
        "smtp_host": "127.0.0.1",
        "smtp_port": 25,
        "smtp_security": Security.NONE,
        "smtp_hostname": "leernet.test.invalid",
        "smtp_timeout": 5.0,
        "imap_host": "127.0.0.1",
        "imap_security": Security.NONE,
        "authserv_id": "127.0.0.1",  # our test server's Authentication-Results id
    }
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


async def register(folder: Path, toml: str, settings: Settings, now: datetime) -> str:
    """Register the network through the real ``leernet start`` code; return what it printed."""
    from leernet.organiser.commands import start_network as start  # noqa: PLC0415

    path = folder / "network.toml"
    path.write_text(toml, encoding="utf-8")
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    await start(path, settings, now, console, dry_run=False, out_dir=None)
    return buffer.getvalue()


def start_network(folder: Path, toml: str, settings: Settings, now: datetime | None = None) -> str:
    """``register`` from sync code; ``now`` defaults to the real clock (a daemon process sends what is due by it)."""
    return asyncio.run(register(folder, toml, settings, now or datetime.now(UTC)))


# -- reading the store without the package (as an outside observer would) ---------------


def db_query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        return list(conn.execute(sql, args).fetchall())


def outbox_states(db: Path) -> dict[str, int]:
    return dict(db_query(db, "SELECT state, count(*) FROM outbox GROUP BY state"))  # type: ignore[arg-type]


# -- an SMTP sink that records everything and can kill the sender -----------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    mail_from: str
    rcpt: tuple[str, ...]
    data: bytes


@dataclass
class _Trap:
    stage: str  # "rcpt": before DATA; "data": after the final dot, before our 250
    after: int  # trigger on the n-th command of that stage from now
    action: Callable[[], None]
    seen: int = 0


@dataclass
class _SinkState:
    lock: threading.Condition = field(default_factory=threading.Condition)
    deliveries: list[Delivery] = field(default_factory=list)
    trap: _Trap | None = None
    faults: list[tuple[str, int | None, int]] = field(default_factory=list)  # stage, code, times


class _SinkHandler:
    def __init__(self, state: _SinkState) -> None:
        self.s = state

    def _spring(self, stage: str) -> None:
        with self.s.lock:
            trap = self.s.trap
            if trap is None or trap.stage != stage:
                return
            trap.seen += 1
            if trap.seen < trap.after:
                return
            self.s.trap = None
        trap.action()

    def _fault(self, stage: str) -> int | bool | None:
        with self.s.lock:
            for i, (st, code, times) in enumerate(self.s.faults):
                if st == stage:
                    if times <= 1:
                        del self.s.faults[i]
                    else:
                        self.s.faults[i] = (st, code, times - 1)
                    return code
        return False

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self._spring("rcpt")
        code = self._fault("rcpt")
        if code is not False:
            return f"{code} Scripted reply"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        code = self._fault("data")
        if code is None:
            assert server.transport is not None
            server.transport.abort()
            await asyncio.Future()
        if code is not False:
            return f"{code} Scripted reply"
        # Counted as delivered before the 250 goes out: the worst case for duplicates.
        with self.s.lock:
            self.s.deliveries.append(
                Delivery(
                    str(envelope.mail_from),
                    tuple(envelope.rcpt_tos),
                    bytes(envelope.original_content or b""),
                )
            )
            self.s.lock.notify_all()
        self._spring("data")
        return "250 OK"


class Sink:
    """aiosmtpd on 127.0.0.1:0 in a thread; records deliveries; can spring a trap."""

    def __init__(self) -> None:
        self.port = 0
        self.state = _SinkState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self.closed = False

    def __enter__(self) -> Self:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            msg = "the SMTP sink did not start"
            raise RuntimeError(msg)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _factory(self) -> asyncio.Protocol:
        if self.closed:
            return _Hangup()
        protocol = SMTP(
            _SinkHandler(self.state),
            hostname="sink.test.invalid",
            data_size_limit=33554432,
            loop=self._loop,
        )
        original = protocol.connection_made

        def made(transport: asyncio.BaseTransport) -> None:
            self._transports.append(transport)
            original(transport)

        protocol.connection_made = made  # type: ignore[method-assign]
        return protocol

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(loop.create_server(self._factory, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for t in self._transports:
                t.abort()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    def trap(self, stage: str, after: int, action: Callable[[], None]) -> None:
        with self.state.lock:
            self.state.trap = _Trap(stage, after, action)

    def disarm(self) -> None:
        with self.state.lock:
            self.state.trap = None

    def fault(self, stage: str, code: int | None, times: int = 1) -> None:
        """Answer ``code`` at ``stage`` (rcpt, data) ``times`` times; None at data drops."""
        with self.state.lock:
            self.state.faults.append((stage, code, times))

    @property
    def deliveries(self) -> list[Delivery]:
        with self.state.lock:
            return list(self.state.deliveries)


class _Hangup(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


# -- the daemon as a separate process ---------------------------------------------------


def daemon_env(db: Path, **values: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEERNET_")}
    env.update(
        {
            "LEERNET_SERVICE_ADDRESS": SERVICE,
            "LEERNET_SECRET": SECRET,
            "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "LEERNET_SMTP_HOST": "127.0.0.1",
            "LEERNET_SMTP_SECURITY": "none",
            "LEERNET_SMTP_HOSTNAME": "leernet.test.invalid",
            "LEERNET_SMTP_TIMEOUT": "5",
            "LEERNET_IMAP_HOST": "127.0.0.1",
            "LEERNET_IMAP_SECURITY": "none",
        }
    )
    env.update({f"LEERNET_{k.upper()}": str(v) for k, v in values.items()})
    return env


CLI = [sys.executable, "-c", "from leernet.cli import main; main()"]


def spawn(cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``leernet ARGS`` as a child process (cwd without a .env file)."""
    with (cwd / "daemon.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*CLI, *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def run_cli(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - callers look at the result
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def kill9(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """SIGTERM, then SIGKILL if it does not stop in time; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill9(proc)
    return proc.wait(timeout)


def wait_until(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


@contextlib.contextmanager
def daemon(cwd: Path, env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = spawn(cwd, env, "run", *args)
    try:
        yield proc
    finally:
        stop(proc)
