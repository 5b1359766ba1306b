"""A loopback OAuth2 server for tests: token endpoint, introspection and msal's discovery.

``TokenServer`` issues opaque tokens that live ``lifetime`` seconds to the
clients it knows (client credentials, refresh token with rotation, Google's
JWT bearer grant), answers RFC 7662 introspection (Dovecot's oauth2 passdb
asks it) and serves the OpenID configuration msal reads for a tenant. Every
request is kept in ``requests`` so tests can check what a provider sent.
``check(token)`` is the same judgement for the aiosmtpd authenticator.
Optionally over TLS with the test CA (``context``).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from collections.abc import Iterator

CLIENT_ID = "leernet-test-client"
CLIENT_SECRET = "s3cret-client-value-0123456789"
UNKNOWN_TENANT = "no-such-tenant"


@dataclass
class Seen:
    """One request to the token endpoint: its path, form fields and Authorization header."""

    path: str
    form: dict[str, str]
    authorization: str


@dataclass
class TokenServer:
    """Issues tokens for ``user``; ``revoke()`` makes every token and the client invalid."""

    user: str = "netwerk"
    lifetime: float = 3600.0
    secrets: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    basic_only: bool = False  # accept the client secret only by HTTP Basic (RFC 6749 2.3.1)
    context: ssl.SSLContext | None = None
    requests: list[Seen] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    refresh_tokens: set[str] = field(default_factory=set)
    revoked: bool = False
    checks: int = 0  # introspections and SMTP checks
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def base(self) -> str:
        scheme = "https" if self.context is not None else "http"
        host = "localhost" if self.context is not None else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    def revoke(self) -> None:
        with self._lock:
            self.revoked = True
            self.tokens.clear()

    def issued(self) -> int:
        with self._lock:
            return sum(1 for seen in self.requests if seen.path.endswith("token"))

    def check(self, token: str) -> str | None:
        """The user a token belongs to, or None when unknown, expired or revoked."""
        with self._lock:
            self.checks += 1
            expiry = self.tokens.get(token)
            if expiry is None or time.monotonic() >= expiry:
                return None
            return self.user

    def new_refresh_token(self) -> str:
        with self._lock:
            value = f"refresh-{next(self._counter)}"
            self.refresh_tokens.add(value)
            return value

    def _issue(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        elif self.basic_only and secret:
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type", "")
        body: dict[str, Any] = {}
        if form.get("client_assertion"):  # RFC 7523 2.2: a signed JWT instead of a secret
            claims = _jwt_claims(form["client_assertion"])
            client_id, secret = claims.get("iss", ""), self.secrets.get(claims.get("iss", ""), "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            # Google's service account: the JWT names the client (iss) and the mailbox (sub).
            claims = _jwt_claims(form.get("assertion", ""))
            client_id, secret = claims.get("iss", ""), self.secrets.get(claims.get("iss", ""), "")
            if claims.get("sub") != self.user:
                return 401, {"error": "unauthorized_client", "error_description": "no delegation"}
        elif grant == "refresh_token":
            old = form.get("refresh_token", "")
            if old not in self.refresh_tokens:
                return 400, {"error": "invalid_grant"}
            self.refresh_tokens.discard(old)
            body["refresh_token"] = f"refresh-{next(self._counter)}"  # rotated (RFC 6749 6)
            self.refresh_tokens.add(body["refresh_token"])
        elif grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if self.revoked or self.secrets.get(client_id) != secret:
            return 401, {"error": "invalid_client", "error_description": "unknown client"}
        token = f"tok-{next(self._counter)}-{int(time.monotonic() * 1000)}"
        self.tokens[token] = time.monotonic() + self.lifetime
        body |= {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}
        return 200, body

    def handle(self, path: str, form: dict[str, str], authorization: str) -> tuple[int, Any]:
        if path.endswith("/introspect"):
            user = self.check(form.get("token", ""))
            return 200, {"active": True, "username": user} if user else {"active": False}
        with self._lock:
            self.requests.append(Seen(path, form, authorization))
            return self._issue(form, authorization)

    def discovery(self, path: str) -> tuple[int, dict[str, Any]]:
        """The OpenID configuration msal reads for ``/{tenant}/v2.0/.well-known/...``."""
        tenant = path.strip("/").split("/")[0]
        if tenant == UNKNOWN_TENANT:
            return 400, {"error": "invalid_tenant", "error_codes": [90002]}
        return 200, {
            "token_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/token",
            "authorization_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/authorize",
            "issuer": f"{self.base}/{tenant}/v2.0",
            "device_authorization_endpoint": f"{self.base}/{tenant}/oauth2/v2.0/devicecode",
        }


def _jwt_claims(assertion: str) -> dict[str, Any]:
    try:
        payload = assertion.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        return {}


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if "openid-configuration" in self.path:
                self._send(*server.discovery(self.path))
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            status, body = server.handle(self.path, form, self.headers.get("Authorization") or "")
            self._send(status, body)

    return Handler


@contextlib.contextmanager
def token_server(**kwargs: Any) -> Iterator[TokenServer]:
    """A ``TokenServer`` on a free loopback port in its own thread."""
    server = TokenServer(**kwargs)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    if server.context is not None:
        httpd.socket = server.context.wrap_socket(httpd.socket, server_side=True)
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


DOVECOT_OAUTH2 = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
"""
