"""Where tokens come from: Microsoft (msal), Google (google-auth) and any RFC 6749 endpoint.

Each provider's ``fetch`` is blocking (the vendors' libraries use requests) and
returns a fresh ``Token`` or raises ``TokenError``, whose message says in words
what a person must fix (wrong tenant, bad secret, missing delegation) and never
contains a secret or a token. ``refused`` separates "the endpoint said no"
(tell a person) from "the endpoint could not be reached" (try again later).
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import requests

from leernet.errors import TokenError
from leernet.mailer.oauth import Provider, Token
from leernet.settings import OAuthProvider, Settings

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
# An endpoint that gives no expires_in (RFC 6749 5.1: only RECOMMENDED): renew this often.
DEFAULT_LIFETIME = 600.0

# RFC 6749 5.2 error codes that mean our client, grant or scope is refused.
_REFUSALS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_scope", "access_denied"}
)
_WORDS = {
    "invalid_client": "the token endpoint does not know this client id, or the secret is wrong",
    "unauthorized_client": "this client is not allowed to get tokens this way or for this scope",
    "invalid_grant": "the grant was refused (refresh token revoked or expired, or mailbox unknown)",
    "invalid_scope": "the scope is not known or not granted to this client",
    "access_denied": "access was denied to this client",
}
# Microsoft Entra ID's AADSTS codes (``error_codes``) for what people get wrong most.
_ENTRA = {
    90002: "wrong tenant: LEERNET_OAUTH_TENANT names no Entra ID directory",
    900023: "wrong tenant: LEERNET_OAUTH_TENANT is not a valid tenant id or domain",
    700016: "wrong client id: no such app registration in this tenant",
    7000215: "wrong client secret (use the secret's value, not its id)",
    7000222: "the client secret has expired: create a new one in the app registration",
    700027: "the certificate is not known to the app registration",
    1002012: "wrong scope: use https://outlook.office365.com/.default",
    70011: "wrong scope: use https://outlook.office365.com/.default",
}


def _error_words(body: Any) -> tuple[str, bool]:
    """Words and ``refused`` for an RFC 6749 5.2 error answer (or anything else)."""
    if not isinstance(body, dict):
        return "the token endpoint sent an answer that is not an OAuth2 error", False
    code = str(body.get("error", ""))
    for number in body.get("error_codes") or ():
        if number in _ENTRA:
            return f"{_ENTRA[number]} ({code})", True
    words = _WORDS.get(code, f"the token endpoint refused: {code or 'no reason given'}")
    return words, code in _REFUSALS


class GenericProvider:
    """Any RFC 6749 endpoint: client credentials (4.4), or refresh token (6) when one is given."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str = "",
        refresh_token: str = "",
        timeout: float = 30.0,
    ) -> None:
        self._url = token_url
        self._id = client_id
        self._secret = client_secret
        self._scope = scope
        # RFC 6749 6: the endpoint may rotate the refresh token; the daemon keeps the
        # current one in the store (``refresh_token`` / ``resume``), never in a file.
        self._refresh = refresh_token
        self._timeout = timeout
        self._basic = False  # RFC 6749 2.3.1: some endpoints take the secret only this way
        self._http = requests.Session()
        self._lock = threading.Lock()

    @property
    def refresh_token(self) -> str:
        """The refresh token to use next (rotated by the endpoint, or the configured one)."""
        return self._refresh

    def resume(self, refresh_token: str) -> None:
        """Continue from a refresh token the endpoint rotated in an earlier run."""
        with self._lock:
            self._refresh = refresh_token

    @property
    def flow(self) -> str:
        """Which OAuth2 flow this is, in words for ``leernet auth check``."""
        grant = "refresh token" if self._refresh else "client credentials"
        return f"generic OAuth2 ({grant}) at {self._url}"

    def fetch(self) -> Token:
        """A fresh access token from Microsoft (msal)."""
        with self._lock:
            answer = self._post()
            if answer.status_code in {400, 401} and self._secret and not self._basic:
                body = _json(answer)
                if isinstance(body, dict) and body.get("error") == "invalid_client":
                    self._basic = True
                    answer = self._post()
            body = _json(answer)
            if answer.status_code != HTTPStatus.OK or not isinstance(body, dict):
                words, refused = _error_words(body)
                raise TokenError(f"{words} (HTTP {answer.status_code})", refused=refused)
            if not body.get("access_token"):
                raise TokenError("the token endpoint's answer has no access_token", refused=False)
            if body.get("refresh_token"):
                self._refresh = str(body["refresh_token"])  # RFC 6749 6: it may rotate
            return Token(str(body["access_token"]), _lifetime(body.get("expires_in")))

    def _post(self) -> requests.Response:
        form = {"grant_type": "client_credentials"}
        if self._refresh:
            form = {"grant_type": "refresh_token", "refresh_token": self._refresh}
        if self._scope:
            form["scope"] = self._scope
        auth = None
        if self._basic:
            auth = (self._id, self._secret)
        else:
            form["client_id"] = self._id
            if self._secret:
                form["client_secret"] = self._secret
        try:
            return self._http.post(self._url, data=form, auth=auth, timeout=self._timeout)
        except requests.RequestException as exc:
            msg = f"the token endpoint {self._url} cannot be reached ({type(exc).__name__})"
            raise TokenError(msg, refused=False) from None


class MicrosoftProvider:
    """Entra ID client credentials with msal: app-only access to the service mailbox."""

    def __init__(
        self,
        tenant: str,
        client_id: str,
        credential: str | dict[str, str],
        *,
        scope: str = MICROSOFT_SCOPE,
        authority_host: str = MICROSOFT_AUTHORITY,
        timeout: float = 30.0,
    ) -> None:
        self._tenant = tenant
        self._id = client_id
        self._credential = credential
        self._scope = scope
        self._authority = f"{authority_host.rstrip('/')}/{tenant}"
        self._discovery = authority_host.rstrip("/") == MICROSOFT_AUTHORITY
        self._timeout = timeout
        self._app: Any = None
        self._lock = threading.Lock()

    @property
    def flow(self) -> str:
        """Which OAuth2 flow this is, in words for ``leernet auth check``."""
        how = "certificate" if isinstance(self._credential, dict) else "client secret"
        return f"Microsoft 365 client credentials ({how}), tenant {self._tenant}"

    def fetch(self) -> Token:
        """A fresh access token from Google (google-auth)."""
        import msal  # noqa: PLC0415 - only a Microsoft deployment pays for the import

        with self._lock:
            try:
                if self._app is None:
                    # msal reads the tenant's OpenID configuration here (a network call).
                    self._app = msal.ConfidentialClientApplication(
                        self._id,
                        client_credential=self._credential,
                        authority=self._authority,
                        timeout=self._timeout,
                        instance_discovery=self._discovery,
                    )
                # Every fetch wants a new token (due for renewal, or refused): skip msal's cache.
                self._app.remove_tokens_for_client()
                body = self._app.acquire_token_for_client(scopes=[self._scope])
            except ValueError as exc:
                refused = "tenant" in str(exc).lower() or "authority" in str(exc).lower()
                words = "wrong tenant: Entra ID does not know" if refused else "msal refused"
                raise TokenError(f"{words} {self._tenant!r}", refused=refused) from None
            except requests.RequestException as exc:
                msg = f"Entra ID ({self._authority}) cannot be reached ({type(exc).__name__})"
                raise TokenError(msg, refused=False) from None
        if not isinstance(body, dict) or not body.get("access_token"):
            words, refused = _error_words(body)
            raise TokenError(words, refused=refused)
        return Token(str(body["access_token"]), _lifetime(body.get("expires_in")))


class GoogleProvider:
    """A Google service account with domain-wide delegation, acting as the service mailbox."""

    def __init__(self, info: dict[str, Any], subject: str, *, scope: str = GOOGLE_SCOPE) -> None:
        self._info = info
        self._subject = subject
        self._scope = scope

    @property
    def flow(self) -> str:
        """Which OAuth2 flow this is, in words for ``leernet auth check``."""
        account = self._info.get("client_email", "?")
        return f"Google service account {account} acting as {self._subject}"

    def fetch(self) -> Token:
        """A fresh access token from the token endpoint (RFC 6749)."""
        from google.auth import exceptions  # noqa: PLC0415 - only Google deployments import it
        from google.auth.transport.requests import Request  # noqa: PLC0415
        from google.oauth2 import service_account  # noqa: PLC0415

        try:
            creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                self._info, scopes=[self._scope], subject=self._subject
            )
            creds.refresh(Request())
        except exceptions.RefreshError as exc:
            body = exc.args[1] if len(exc.args) > 1 else None
            words, refused = _error_words(body)
            if isinstance(body, dict) and body.get("error") == "unauthorized_client":
                words = "domain-wide delegation is not granted to this client id for the scope"
            raise TokenError(words, refused=refused or not exc.retryable) from None
        except exceptions.TransportError as exc:
            msg = f"Google's token endpoint cannot be reached ({type(exc).__name__})"
            raise TokenError(msg, refused=False) from None
        except (ValueError, KeyError) as exc:
            msg = f"the service account file is not usable ({type(exc).__name__})"
            raise TokenError(msg, refused=True) from None
        expiry = creds.expiry.replace(tzinfo=UTC) if creds.expiry else None
        lifetime = (expiry - datetime.now(UTC)).total_seconds() if expiry else DEFAULT_LIFETIME
        return Token(str(creds.token), lifetime)


def provider_for(settings: Settings) -> Provider:
    """The provider ``settings`` configure; ``TokenError`` (refused) says what is missing."""
    s = settings
    kind = s.oauth_provider
    if kind is OAuthProvider.MICROSOFT:
        _require(s, "oauth_tenant", "oauth_client_id")
        credential: str | dict[str, str] = s.oauth_client_secret.get_secret_value()
        if s.oauth_certificate_file is not None:
            credential = _certificate(s)
        elif not credential:
            _missing("LEERNET_OAUTH_CLIENT_SECRET (or LEERNET_OAUTH_CERTIFICATE_FILE)")
        return MicrosoftProvider(
            s.oauth_tenant,
            s.oauth_client_id,
            credential,
            scope=s.oauth_scope or MICROSOFT_SCOPE,
            timeout=s.oauth_timeout,
        )
    if kind is OAuthProvider.GOOGLE:
        path = s.oauth_service_account_file
        if path is None:
            raise TokenError("LEERNET_OAUTH_SERVICE_ACCOUNT_FILE is not set", refused=True)
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"cannot read LEERNET_OAUTH_SERVICE_ACCOUNT_FILE ({type(exc).__name__})"
            raise TokenError(msg, refused=True) from None
        subject = s.imap_user if "@" in s.imap_user else s.service_address
        return GoogleProvider(info, subject, scope=s.oauth_scope or GOOGLE_SCOPE)
    _require(s, "oauth_token_url", "oauth_client_id")
    return GenericProvider(
        s.oauth_token_url,
        s.oauth_client_id,
        s.oauth_client_secret.get_secret_value(),
        scope=s.oauth_scope,
        refresh_token=s.oauth_refresh_token.get_secret_value(),
        timeout=s.oauth_timeout,
    )


def _certificate(s: Settings) -> dict[str, str]:
    from cryptography import x509  # noqa: PLC0415 - msal's own dependency
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    assert s.oauth_certificate_file is not None
    try:
        pem = s.oauth_certificate_file.read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
    except (OSError, ValueError) as exc:
        msg = f"cannot read LEERNET_OAUTH_CERTIFICATE_FILE ({type(exc).__name__})"
        raise TokenError(msg, refused=True) from None
    # Entra ID names a certificate by the SHA-1 of its DER bytes (x5t): an id, not a signature.
    der = cert.public_bytes(serialization.Encoding.DER)
    thumbprint = hashlib.sha1(der, usedforsecurity=False).hexdigest()
    return {"private_key": pem.decode(), "thumbprint": thumbprint}


def _require(s: Settings, *names: str) -> None:
    for name in names:
        if not getattr(s, name):
            _missing(f"LEERNET_{name.upper()}")


def _missing(name: str) -> None:
    raise TokenError(f"{name} is not set", refused=True)


def _lifetime(value: Any) -> float:
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return DEFAULT_LIFETIME


def _json(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None
