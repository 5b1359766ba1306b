"""leernet's TLS paths (SMTPS, SMTP STARTTLS, IMAPS, IMAP STARTTLS) against real servers.

A throw-away CA signs a certificate for ``localhost`` (openssl command line);
the client trusts it only through ``SSL_CERT_FILE``, which OpenSSL reads each
time ``ssl.create_default_context()`` loads the default verify paths. Without
it the same servers must be refused: nothing is sent, no mailbox is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import select

from leernet.errors import MailboxError
from leernet.mailer.disposition import Disposition
from leernet.mailer.imap import ImapSession
from leernet.mailer.inbox import Inbox, InboxResult
from leernet.mailer.queue import Outgoing, enqueue
from leernet.mailer.sender import DrainResult, drain
from leernet.settings import Security, Settings
from leernet.store import open_store
from leernet.store.schema import outbox
from tests.dovecot import (
    ImapAccount,
    append,
    dovecot,  # noqa: F401 - fixture
    dovecot_server,  # noqa: F401 - fixture
    free_port,
    messages,
    running_dovecot,
    uids,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from tests.dovecot import DovecotServer

T0 = datetime(2027, 9, 16, 8, 0, tzinfo=UTC)
CA_NAME = "leernet throw-away test CA"
VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"
PROCESSED = "leernet.processed"  # Dovecot maildir's hierarchy delimiter is "."


# -- certificates ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Certs:
    """A CA and a ``localhost`` server certificate it signed, as PEM files."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A fresh CA and server certificate (SAN DNS:localhost, IP:127.0.0.1), valid two days."""
    if shutil.which("openssl") is None:
        # CI installs it and sets LEERNET_REQUIRE_OPENSSL=1: there a missing one fails.
        if os.environ.get("LEERNET_REQUIRE_OPENSSL") == "1":
            pytest.fail("openssl is required (LEERNET_REQUIRE_OPENSSL=1) but not installed")
        pytest.skip("openssl is not installed: apt-get install openssl")
    d = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", f"/CN={CA_NAME}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d
    )
    (d / "server.ext").write_text(
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
        cwd=d,
    )  # fmt: skip
    for name in ("ca.pem", "server.pem", "server.key"):
        (d / name).chmod(0o644)  # Dovecot's config process reads them
    d.chmod(0o755)
    return Certs(d / "ca.pem", d / "server.pem", d / "server.key")


@pytest.fixture
def trusted(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> Certs:
    """The throw-away CA is the client's only trusted root (via SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))
    return certs


@pytest.fixture
def untrusted(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> Certs:
    """The client trusts only the system roots: the throw-away CA is unknown to it."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return certs


# -- SMTP servers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Got:
    """One message the server accepted, with the TLS version its connection used."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: str | None  # e.g. "TLSv1.3"; None for clear text
    login: str | None


@dataclass
class Handler:
    """Records every accepted message and whether its connection was encrypted."""

    received: list[Got] = field(default_factory=list)
    mail_froms: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.mail_froms.append(address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert server.transport is not None
        tls = server.transport.get_extra_info("ssl_object")
        login = session.auth_data if session.authenticated else None
        got = Got(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            tls=tls.version() if tls is not None else None,
            login=str(login) if login is not None else None,
        )
        with self.lock:
            self.received.append(got)
        return "250 OK"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    if isinstance(data, LoginPassword) and (data.login, data.password) == (b"netwerk", b"pw"):
        return AuthResult(success=True, auth_data="netwerk")
    return AuthResult(success=False, handled=False)


@contextlib.contextmanager
def smtp_server(host: str = "127.0.0.1", **kwargs: Any) -> Iterator[tuple[Handler, int]]:
    """An aiosmtpd Controller on ``host`` (its own thread); kwargs go to it and to SMTP."""
    handler = Handler()
    controller = Controller(
        handler, hostname=host, port=free_port(), server_hostname="mx.test.invalid", **kwargs
    )
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def smtp_settings(port: int, security: Security, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "service_address": "netwerk@example.org",
        "secret": "test-secret-not-for-production",
        "smtp_host": "localhost",  # the name in the certificate
        "smtp_port": port,
        "smtp_security": security,
        "smtp_hostname": "leernet.test.invalid",
        "smtp_timeout": 5.0,
        "smtp_connections": 1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


RAW = (
    b"From: Lerend netwerk <netwerk@example.org>\r\n"
    b"To: an@example.com\r\n"
    b"Subject: Over TLS\r\n"
    b"Message-ID: <leernet.0123456789abcdef0123456789abcdef@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hallo over TLS.\r\n"
    b".leading dot line\r\n"
)
ITEM = Outgoing(
    "tls-k1",
    "invite",
    "an@example.com",
    "<leernet.0123456789abcdef0123456789abcdef@example.org>",
    RAW,
    None,
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}")
    async with eng.begin() as conn:
        assert await enqueue(conn, [ITEM], T0) == 1
    yield eng
    await eng.dispose()


async def states(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(outbox.c.state))).scalars())


async def last_error(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(select(outbox.c.last_error))).scalar_one())


# The servers. Every server-side TLS context is built inside the test, from the session's certs.
def starttls_server(certs: Certs, **kwargs: Any) -> contextlib.AbstractContextManager[Any]:
    return smtp_server(tls_context=certs.server_context(), require_starttls=True, **kwargs)


def implicit_tls_server(
    certs: Certs, host: str = "127.0.0.1"
) -> contextlib.AbstractContextManager[Any]:
    return smtp_server(host, ssl_context=certs.server_context())


class TestTrustAnchor:
    def test_ssl_cert_file_is_read_when_a_context_is_made(self, trusted: Certs) -> None:
        """A default context made after SSL_CERT_FILE was set trusts exactly the test CA."""
        roots = ssl.create_default_context().get_ca_certs()
        subjects = [{attr for rdn in root["subject"] for attr in rdn} for root in roots]
        assert subjects == [{("commonName", CA_NAME)}]


class TestSmtpTls:
    async def test_starttls_delivers_the_stored_bytes_encrypted(
        self, trusted: Certs, engine: AsyncEngine
    ) -> None:
        """With STARTTLS (port 587 style) the queued message arrives byte for byte over TLS."""
        with starttls_server(trusted) as (handler, port):
            result = await drain(engine, smtp_settings(port, Security.STARTTLS), lambda: T0)
        assert result == DrainResult(sent=1)
        assert [(g.mail_from, g.rcpt_tos, g.data) for g in handler.received] == [
            ("netwerk@example.org", ("an@example.com",), RAW)
        ]
        assert handler.received[0].tls in {"TLSv1.2", "TLSv1.3"}
        assert await states(engine) == ["sent"]

    async def test_implicit_tls_delivers_the_stored_bytes_encrypted(
        self, trusted: Certs, engine: AsyncEngine
    ) -> None:
        """With implicit TLS (port 465 style) the queued message arrives byte for byte over TLS."""
        with implicit_tls_server(trusted) as (handler, port):
            result = await drain(engine, smtp_settings(port, Security.TLS), lambda: T0)
        assert result == DrainResult(sent=1)
        assert [(g.rcpt_tos, g.data) for g in handler.received] == [(("an@example.com",), RAW)]
        assert handler.received[0].tls in {"TLSv1.2", "TLSv1.3"}
        assert await states(engine) == ["sent"]

    async def test_login_after_starttls(self, trusted: Certs, engine: AsyncEngine) -> None:
        """A server that allows AUTH only under TLS accepts our login after STARTTLS."""
        with starttls_server(trusted, authenticator=_authenticate, auth_required=True) as (
            handler,
            port,
        ):
            settings = smtp_settings(
                port, Security.STARTTLS, smtp_user="netwerk", smtp_password="pw"
            )
            assert await drain(engine, settings, lambda: T0) == DrainResult(sent=1)
        assert [(g.login, g.data) for g in handler.received] == [("netwerk", RAW)]
        assert handler.received[0].tls is not None

    async def test_starttls_to_an_unknown_ca_is_deferred(
        self, untrusted: Certs, engine: AsyncEngine
    ) -> None:
        """STARTTLS to a server whose certificate we cannot verify sends nothing; it is retried."""
        with starttls_server(untrusted) as (handler, port):
            result = await drain(engine, smtp_settings(port, Security.STARTTLS), lambda: T0)
        assert result == DrainResult(deferred=1)
        assert handler.received == []
        assert await states(engine) == ["deferred"]
        assert VERIFY_FAILED in await last_error(engine)

    async def test_implicit_tls_to_an_unknown_ca_is_deferred(
        self, untrusted: Certs, engine: AsyncEngine
    ) -> None:
        """Implicit TLS to a server whose certificate we cannot verify sends nothing."""
        with implicit_tls_server(untrusted) as (handler, port):
            result = await drain(engine, smtp_settings(port, Security.TLS), lambda: T0)
        assert result == DrainResult(deferred=1)
        assert handler.received == []
        assert await states(engine) == ["deferred"]
        assert VERIFY_FAILED in await last_error(engine)

    async def test_wrong_host_name_is_deferred(self, trusted: Certs, engine: AsyncEngine) -> None:
        """A certificate from the trusted CA but for another name is refused as well."""
        # 127.0.0.2 is loopback but not in the certificate (SAN: localhost, 127.0.0.1).
        with implicit_tls_server(trusted, host="127.0.0.2") as (handler, port):
            settings = smtp_settings(port, Security.TLS, smtp_host="127.0.0.2")
            assert await drain(engine, settings, lambda: T0) == DrainResult(deferred=1)
        assert handler.received == []
        assert "mismatch" in await last_error(engine)

    async def test_no_starttls_offered_is_never_sent_in_clear(
        self, trusted: Certs, engine: AsyncEngine
    ) -> None:
        """A server that does not offer STARTTLS gets nothing when STARTTLS is configured."""
        with smtp_server() as (handler, port):
            result = await drain(engine, smtp_settings(port, Security.STARTTLS), lambda: T0)
        assert result == DrainResult(deferred=1)
        assert handler.received == []
        assert handler.mail_froms == []  # not even the envelope went out in clear
        assert await states(engine) == ["deferred"]
        assert "STARTTLS" in await last_error(engine)


# -- IMAP over TLS (Dovecot) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsDovecot:
    server: DovecotServer
    imaps_port: int


@pytest.fixture(scope="module")
def tls_dovecot(certs: Certs) -> Iterator[TlsDovecot]:
    """A Dovecot with STARTTLS on its plain port and an IMAPS listener on a second one."""
    imaps = free_port()
    extra = f"""
ssl = yes
ssl_cert = <{certs.cert}
ssl_key = <{certs.key}
service imap-login {{
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
"""
    with running_dovecot(extra) as server:
        yield TlsDovecot(server, imaps)


def tls_settings(account: ImapAccount, port: int, security: Security) -> Settings:
    return account.settings(imap_host="localhost", imap_port=port, imap_security=security)


def both_ways(tls_dovecot: TlsDovecot, account: ImapAccount) -> dict[str, Settings]:
    return {
        "imaps": tls_settings(account, tls_dovecot.imaps_port, Security.TLS),
        "starttls": tls_settings(account, account.port, Security.STARTTLS),
    }


def mail(n: int) -> bytes:
    return (
        f"From: Bert Claes <bert.claes@example.com>\r\nTo: netwerk@example.org\r\n"
        f"Subject: Bericht {n}\r\nMessage-ID: <tls{n}@example.com>\r\n"
        f"Date: Thu, 14 Jan 2027 10:00:00 +0100\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTekst {n}.\r\n"
    ).encode()


def tls_logins(server: DovecotServer, user: str) -> list[str]:
    """Dovecot's login lines for ``user`` that say the connection was TLS."""
    return [
        line
        for line in server.log().splitlines()
        if " Login: " in line and f"user=<{user}>," in line and ", TLS," in line
    ]


@dataclass
class Mover:
    """A processor that files every mail as processed."""

    calls: list[bytes] = field(default_factory=list)

    async def __call__(self, conn: AsyncConnection, row_id: int, raw: bytes) -> Disposition:
        self.calls.append(raw)
        return Disposition("evaluation", "ok", attention=False)


@pytest.mark.dovecot
class TestImapTls:
    @pytest.mark.parametrize("way", ["imaps", "starttls"])
    async def test_login_select_and_search(
        self, trusted: Certs, tls_dovecot: TlsDovecot, way: str
    ) -> None:
        """Over IMAPS and over STARTTLS we log in, select INBOX and see its mails, encrypted."""
        account = tls_dovecot.server.add_user()
        await append(account, mail(1), mail(2))
        session = await ImapSession.open(both_ways(tls_dovecot, account)[way])
        try:
            await session.select("INBOX")
            assert await session.search_all() == [1, 2]
            tls = session._proto.transport.get_extra_info("ssl_object")
            assert tls is not None
            assert tls.version() in {"TLSv1.2", "TLSv1.3"}
        finally:
            await session.logout()
        await asyncio.sleep(0.2)  # the login line reaches the log file
        assert len(tls_logins(tls_dovecot.server, account.user)) == 1  # append() logs in in clear

    @pytest.mark.parametrize("way", ["imaps", "starttls"])
    async def test_inbox_fetches_and_moves_over_tls(
        self, trusted: Certs, tls_dovecot: TlsDovecot, tmp_path: Path, way: str
    ) -> None:
        """A full inbox run over TLS stores the mail byte for byte and moves it out of INBOX."""
        account = tls_dovecot.server.add_user()
        await append(account, mail(3))
        eng = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")
        try:
            mover = Mover()
            box = Inbox(eng, both_ways(tls_dovecot, account)[way], mover, lambda: T0)
            assert await box.run_once() == InboxResult(fetched=1, processed=1, moved=1)
        finally:
            await eng.dispose()
        assert mover.calls == [mail(3)]
        assert await uids(account) == []
        assert await messages(account, PROCESSED) == [mail(3)]

    @pytest.mark.parametrize("way", ["imaps", "starttls"])
    async def test_unknown_ca_is_refused(
        self, untrusted: Certs, tls_dovecot: TlsDovecot, way: str
    ) -> None:
        """A server whose certificate we cannot verify gets no login: opening fails."""
        account = tls_dovecot.server.add_user()
        with pytest.raises(MailboxError, match=VERIFY_FAILED):
            await ImapSession.open(both_ways(tls_dovecot, account)[way])
        await asyncio.sleep(0.2)
        assert not [
            line
            for line in tls_dovecot.server.log().splitlines()
            if f"user=<{account.user}>" in line
        ]

    async def test_starttls_refused_by_the_server_means_no_login(
        self,
        trusted: Certs,
        dovecot: ImapAccount,  # noqa: F811
        dovecot_server: DovecotServer,  # noqa: F811
    ) -> None:
        """A server without TLS answers STARTTLS with BAD: we stop before sending the password."""
        settings = dovecot.settings(imap_security=Security.STARTTLS)
        with pytest.raises(MailboxError, match="STARTTLS"):
            await ImapSession.open(settings)
        await asyncio.sleep(0.2)
        assert not [
            line for line in dovecot_server.log().splitlines() if f"user=<{dovecot.user}>" in line
        ]
