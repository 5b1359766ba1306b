"""OAuth2 for the mailbox: providers, renewal, and logins against real servers.

A loopback token server (``tests/oauthserver.py``) issues tokens; Dovecot's
oauth2 passdb checks them by introspection and an aiosmtpd with an XOAUTH2 /
OAUTHBEARER authenticator checks the same tokens.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import select

from leernet.cli import main
from leernet.daemon import run_daemon
from leernet.errors import (
    LoginRefused,
    MailboxError,
    MailboxLoginRefused,
    SendDeferred,
    SendError,
    SendLoginRefused,
    TokenError,
)
from leernet.mailer.imap import ImapSession
from leernet.mailer.oauth import TokenSource, oauthbearer_response
from leernet.mailer.oauth_providers import (
    GenericProvider,
    GoogleProvider,
    MicrosoftProvider,
    _certificate,
    provider_for,
)
from leernet.mailer.sender import Outbox
from leernet.mailer.smtp import send_share
from leernet.network.load import load_network
from leernet.ops.authcheck import check
from leernet.organiser.commands import start_network
from leernet.settings import Security, Settings
from leernet.store import open_store, schema
from tests.dovecot import DovecotServer, ImapAccount, append, free_port, running_dovecot, uids
from tests.oauthserver import (
    CLIENT_ID,
    CLIENT_SECRET,
    DOVECOT_OAUTH2,
    UNKNOWN_TENANT,
    TokenServer,
    token_server,
)
from tests.test_outbox import T0 as OUTBOX_T0
from tests.test_outbox import item, queue
from tests.test_tls import Certs, certs  # noqa: F401 - fixture


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def generic(server: TokenServer, **kwargs: Any) -> GenericProvider:
    return GenericProvider(server.token_url, CLIENT_ID, CLIENT_SECRET, **kwargs)


@pytest.fixture
def tokens() -> Iterator[TokenServer]:
    """A loopback token endpoint over http whose tokens live an hour."""
    with token_server() as server:
        yield server


class TestTokenSource:
    async def test_a_token_is_reused_until_80_percent_of_its_life(
        self, tokens: TokenServer
    ) -> None:
        """One token serves every caller until 80 % of its lifetime, then a new one is fetched."""
        clock = Clock()
        source = TokenSource(generic(tokens), clock=clock)
        first = await source.token()
        clock.now += 0.79 * tokens.lifetime
        assert await source.token() == first
        clock.now += 0.02 * tokens.lifetime
        assert await source.token() != first
        assert source.fetches == 2

    async def test_a_refused_token_is_replaced_once(self, tokens: TokenServer) -> None:
        """``invalidate`` of the current token makes the next caller get a new one."""
        source = TokenSource(generic(tokens))
        first = await source.token()
        source.invalidate("some-older-token")
        assert await source.token() == first
        source.invalidate(first)
        assert await source.token() != first

    async def test_concurrent_callers_share_one_fetch(self, tokens: TokenServer) -> None:
        """Ten connections asking at once cause one request to the token endpoint."""
        source = TokenSource(generic(tokens))
        got = await asyncio.gather(*(source.token() for _ in range(10)))
        assert len(set(got)) == 1
        assert tokens.issued() == 1


class TestGeneric:
    def test_client_credentials_request(self, tokens: TokenServer) -> None:
        """The client-credentials grant carries grant type, scope, client id and secret."""
        generic(tokens, scope="mail.send").fetch()
        form = tokens.requests[-1].form
        assert form == {
            "grant_type": "client_credentials",
            "scope": "mail.send",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }

    def test_an_endpoint_wanting_basic_auth_gets_it(self) -> None:
        """An endpoint that takes the secret only by HTTP Basic (RFC 6749 2.3.1) is served so."""
        with token_server(basic_only=True) as server:
            token = generic(server).fetch()
            assert token.value in server.tokens
            assert server.requests[-1].authorization.startswith("Basic ")
            assert "client_secret" not in server.requests[-1].form

    def test_a_rotated_refresh_token_is_used_next_time(self, tokens: TokenServer) -> None:
        """The refresh-token grant keeps the rotated refresh token for the next renewal."""
        provider = generic(tokens, refresh_token=tokens.new_refresh_token())
        provider.fetch()
        provider.fetch()  # with the first token the old refresh token would be refused
        grants = [seen.form["grant_type"] for seen in tokens.requests]
        assert grants == ["refresh_token", "refresh_token"]
        assert tokens.requests[0].form["refresh_token"] != tokens.requests[1].form["refresh_token"]

    def test_a_revoked_client_is_refused_in_words_without_the_secret(
        self, tokens: TokenServer
    ) -> None:
        """A revoked client gives a refused TokenError that names the problem, not the secret."""
        tokens.revoke()
        with pytest.raises(TokenError) as caught:
            generic(tokens).fetch()
        assert caught.value.refused
        assert "client id, or the secret is wrong" in str(caught.value)
        assert CLIENT_SECRET not in str(caught.value)

    def test_an_unreachable_endpoint_is_not_a_refusal(self) -> None:
        """A token endpoint nobody listens on is a temporary failure, not refused credentials."""
        provider = GenericProvider(f"http://127.0.0.1:{free_port()}/token", CLIENT_ID, "x")
        with pytest.raises(TokenError) as caught:
            provider.fetch()
        assert not caught.value.refused

    @pytest.mark.parametrize(
        ("values", "missing"),
        [
            ({"oauth_provider": "generic"}, "LEERNET_OAUTH_TOKEN_URL, LEERNET_OAUTH_CLIENT_ID"),
            (
                {"oauth_provider": "microsoft", "oauth_client_id": "x"},
                "LEERNET_OAUTH_TENANT, LEERNET_OAUTH_CLIENT_SECRET",
            ),
            ({"oauth_provider": "google"}, "LEERNET_OAUTH_SERVICE_ACCOUNT_FILE"),
        ],
    )
    def test_missing_provider_settings_are_refused_at_start(
        self, values: dict[str, str], missing: str
    ) -> None:
        """With xoauth2, a provider without its required settings is refused when settings load."""
        with pytest.raises(ValueError, match=f"needs {missing} \\["):
            Settings(_env_file=None, imap_auth="xoauth2", **values)  # type: ignore[call-arg,arg-type]

    @pytest.mark.parametrize(
        ("url", "ok"),
        [
            ("http://127.0.0.1:8080/token", True),
            ("http://localhost/token", True),
            ("https://login.example.org/token", True),
            ("http://login.example.org/token", False),
            ("ftp://login.example.org/token", False),
        ],
    )
    def test_http_is_accepted_only_on_loopback(self, url: str, ok: bool) -> None:
        """An http:// token URL is accepted only on loopback, as security=none is."""
        if ok:
            Settings(_env_file=None, oauth_token_url=url)  # type: ignore[call-arg]
        else:
            with pytest.raises(ValueError, match="LEERNET_OAUTH_TOKEN_URL"):
                Settings(_env_file=None, oauth_token_url=url)  # type: ignore[call-arg]


# ---- real servers -------------------------------------------------------------------------


def _xoauth2_token(data: bytes) -> tuple[str, str]:
    fields = dict(part.split("=", 1) for part in data.decode().split("\1") if "=" in part)
    return fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")


def _oauthbearer_token(data: bytes) -> tuple[str, str]:
    header, _, rest = data.decode().partition("\1")
    user = header.split(",")[1].removeprefix("a=")
    fields = dict(part.split("=", 1) for part in rest.split("\1") if "=" in part)
    return user, fields.get("auth", "").removeprefix("Bearer ")


@dataclass
class OAuthSmtp:
    """aiosmtpd handler: checks tokens with the token server, records accepted messages."""

    server: TokenServer
    received: list[bytes] = field(default_factory=list)
    logins: int = 0

    async def _check(self, smtp: SMTP, data: bytes, user: str, token: str) -> AuthResult:
        if self.server.check(token) == user:
            self.logins += 1
            return AuthResult(success=True, auth_data=user)
        # Google and RFC 7628 3.2.2: the error comes as a challenge the client answers.
        await smtp.challenge_auth(json.dumps({"status": "401"}))
        return AuthResult(success=False, handled=False, message="535 5.7.8 token refused")

    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        data = base64.b64decode(args[1])
        return await self._check(smtp, data, *_xoauth2_token(data))

    async def auth_OAUTHBEARER(self, smtp: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        data = base64.b64decode(args[1])
        return await self._check(smtp, data, *_oauthbearer_token(data))

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if not session.authenticated:
            return "530 5.7.0 authentication required"
        self.received.append(bytes(envelope.original_content or b""))
        return "250 OK"


@contextlib.contextmanager
def oauth_smtp(server: TokenServer, *, only: str = "") -> Iterator[tuple[OAuthSmtp, int]]:
    """An aiosmtpd that takes XOAUTH2 and OAUTHBEARER (or ``only`` one of them)."""
    handler = OAuthSmtp(server)
    exclude = ["LOGIN", "PLAIN"] + (
        [m for m in ("XOAUTH2", "OAUTHBEARER") if m != only] if only else []
    )
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname="mx.test.invalid",
        auth_require_tls=False,
        auth_exclude_mechanism=exclude,
    )
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@dataclass(frozen=True)
class Row:
    recipient: str
    raw: bytes


def mail(n: int) -> bytes:
    return (
        f"From: netwerk@example.org\r\nTo: an@example.org\r\nSubject: bericht {n}\r\n"
        f"Message-ID: <m{n}@leernet.test>\r\n\r\nDag An, bericht {n}.\r\n"
    ).encode()


@dataclass
class World:
    tokens: TokenServer
    dovecot: DovecotServer
    account: ImapAccount

    def settings(self, smtp_port: int = 0, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "service_address": "netwerk@example.org",
            "imap_host": "127.0.0.1",
            "imap_port": self.dovecot.port,
            "imap_security": Security.NONE,
            "imap_user": self.account.user,
            "imap_timeout": 10.0,
            "imap_auth": "xoauth2",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port or free_port(),
            "smtp_security": Security.NONE,
            "smtp_user": self.account.user,
            "smtp_timeout": 10.0,
            "smtp_auth": "xoauth2",
            "oauth_provider": "generic",
            "oauth_token_url": self.tokens.token_url,
            "oauth_client_id": CLIENT_ID,
            "oauth_client_secret": SecretStr(CLIENT_SECRET),
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def oauth_dovecot() -> Iterator[tuple[TokenServer, DovecotServer]]:
    """Dovecot whose oauth2 passdb asks a loopback token server (introspection, POST)."""
    with (
        token_server(user="", lifetime=3600) as server,
        running_dovecot(_oauth2_passdb(server, "xoauth2 oauthbearer")) as dovecot,
    ):
        yield server, dovecot


def _oauth2_passdb(server: TokenServer, mechanisms: str) -> str:
    """Dovecot config lines: an oauth2 passdb asking ``server``, for ``mechanisms``."""
    conf = Path(tempfile.mkdtemp(prefix="leernet-oauth2-"))
    conf.chmod(0o755)  # Dovecot's auth process (user dovecot) reads the file
    ext = conf / "oauth2.conf.ext"
    ext.write_text(DOVECOT_OAUTH2.format(url=f"{server.base}/introspect"))
    ext.chmod(0o644)
    return (
        # Refused logins are part of these tests: without this, Dovecot's auth penalty
        # (anvil) delays every later login from 127.0.0.1 by up to 15 s.
        "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
        "auth_failure_delay = 0\n"
        f"auth_mechanisms = plain login {mechanisms}\n"
        f"passdb {{\n  driver = oauth2\n  mechanisms = {mechanisms}\n  args = {ext}\n}}\n"
    )


@pytest.fixture
def world(oauth_dovecot: tuple[TokenServer, DovecotServer]) -> World:
    """A fresh mailbox user, the token server reset to issue tokens for that user."""
    server, dovecot = oauth_dovecot
    account = dovecot.add_user()
    server.user, server.lifetime, server.revoked = account.user, 3600.0, False
    server.tokens.clear()
    server.requests.clear()
    return World(server, dovecot, account)


async def send_rows(
    settings: Settings, rows: list[Row], source: TokenSource | None
) -> dict[bytes, SendError | None]:
    outcome: dict[bytes, SendError | None] = {}

    async def record(row: Row, error: SendError | None) -> None:
        outcome[row.raw] = error

    await send_share(settings, rows, record, lambda: None, tokens=source)  # type: ignore[arg-type,return-value]
    return outcome


@pytest.mark.dovecot
class TestRealServers:
    async def test_imap_logs_in_with_a_token_it_obtained(self, world: World) -> None:
        """With imap_auth=xoauth2 leernet gets a token itself and Dovecot's oauth2 passdb takes it."""
        await append(world.account, mail(1))
        session = await ImapSession.open(world.settings())
        try:
            await session.select("INBOX")
            assert len(await session.search_all()) == 1
        finally:
            await session.logout()
        assert world.tokens.issued() == 1

    async def test_oauthbearer_when_the_server_offers_only_that(self) -> None:
        """A Dovecot offering only OAUTHBEARER (RFC 7628) gets it, and the login works."""
        with (
            token_server(user="netwerk1") as server,
            running_dovecot(_oauth2_passdb(server, "oauthbearer")) as dovecot,
        ):
            account = dovecot.add_user()
            assert account.user == server.user
            world = World(server, dovecot, account)
            session = await ImapSession.open(world.settings())
            try:
                # XOAUTH2 is not offered: Dovecot would refuse it, so this login was OAUTHBEARER.
                await session.select("INBOX")
            finally:
                await session.logout()
            assert server.issued() == 1
            assert server.checks == 1  # Dovecot asked about our token once

    async def test_a_token_refused_by_the_server_is_renewed_once(self, world: World) -> None:
        """A token the server no longer accepts is replaced and the login retried, for IMAP and SMTP."""
        source = TokenSource.from_settings(world.settings())
        assert source is not None
        first = await source.token()
        world.tokens.tokens.pop(first)  # expired early at the server: our clock still trusts it
        session = await ImapSession.open(world.settings(), source)
        await session.logout()
        second = await source.token()
        assert second != first
        world.tokens.tokens.pop(second)
        with oauth_smtp(world.tokens) as (smtp, port):
            outcome = await send_rows(
                world.settings(port), [Row("an@example.org", mail(1))], source
            )
        assert outcome == {mail(1): None}
        assert smtp.received == [mail(1)]
        assert source.fetches == 3

    async def test_short_lived_tokens_are_renewed_while_sending_and_reading(
        self, world: World
    ) -> None:
        """Tokens living a second are renewed many times; every message goes out once and is read."""
        world.tokens.lifetime = 1.0
        settings_base = world.settings()
        source = TokenSource.from_settings(settings_base)
        assert source is not None
        sent: list[bytes] = []
        with oauth_smtp(world.tokens) as (smtp, port):
            settings = world.settings(port)
            n = 0
            # Bounded by count: stop once the token was renewed eight times (or 400 rounds).
            while source.fetches < 8 and n < 400:
                n += 1
                rows = [Row("an@example.org", mail(n))]
                outcome = await send_rows(settings, rows, source)
                assert outcome == {mail(n): None}
                sent.append(mail(n))
                await append(world.account, mail(n))
                session = await ImapSession.open(settings, source)
                try:
                    await session.select("INBOX")
                    found = await session.fetch(await session.search_all(), "(BODY.PEEK[])")
                finally:
                    await session.logout()
                assert len(found) == n
                await asyncio.sleep(0.1)
        assert source.fetches >= 8
        assert smtp.received == sent  # each once, unaltered, in order
        assert smtp.logins == n

    async def test_a_revoked_client_is_a_typed_refusal_and_nothing_is_lost(
        self, world: World
    ) -> None:
        """After revocation IMAP raises MailboxLoginRefused and every SMTP row is deferred, not failed."""
        source = TokenSource.from_settings(world.settings())
        assert source is not None
        await source.token()
        world.tokens.revoke()
        with pytest.raises(MailboxLoginRefused, match="client id, or the secret is wrong"):
            await ImapSession.open(world.settings(), source)
        with oauth_smtp(world.tokens) as (smtp, port):
            rows = [Row("an@example.org", mail(n)) for n in range(3)]
            outcome = await send_rows(world.settings(port), rows, source)
        assert smtp.received == []
        assert len(outcome) == 3
        for error in outcome.values():
            assert isinstance(error, SendLoginRefused)
            assert isinstance(error, SendDeferred)  # the outbox keeps it queued
            assert CLIENT_SECRET not in str(error)

    async def test_a_wrong_password_is_a_typed_refusal(self, world: World) -> None:
        """LOGIN with a wrong password raises MailboxLoginRefused (no text matching needed)."""
        settings = world.settings(imap_auth="login", imap_password=SecretStr("wrong"))
        with pytest.raises(MailboxLoginRefused, match="LOGIN failed: NO"):
            await ImapSession.open(settings)


class TestSmtpOAuth:
    async def test_oauthbearer_when_the_server_offers_only_that(self, tokens: TokenServer) -> None:
        """An SMTP server offering only OAUTHBEARER gets RFC 7628 and takes the message."""
        tokens.user = "netwerk"
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            smtp_host="127.0.0.1",
            smtp_security=Security.NONE,
            smtp_user="netwerk",
            smtp_auth="xoauth2",
            oauth_provider="generic",
            oauth_token_url=tokens.token_url,
            oauth_client_id=CLIENT_ID,
            oauth_client_secret=SecretStr(CLIENT_SECRET),
        )
        with oauth_smtp(tokens, only="OAUTHBEARER") as (smtp, port):
            outcome = await send_rows(
                settings.model_copy(update={"smtp_port": port}),
                [Row("an@example.org", mail(1))],
                None,
            )
        assert outcome == {mail(1): None}
        assert smtp.received == [mail(1)]


class TestSasl:
    def test_oauthbearer_escapes_the_user_name(self) -> None:
        """RFC 7628/5801: "," and "=" in the user are written =2C and =3D; the token follows Bearer."""
        raw = base64.b64decode(oauthbearer_response("a,b=c", "T0K", "h", 1))
        assert raw == b"n,a=a=2Cb=3Dc,\1host=h\1port=1\1auth=Bearer T0K\1\1"
        assert _oauthbearer_token(raw) == ("a=2Cb=3Dc", "T0K")


class TestTimeoutIsNotARefusal:
    async def test_a_silent_server_during_authenticate_is_not_a_refused_login(self) -> None:
        """A server that never answers AUTHENTICATE gives a MailboxError that is not LoginRefused."""

        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready\r\n")
            try:
                while line := await reader.readline():
                    if b"CAPABILITY" in line:
                        tag = line.split()[0]
                        writer.write(b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n" + tag + b" OK\r\n")
                    # AUTHENTICATE: no answer at all
            except ConnectionError:
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(greet, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            imap_host="127.0.0.1",
            imap_port=port,
            imap_security=Security.NONE,
            imap_user="netwerk",
            imap_password=SecretStr("fixed-token"),
            imap_auth="xoauth2",
            imap_timeout=0.5,
        )
        try:
            with pytest.raises(MailboxError) as caught:
                await ImapSession.open(settings)
        finally:
            server.close()
            await server.wait_closed()
        assert not isinstance(caught.value, LoginRefused)
        assert "no answer" in str(caught.value)


# ---- the vendors' libraries, pointed at the loopback server over TLS ---------------------


@pytest.fixture
def tls_tokens(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenServer]:  # noqa: F811
    """The token server over https with the throw-away CA, trusted by requests (msal, google-auth)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca))
    with token_server(context=certs.server_context()) as server:
        yield server


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(text: str) -> dict[str, Any]:
        return dict(json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))))

    header, claims, _ = token.split(".")
    return part(header), part(claims)


class TestMicrosoft:
    def test_client_secret_request(self, tls_tokens: TokenServer) -> None:
        """Msal asks the tenant's token endpoint for the Exchange scope with id and secret."""
        provider = MicrosoftProvider(
            "contoso", CLIENT_ID, CLIENT_SECRET, authority_host=tls_tokens.base
        )
        token = provider.fetch()
        assert token.value in tls_tokens.tokens
        seen = tls_tokens.requests[-1]
        assert seen.path == "/contoso/oauth2/v2.0/token"
        assert seen.form["grant_type"] == "client_credentials"
        assert seen.form["scope"] == "https://outlook.office365.com/.default"
        assert seen.form["client_id"] == CLIENT_ID
        assert seen.form["client_secret"] == CLIENT_SECRET

    def test_a_renewal_is_a_new_request_not_msal_s_cache(self, tls_tokens: TokenServer) -> None:
        """Each fetch asks Entra ID again (a refused token must not come back from msal's cache)."""
        provider = MicrosoftProvider(
            "contoso", CLIENT_ID, CLIENT_SECRET, authority_host=tls_tokens.base
        )
        assert provider.fetch().value != provider.fetch().value
        assert tls_tokens.issued() == 2

    def test_certificate_request(self, tls_tokens: TokenServer, tmp_path: Path) -> None:
        """With a certificate msal sends a signed client assertion naming its thumbprint."""
        key_pem = _rsa_pem()
        key = serialization.load_pem_private_key(key_pem, password=None)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leernet")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())  # type: ignore[arg-type]
            .serial_number(1)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())  # type: ignore[arg-type]
        )
        pem = tmp_path / "leernet.pem"
        pem.write_bytes(key_pem + cert.public_bytes(serialization.Encoding.PEM))
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            oauth_provider="microsoft",
            oauth_tenant="contoso",
            oauth_client_id=CLIENT_ID,
            oauth_certificate_file=pem,
        )
        credential = _certificate(settings)
        assert credential["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex()
        tls_tokens.secrets[CLIENT_ID] = ""
        MicrosoftProvider("contoso", CLIENT_ID, credential, authority_host=tls_tokens.base).fetch()
        form = tls_tokens.requests[-1].form
        assert "client_secret" not in form
        assert form["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        header, claims = _jwt(form["client_assertion"])
        assert claims["iss"] == claims["sub"] == CLIENT_ID
        assert claims["aud"].endswith("/contoso/oauth2/v2.0/token")
        assert "x5t" in header or "x5t#S256" in header

    def test_a_wrong_tenant_is_said_in_words(self, tls_tokens: TokenServer) -> None:
        """A tenant Entra ID does not know gives a refused TokenError saying 'wrong tenant'."""
        provider = MicrosoftProvider(
            UNKNOWN_TENANT, CLIENT_ID, CLIENT_SECRET, authority_host=tls_tokens.base
        )
        with pytest.raises(TokenError, match="wrong tenant") as caught:
            provider.fetch()
        assert caught.value.refused
        assert CLIENT_SECRET not in str(caught.value)


class TestGoogle:
    def _info(self, server: TokenServer) -> dict[str, Any]:
        email = "leernet@project.iam.gserviceaccount.com"
        server.secrets[email] = ""
        return {
            "type": "service_account",
            "project_id": "project",
            "private_key_id": "k1",
            "private_key": _rsa_pem().decode(),
            "client_email": email,
            "client_id": "1234567890",
            "token_uri": server.token_url,
        }

    def test_service_account_request(self, tls_tokens: TokenServer, tmp_path: Path) -> None:
        """google-auth sends a JWT bearer grant for the mail scope with the mailbox as subject."""
        tls_tokens.user = "netwerk@example.org"
        path = tmp_path / "sa.json"
        path.write_text(json.dumps(self._info(tls_tokens)))
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            service_address="netwerk@example.org",
            oauth_provider="google",
            oauth_service_account_file=path,
        )
        token = provider_for(settings).fetch()
        assert token.value in tls_tokens.tokens
        assert 3000 < token.lifetime <= 3600
        form = tls_tokens.requests[-1].form
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        _, claims = _jwt(form["assertion"])
        assert claims["sub"] == "netwerk@example.org"
        assert claims["scope"] == "https://mail.google.com/"
        assert claims["iss"] == "leernet@project.iam.gserviceaccount.com"
        # google-auth signs for Google's own endpoint; it posts to the file's token_uri.
        assert claims["aud"] == "https://oauth2.googleapis.com/token"
        assert tls_tokens.requests[-1].path == "/token"

    def test_missing_delegation_is_said_in_words(self, tls_tokens: TokenServer) -> None:
        """A subject the client may not act for says domain-wide delegation is not granted."""
        tls_tokens.user = "someone-else@example.org"
        provider = GoogleProvider(self._info(tls_tokens), "netwerk@example.org")
        with pytest.raises(TokenError, match="domain-wide delegation") as caught:
            provider.fetch()
        assert caught.value.refused


def _env(settings: Settings) -> dict[str, str]:
    """``settings`` as the LEERNET_* environment the CLI reads."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        env[f"LEERNET_{name.upper()}"] = text
    return env


@pytest.mark.dovecot
class TestAuthCheck:
    def test_a_working_setup_is_reported_without_secret_or_token(
        self, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """`leernet auth check` names the flow, logs in to IMAP and SMTP, and prints no secret or token."""
        monkeypatch.chdir(tmp_path)
        with oauth_smtp(world.tokens) as (_, port):
            result = CliRunner().invoke(main, ["auth", "check"], env=_env(world.settings(port)))
        assert result.exit_code == 0, result.output
        assert "generic OAuth2 (client credentials)" in result.output
        assert result.output.count("logged in to") == 2
        assert world.tokens.tokens  # tokens were issued ...
        for token in world.tokens.tokens:
            assert token not in result.output  # ... and none is printed
        assert CLIENT_SECRET not in result.output

    async def test_a_revoked_client_is_said_in_words(self, world: World) -> None:
        """A client the endpoint refuses is reported at the token step, in words, without the secret."""
        world.tokens.revoke()
        steps = await check(world.settings())
        assert [(s.name, s.ok) for s in steps] == [("flow", True), ("token", False)]
        assert "client id, or the secret is wrong" in steps[-1].words
        assert CLIENT_SECRET not in steps[-1].words

    async def test_a_mailbox_not_granted_is_told_apart(self, world: World) -> None:
        """A token the mail server refuses (mailbox not granted) fails the login steps with a hint."""
        world.tokens.user = "someone-else"
        with oauth_smtp(world.tokens) as (_, port):
            steps = await check(world.settings(port))
        by_name = {s.name: s for s in steps}
        assert by_name["token"].ok
        assert not by_name["imap"].ok
        assert not by_name["smtp"].ok
        assert "refused the token" in by_name["imap"].words
        assert "refused the token" in by_name["smtp"].words
        for token in world.tokens.tokens:
            assert all(token not in s.words for s in steps)


EXAMPLE = Path(__file__).parents[1] / "config" / "network.example.toml"
T0 = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)


async def _settle(
    received: list[bytes], quiet: float = 0.5, rounds: int = 600, at_least: int = 0
) -> int:
    """Wait for ``at_least`` messages, then until nothing new came for ``quiet`` seconds.

    Bounded by ``rounds`` looks of 50 ms each, never by the time one step takes.
    """
    for _ in range(rounds):
        if len(received) >= at_least:
            break
        await asyncio.sleep(0.05)
    count, still = len(received), 0
    for _ in range(rounds):
        await asyncio.sleep(0.05)
        if len(received) != count:
            count, still = len(received), 0
        else:
            still += 1
            if still * 0.05 >= quiet:
                break
    return count


async def _outbox_states(db: Path) -> Counter[str]:
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            return Counter(r.state for r in await conn.execute(select(schema.outbox.c.state)))
    finally:
        await engine.dispose()


@pytest.mark.dovecot
class TestDaemon:
    async def test_a_network_runs_on_tokens_that_expire_every_second_and_a_half(
        self, world: World, tmp_path: Path
    ) -> None:
        """`leernet run` renews short-lived tokens for SMTP and IMAP many times; every message goes out once."""
        world.tokens.lifetime = 1.5
        clock_at = [T0]
        db = tmp_path / "leernet.db"
        network = load_network(EXAMPLE).network
        with oauth_smtp(world.tokens) as (smtp, port):
            settings = world.settings(
                port,
                secret=SecretStr("test-secret-not-for-production"),
                database_url=f"sqlite+aiosqlite:///{db}",
                smtp_hostname="client.test.invalid",
                imap_poll_seconds=0.2,
                imap_idle_seconds=1,
            )
            with (tmp_path / "start.log").open("w") as log:
                await start_network(
                    EXAMPLE, settings, T0, Console(file=log), dry_run=False, out_dir=None
                )
            stop = asyncio.Event()
            daemon = asyncio.create_task(
                run_daemon(settings, once=False, now=lambda: clock_at[0], stop=stop, tick=0.05)
            )
            assert await _settle(smtp.received, at_least=17) == 17
            moments = []
            for s in network.sessions:
                moments += [s.start - timedelta(days=1), s.end + timedelta(hours=2)]
            for n, moment in enumerate(moments):
                clock_at[0] = moment
                if n % 3 == 0:
                    # A stray mail, and the IMAP session kicked: the inbox logs in again.
                    await append(world.account, mail(100 + n))
                    world.dovecot.doveadm_run("kick", world.account.user)
                await _settle(smtp.received)
            await append(world.account, mail(999))
            world.dovecot.doveadm_run("kick", world.account.user)
            for _ in range(200):  # the inbox logs in with a fresh token and takes the mail
                if not await uids(world.account):
                    break
                await asyncio.sleep(0.1)
            await _settle(smtp.received)  # a notice about the stray mail goes out too
            stop.set()
            assert await asyncio.wait_for(daemon, 30) == 0
        ids = Counter(
            message_from_bytes(raw)["Message-ID"] for raw in smtp.received
        )  # every delivered message once
        assert max(ids.values()) == 1
        states = await _outbox_states(db)
        assert set(states) == {"sent"}, states  # nothing deferred, failed or lost
        assert states["sent"] >= len(ids) >= 17 + len(network.sessions) * 5
        assert await uids(world.account) == []  # every stray mail was read after a new login
        assert world.tokens.issued() >= 6  # renewed for SMTP and IMAP again and again


class TestOutbox:
    async def test_drains_share_one_token_and_a_revoked_client_defers(
        self, tokens: TokenServer, tmp_path: Path
    ) -> None:
        """Every drain and connection uses one token; after revocation messages wait, none fails."""
        tokens.user = "netwerk"
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            smtp_host="127.0.0.1",
            smtp_security=Security.NONE,
            smtp_user="netwerk",
            smtp_auth="xoauth2",
            smtp_connections=2,
            oauth_provider="generic",
            oauth_token_url=tokens.token_url,
            oauth_client_id=CLIENT_ID,
            oauth_client_secret=SecretStr(CLIENT_SECRET),
        )
        engine = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}")
        try:
            with oauth_smtp(tokens) as (smtp, port):
                settings = settings.model_copy(update={"smtp_port": port})
                source = TokenSource.from_settings(settings)
                box = Outbox(engine, settings, lambda: OUTBOX_T0, tokens=source)
                await queue(engine, [item(f"a/{n}") for n in range(10)])
                assert (await box.drain()).sent == 10
                await queue(engine, [item(f"b/{n}") for n in range(10)])
                assert (await box.drain()).sent == 10
                assert tokens.issued() == 1
                tokens.revoke()
                await queue(engine, [item(f"c/{n}") for n in range(5)])
                result = await box.drain()
                assert (result.sent, result.failed) == (0, 0)
                assert len(smtp.received) == 20
            async with engine.connect() as conn:
                states = Counter(r.state for r in await conn.execute(select(schema.outbox.c.state)))
            assert states == {"sent": 20, "deferred": 5}
        finally:
            await engine.dispose()


@pytest.mark.dovecot
class TestProcessLogs:
    def test_leernet_run_logs_no_secret_and_no_token(
        self, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`leernet run --log-format json` with renewing tokens sends everything and logs no secret or token."""
        monkeypatch.chdir(tmp_path)
        world.tokens.lifetime = 1.5
        with oauth_smtp(world.tokens) as (smtp, port):
            environment = _env(
                world.settings(
                    port,
                    secret=SecretStr("test-secret-not-for-production"),
                    database_url=f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}",
                    smtp_hostname="client.test.invalid",
                )
            )
            started = CliRunner().invoke(main, ["start", str(EXAMPLE)], env=environment)
            assert started.exit_code == 0, started.output
            command = ["-c", "from leernet.cli import main; main()", "run", "--log-format", "json"]
            daemon = subprocess.Popen(
                [sys.executable, *command],
                env={**os.environ, **environment},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                for _ in range(600):  # by count: 17 messages, or 60 s of looking
                    if len(smtp.received) >= 17:
                        break
                    time.sleep(0.1)
                asyncio.run(append(world.account, mail(1)))
                world.dovecot.doveadm_run("kick", world.account.user)
                for _ in range(300):  # the inbox logs in again and takes the mail
                    if not asyncio.run(uids(world.account)):
                        break
                    time.sleep(0.1)
                daemon.send_signal(signal.SIGTERM)
                output, errors = daemon.communicate(timeout=30)
            finally:
                if daemon.poll() is None:
                    daemon.kill()
        assert daemon.returncode == 0, errors
        assert len(smtp.received) >= 17
        assert world.tokens.issued() >= 2
        logs = output + errors
        assert "leernet stopped" in logs
        assert CLIENT_SECRET not in logs
        for token in world.tokens.tokens:
            assert token not in logs
        assert "tok-" not in logs  # no token, not even an expired one


class TestRotatedRefreshToken:
    async def test_a_restart_continues_from_the_rotated_refresh_token(
        self, tokens: TokenServer, tmp_path: Path
    ) -> None:
        """The endpoint rotates the refresh token and refuses the old one: the next daemon
        takes the rotated one from the store, not the configured one, and gets a token.
        """
        from leernet.daemon import Service  # noqa: PLC0415
        from leernet.store import open_store  # noqa: PLC0415

        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            secret=SecretStr("test-secret-not-for-production"),
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}",
            imap_auth="xoauth2",
            smtp_auth="xoauth2",
            oauth_provider="generic",
            oauth_token_url=tokens.token_url,
            oauth_client_id=CLIENT_ID,
            oauth_client_secret=SecretStr(CLIENT_SECRET),
            oauth_refresh_token=SecretStr(tokens.new_refresh_token()),
        )
        engine = await open_store(settings.database_url)
        try:
            first = Service(engine, settings)
            await first.resume_refresh_token()
            assert first.tokens is not None
            await first.tokens.token()  # the endpoint rotates the refresh token here
            second = Service(engine, settings)  # a restart: only the store remembers
            await second.resume_refresh_token()
            assert second.tokens is not None
            assert await second.tokens.token() in tokens.tokens
            used = [seen.form["refresh_token"] for seen in tokens.requests]
            assert used[0] != used[1]  # the second run did not send the configured one again
        finally:
            await engine.dispose()
