"""Settings from ``LEERNET_*`` environment variables or a ``.env`` file (DESIGN.md contract)."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from leernet.errors import SettingsError

_MIN_SECRET = 16  # characters of LEERNET_SECRET; tokens and Message-IDs are keyed with it


class Security(StrEnum):
    """How a connection is secured."""

    TLS = "tls"  # implicit TLS (SMTPS 465, IMAPS 993)
    STARTTLS = "starttls"
    NONE = "none"  # only for servers on loopback


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (plain text is allowed there only)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Auth(StrEnum):
    """How leernet logs in to the mailbox."""

    LOGIN = "login"  # LOGIN / AUTH PLAIN with the password
    XOAUTH2 = "xoauth2"  # SASL XOAUTH2, or OAUTHBEARER (RFC 7628) when only that is offered


class OAuthProvider(StrEnum):
    """Who issues the OAuth2 tokens."""

    NONE = ""
    MICROSOFT = "microsoft"
    GOOGLE = "google"
    GENERIC = "generic"


class Settings(BaseSettings):
    """Everything the service needs to know about its mailbox, database and secret."""

    model_config = SettingsConfigDict(
        env_prefix="LEERNET_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    service_address: str = "netwerk@example.org"
    service_name: str = "Lerend netwerk"
    secret: SecretStr = SecretStr("")

    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_security: Security = Security.STARTTLS
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout: float = 60.0
    smtp_connections: int = Field(default=2, ge=1, le=16)
    smtp_hostname: str = "leernet.localdomain"  # our EHLO name: no getfqdn() stall (MAIL-NOTES 5)

    imap_host: str = "localhost"
    imap_port: int = 993
    imap_security: Security = Security.TLS
    imap_user: str = ""
    imap_password: SecretStr = SecretStr("")
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "leernet/processed"
    imap_attention_folder: str = "leernet/needs-attention"
    imap_timeout: float = 60.0
    imap_idle_seconds: float = Field(default=24 * 60, gt=0)  # re-issue IDLE well within 29 min
    imap_poll_seconds: float = Field(default=60, gt=0)
    # OAuth2 (README "Microsoft 365 and Google Workspace with OAuth2"). With xoauth2 and
    # no oauth_provider, the password holds a fixed access token (never renewed).
    imap_auth: Auth = Auth.LOGIN
    smtp_auth: Auth = Auth.LOGIN
    oauth_provider: OAuthProvider = OAuthProvider.NONE
    oauth_tenant: str = ""  # microsoft: the directory (tenant) id or domain
    oauth_client_id: str = ""
    oauth_client_secret: SecretStr = SecretStr("")
    oauth_certificate_file: Path | None = None  # microsoft: PEM with private key + certificate
    oauth_token_url: str = ""  # generic: the RFC 6749 token endpoint
    oauth_scope: str = ""  # empty: the provider's mail scope
    oauth_refresh_token: SecretStr = SecretStr("")  # generic: refresh-token grant when set
    oauth_service_account_file: Path | None = None  # google: the service account's JSON key
    oauth_timeout: float = Field(default=30.0, gt=0)
    # The authserv-id our own server writes in Authentication-Results (RFC 8601);
    # only its verdicts are trusted: "mx.google.com" for Gmail, "microsoft365" for
    # Exchange Online (which writes none). Empty: no DMARC verdict is read (warned).
    authserv_id: str = ""

    # Who hears about mail that belongs to no network; empty: the organisers of running
    # networks when there are at most three of them (one team), else nobody by mail (logged).
    admin_address: str = ""
    confirmations_per_hour: int = Field(default=4, ge=1)

    # Who may start a network by mail: addresses and "@domain" entries, comma-separated.
    # Empty: nobody (organisers of a registered network still manage that network).
    organisers: str = ""

    database_url: str = "sqlite+aiosqlite:///./leernet.db"
    templates_dir: Path | None = None
    send_give_up_hours: float = 5 * 24
    max_message_bytes: int = 25 * 1024 * 1024
    # CPU seconds one incoming mail may take; over it the mail is set aside (0: no limit).
    mail_budget_seconds: float = Field(default=5.0, ge=0)
    retention_days: int = 365

    @model_validator(mode="after")
    def _no_clear_passwords(self) -> Settings:
        # A password sent without TLS to a remote host is readable on the way.
        for proto in ("smtp", "imap"):
            host = getattr(self, f"{proto}_host")
            security = getattr(self, f"{proto}_security")
            if security is Security.NONE and not is_loopback(host):
                msg = (
                    f"LEERNET_{proto.upper()}_SECURITY=none is only allowed for a server on "
                    f"loopback, not for {host!r}: use tls or starttls"
                )
                raise ValueError(msg)
        url = urlsplit(self.oauth_token_url)
        if url.scheme == "http" and not is_loopback(url.hostname or ""):
            msg = (
                "LEERNET_OAUTH_TOKEN_URL may use http:// only on loopback, "
                f"not for {url.hostname!r}: use https"
            )
            raise ValueError(msg)
        if self.oauth_token_url and url.scheme not in {"http", "https"}:
            raise ValueError("LEERNET_OAUTH_TOKEN_URL must be an https:// URL")
        if Auth.XOAUTH2 in {self.imap_auth, self.smtp_auth}:
            missing = [
                f"LEERNET_{name.upper()}" for name in self._oauth_needs() if not getattr(self, name)
            ]
            if missing:
                msg = f"LEERNET_OAUTH_PROVIDER={self.oauth_provider} needs {', '.join(missing)}"
                raise ValueError(msg)
        return self

    def may_start_networks(self, address: str) -> bool:
        """Whether ``address`` is named in ``LEERNET_ORGANISERS`` (itself or its @domain)."""
        wanted = address.strip().lower()
        domain = "@" + wanted.rpartition("@")[2]
        entries = {e.strip().lower() for e in self.organisers.split(",") if e.strip()}
        return wanted in entries or domain in entries

    def _oauth_needs(self) -> tuple[str, ...]:
        """The settings a provider cannot work without (a secret or a certificate: microsoft)."""
        if self.oauth_provider is OAuthProvider.MICROSOFT:
            credential = (
                "oauth_certificate_file" if self.oauth_certificate_file else "oauth_client_secret"
            )
            return ("oauth_tenant", "oauth_client_id", credential)
        if self.oauth_provider is OAuthProvider.GOOGLE:
            return ("oauth_service_account_file",)
        if self.oauth_provider is OAuthProvider.GENERIC:
            return ("oauth_token_url", "oauth_client_id")
        return ()

    @property
    def service_domain(self) -> str:
        """The domain of the service address (for Message-IDs)."""
        return self.service_address.rpartition("@")[2].lower()

    def authserv_warning(self) -> str:
        """Why DMARC verdicts are not read, or '' when LEERNET_AUTHSERV_ID is set."""
        if self.authserv_id.strip():
            return ""
        return (
            "LEERNET_AUTHSERV_ID is not set: no DMARC verdict is read, so a reply with a "
            "forged From is caught only by its reply token; set it to the authserv-id of "
            "your mail server's Authentication-Results (README, 'Run it as a service')"
        )

    def secret_value(self) -> str:
        """The token secret; refuse to run without one."""
        value = self.secret.get_secret_value()
        if len(value) < _MIN_SECRET:
            msg = "LEERNET_SECRET must be set to a random string of at least 16 characters"
            raise SettingsError(msg)
        return value
