"""A real, scriptable aiosmtpd on 127.0.0.1 port 0, for tests that send mail.

It runs in its own thread with its own event loop, so sync tests (CLI runs
that call ``asyncio.run``) and async tests can both use it. It records every
message it accepts (envelope and bytes) and can be told to misbehave for the
next N attempts::

    with SmtpTestServer() as server:
        server.fail_connect(421)            # next connection greeted with 421 and closed
        server.fail_rcpt(452, times=2)      # next two RCPT answered 452
        server.fail_data(451)               # next DATA answered 451 after the data
        server.drop_in_data()               # next DATA: connection cut after the first line
        settings = server.settings()        # Settings pointing at it (security none)
        ...
        server.wait_for(3)                  # the first three received messages
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from enum import StrEnum
from typing import Any, Self

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from leernet.settings import Security, Settings

HOSTNAME = "mx.test.invalid"  # set explicitly: no getfqdn() stall (MAIL-NOTES gotcha 5)


class Stage(StrEnum):
    CONNECT = "connect"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"


@dataclass(frozen=True, slots=True)
class Received:
    """One message the server accepted with 250."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # as received, after dot-unstuffing (RFC 5321 4.5.2)
    login: str | None

    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    @property
    def message_id(self) -> str:
        return str(self.message()["Message-ID"])


@dataclass(slots=True)
class _Fault:
    stage: Stage
    code: int | None  # None: drop the connection
    text: str
    times: int
    recipient: str | None = None


@dataclass(slots=True)
class _State:
    lock: threading.Condition = field(default_factory=threading.Condition)
    faults: list[_Fault] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    transactions: int = 0  # DATA commands seen, accepted or not

    def take(self, stage: Stage, recipient: str | None = None) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.stage is stage and fault.recipient in (None, recipient):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


class _Refuse(asyncio.Protocol):
    """Greets with a scripted error and hangs up (RFC 5321 3.1: 421 or 554 at connect)."""

    def __init__(self, fault: _Fault) -> None:
        self.fault = fault

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(f"{self.fault.code} {self.fault.text}\r\n".encode("ascii"))
        transport.close()


class _Handler:
    def __init__(self, state: _State) -> None:
        self.state = state

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.state.take(Stage.MAIL)
        if fault is not None:
            return f"{fault.code} {fault.text}"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.state.take(Stage.RCPT, address)
        if fault is not None:
            return f"{fault.code} {fault.text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self.state.lock:
            self.state.transactions += 1
        fault = self.state.take(Stage.DATA)
        if fault is not None and fault.code is not None:
            return f"{fault.code} {fault.text}"
        if fault is not None:
            # The data arrived but the 250 never will: the client cannot know it was
            # delivered, so it must send again (at-least-once).
            assert server.transport is not None
            server.transport.abort()
            await asyncio.Future()  # cancelled by connection_lost
        login = session.auth_data if session.authenticated else None
        received = Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            login=str(login) if login is not None else None,
        )
        with self.state.lock:
            self.state.received.append(received)
            self.state.lock.notify_all()
            n = len(self.state.received)
        return f"250 OK queued as {n}"


class SmtpTestServer:
    """A thread running aiosmtpd on 127.0.0.1:0; a context manager."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        hostname: str = HOSTNAME,
        credentials: dict[str, str] | None = None,
        data_size_limit: int | None = 33554432,
    ) -> None:
        self.hostname = hostname
        self.credentials = credentials
        self.data_size_limit = data_size_limit
        self.port = 0
        self._state = _State()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="smtp-test-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            msg = "the test SMTP server did not start"
            raise RuntimeError(msg)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None
        self._thread = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        creds = self.credentials or {}
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if creds.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    def _factory(self) -> asyncio.Protocol:
        with self._state.lock:
            self._state.connections += 1
        fault = self._state.take(Stage.CONNECT)
        if fault is not None:
            return _Refuse(fault)
        assert self._loop is not None
        protocol = SMTP(
            _Handler(self._state),
            hostname=self.hostname,
            data_size_limit=self.data_size_limit,
            authenticator=self._authenticate if self.credentials is not None else None,
            auth_require_tls=False,  # loopback only; the outbox refuses AUTH in clear elsewhere
            loop=self._loop,
        )
        original = protocol.connection_made

        def connection_made(transport: asyncio.BaseTransport) -> None:
            self._transports.append(transport)
            original(transport)

        protocol.connection_made = connection_made  # type: ignore[method-assign]
        return protocol

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(loop.create_server(self._factory, self.host, 0))
            self.port = server.sockets[0].getsockname()[1]
        except BaseException as exc:
            self._error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for transport in self._transports:
                transport.abort()
            loop.run_until_complete(server.wait_closed())
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # -- scripting -------------------------------------------------------------------------

    def reply(
        self,
        stage: Stage,
        code: int | None,
        text: str = "",
        *,
        times: int = 1,
        recipient: str | None = None,
    ) -> None:
        """Answer ``code`` (None: drop the connection) at ``stage`` for the next ``times``."""
        text = text or ("Connection dropped" if code is None else f"Scripted {code} reply")
        with self._state.lock:
            self._state.faults.append(_Fault(stage, code, text, times, recipient))

    def fail_connect(self, code: int = 421, *, times: int = 1) -> None:
        self.reply(Stage.CONNECT, code, "Service not available, closing channel", times=times)

    def fail_rcpt(self, code: int = 452, *, times: int = 1, recipient: str | None = None) -> None:
        self.reply(Stage.RCPT, code, times=times, recipient=recipient)

    def fail_data(self, code: int = 451, *, times: int = 1) -> None:
        self.reply(Stage.DATA, code, times=times)

    def drop_in_data(self, *, times: int = 1) -> None:
        self.reply(Stage.DATA, None, times=times)

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()

    # -- what happened -----------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def connections(self) -> int:
        with self._state.lock:
            return self._state.connections

    @property
    def transactions(self) -> int:
        with self._state.lock:
            return self._state.transactions

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """Block until at least ``count`` messages arrived; return them all."""
        with self._state.lock:
            if not self._state.lock.wait_for(
                lambda: len(self._state.received) >= count, timeout=timeout
            ):
                got = len(self._state.received)
                msg = f"expected {count} messages, the server received {got}"
                raise AssertionError(msg)
            return list(self._state.received)

    def settings(self, **overrides: Any) -> Settings:
        """Settings that send to this server (no TLS: it is on loopback)."""
        values: dict[str, Any] = {
            "service_address": "netwerk@example.org",
            "secret": "test-secret-not-for-production",
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": Security.NONE,
            "smtp_hostname": "leernet.test.invalid",
            "smtp_timeout": 5.0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket  # noqa: PLC0415 - only this helper needs it

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
