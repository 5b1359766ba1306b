"""OAuth2 access tokens for the mailbox: obtained, cached and renewed by leernet.

A ``TokenSource`` hands out one access token to every connection that needs
one (IMAP, each SMTP lane) and renews it at 80 % of its lifetime, so a long
run never logs in with an expired token. A server that still refuses a token
calls ``invalidate(token)``; the next ``token()`` then fetches a fresh one.
The providers (``oauth_providers``) do the fetching with the vendors' own
libraries; they are blocking, so they run in a worker thread under a timeout.

Build one ``TokenSource`` per process (``TokenSource.from_settings``) and pass
it to ``ImapSession.open`` and ``send_stream``: that is what shares the cache.
A token is never logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from leernet.errors import TokenError
from leernet.settings import Auth, OAuthProvider, Settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# Renew at this share of a token's lifetime: a token handed out is then valid for at
# least a fifth of its life (12 minutes of Microsoft's and Google's usual hour).
RENEW_AT = 0.8


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and how many seconds it lives from when it was issued."""

    value: str = field(repr=False)
    lifetime: float


class Provider(Protocol):
    """Fetches a new token (blocking; raises ``TokenError``); ``flow`` says which, in words."""

    @property
    def flow(self) -> str:
        """Which OAuth2 flow this is, in words for ``leernet auth check``."""

    def fetch(self) -> Token:
        """A fresh access token from the provider."""


@dataclass(frozen=True, slots=True)
class FixedToken:
    """A token given in the settings (``LEERNET_*_PASSWORD``): used as is, never renewed."""

    value: str = field(repr=False)
    flow: str = "a fixed access token from the password setting (not renewed)"

    def fetch(self) -> Token:
        """A fresh access token from the provider."""
        return Token(self.value, float("inf"))


class TokenSource:
    """The current token of one provider, shared by every connection of the process."""

    def __init__(
        self,
        provider: Provider,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self._timeout = timeout
        self._clock = clock
        self._token: Token | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many tokens were obtained (tests, ``auth check``)
        # Called after each token obtained: the daemon keeps a rotated refresh token there.
        self.on_fetched: Callable[[], Awaitable[None]] | None = None

    @property
    def renewable(self) -> bool:
        """Whether asking again can give a different token (not so for a fixed one)."""
        return not isinstance(self.provider, FixedToken)

    @property
    def flow(self) -> str:
        """Which OAuth2 flow this is, in words for ``leernet auth check``."""
        return self.provider.flow

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenSource | None:
        """The source for ``settings``, or None when neither IMAP nor SMTP uses OAuth2."""
        if Auth.XOAUTH2 not in {settings.imap_auth, settings.smtp_auth}:
            return None
        if settings.oauth_provider is OAuthProvider.NONE:
            # Before there were providers, the IMAP password held the token.
            secret = settings.imap_password if settings.imap_auth is Auth.XOAUTH2 else None
            secret = secret or settings.smtp_password
            return cls(FixedToken(secret.get_secret_value()), timeout=settings.oauth_timeout)
        from leernet.mailer.oauth_providers import provider_for  # noqa: PLC0415 - loads msal lazily

        return cls(provider_for(settings), timeout=settings.oauth_timeout)

    async def token(self) -> str:
        """A token valid for a while yet; fetched when there is none or it is due for renewal."""
        async with self._lock:
            token = self._token
            if token is None or self._clock() >= self._renew_at:
                token = await self._fetch()
            return token.value

    def invalidate(self, value: str) -> None:
        """The server refused ``value``: fetch a new one next time (unless already renewed)."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch(self) -> Token:
        started = self._clock()
        try:
            async with asyncio.timeout(self._timeout):
                token = await asyncio.to_thread(self.provider.fetch)
        except TimeoutError:
            msg = f"the token endpoint gave no answer within {self._timeout:g} s"
            raise TokenError(msg, refused=False) from None
        self.fetches += 1
        self._token = token
        self._renew_at = started + RENEW_AT * max(token.lifetime, 0.0)
        if self.on_fetched is not None:
            await self.on_fetched()
        return token


def xoauth2_response(user: str, token: str) -> str:
    """SASL XOAUTH2's initial response: base64("user=" user ^A "auth=Bearer " token ^A ^A)."""
    return base64.b64encode(f"user={user}\1auth=Bearer {token}\1\1".encode()).decode("ascii")


def oauthbearer_response(user: str, token: str, host: str, port: int) -> str:
    """RFC 7628 3.1: a GS2 header naming the user, then host, port and the bearer token."""
    # RFC 5801 4: "," and "=" in the authzid are written "=2C" and "=3D".
    name = user.replace("=", "=3D").replace(",", "=2C")
    text = f"n,a={name},\1host={host}\1port={port}\1auth=Bearer {token}\1\1"
    return base64.b64encode(text.encode()).decode("ascii")
