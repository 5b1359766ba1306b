"""One SMTP connection that hands over stored messages: the aiosmtplib edge of the outbox.

This is the only module that imports aiosmtplib (STYLE rule 6). Every library
error becomes one of ours here::

    4xx reply (greeting, MAIL, RCPT, DATA) ┐
    timeout, refused or dropped connection ├─► SendDeferred   try again later
    552 on RCPT (RFC 5321 4.5.3.1.10)      ┘
    5xx reply (MAIL, RCPT, DATA)           ───► SendRejected   never retried

A failure while connecting (including a 5xx greeting or a refused login) is
always ``SendDeferred``: it says something about the server or our settings,
not about a message, so no message is failed for it. A refused login (5xx to
AUTH, or a token endpoint refusing our client) is ``SendLoginRefused``, a
``SendDeferred`` that says a person must fix the credentials.

After any error, ``usable`` says whether the connection can carry the next
message; a 4xx/5xx reply to one message leaves it usable (aiosmtplib sends
RSET), a 421 or a lost connection does not.

``send_stream`` works through stored messages as the outbox hands them over, on
one connection kept open between its claims (``send_share``: a fixed list), and
reports each outcome (``None`` for the server's 250, else the error) to the
outbox, which owns the database side.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import aiosmtplib

from leernet.errors import SendDeferred, SendError, SendLoginRefused, SendRejected, TokenError
from leernet.mailer.oauth import TokenSource, oauthbearer_response
from leernet.settings import Auth, Security, Settings, is_loopback

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
    from datetime import datetime

log = logging.getLogger("leernet.outbox")

# RFC 5321 4.2.2/3.8: 421 means the server is closing the transmission channel.
_CLOSING = 421
# RFC 5321 4.5.3.1.10: "Clients SHOULD treat a 552 code in this case [too many
# recipients, answered to RCPT] as a temporary, rather than permanent, failure".
# We send one recipient per transaction, so a 552 on RCPT is a server-side limit
# (quota, buffer) and is retried; a 552 after DATA (message too large) is final.
_RCPT_TEMPORARY = frozenset({552})
_SASL_CHALLENGE = 334
_SASL_OK = 235


_TRANSIENT = 4  # RFC 5321 4.2.1: 4yz, a transient negative completion reply


def _reason(code: int | None, text: str) -> str:
    text = " ".join(text.split())[:500]
    return f"{code} {text}" if code is not None else text


def _by_code(code: int, text: str, *, temporary: frozenset[int] = frozenset()) -> SendError:
    if code // 100 == _TRANSIENT or code in temporary:
        return SendDeferred(_reason(code, text), code=code)
    return SendRejected(_reason(code, text), code=code)


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, telling ``before_data`` when MAIL and RCPT were accepted."""

    before_data: Callable[[], None] | None = None

    async def data(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        # From here on the server may take the message: the outbox's attempt log must
        # know before the first byte of it leaves (``leernet.mailer.attempts``).
        if self.before_data is not None:
            self.before_data()
        return await super().data(*args, **kwargs)


class SmtpSession:
    """One connection to the configured SMTP server, reused for many messages."""

    def __init__(self, settings: Settings, tokens: TokenSource | None = None) -> None:
        self._settings = settings
        self._oauth = settings.smtp_auth is Auth.XOAUTH2
        self._tokens = tokens
        self._client: _Client | None = None

    @property
    def usable(self) -> bool:
        """Whether the connection can take another message."""
        return self._client is not None and self._client.is_connected

    @property
    def server(self) -> str:
        """The server as the log names it."""
        return f"{self._settings.smtp_host}:{self._settings.smtp_port}"

    def _make_client(self) -> _Client:
        s = self._settings
        user = None if self._oauth else s.smtp_user or None  # OAuth2: ``_sasl`` logs in
        if user and s.smtp_security is Security.NONE and not is_loopback(s.smtp_host):
            # Settings refuses this already; a password in clear must never leave the host.
            msg = f"refusing to log in to {s.smtp_host} without TLS"
            raise SendDeferred(msg)
        return _Client(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=user,
            password=s.smtp_password.get_secret_value() if user else None,
            # MAIL-NOTES gotcha 5: without it aiosmtplib calls getfqdn() per connection.
            local_hostname=s.smtp_hostname,
            timeout=s.smtp_timeout,
            use_tls=s.smtp_security is Security.TLS,
            # True, not None: never fall back to clear text when STARTTLS is missing.
            start_tls=s.smtp_security is Security.STARTTLS,
        )

    async def open(self) -> None:
        """Connect (TLS/STARTTLS, EHLO, AUTH); raise ``SendDeferred`` if the server is unusable.

        A refused login raises ``SendLoginRefused`` (still a ``SendDeferred``: the
        messages wait). With OAuth2 a refused token is renewed once and tried on a
        fresh connection first.
        """
        await self.close()
        if self._oauth and self._tokens is None:
            # No source shared by the caller: one for this session's connections.
            try:
                self._tokens = TokenSource.from_settings(self._settings)
            except TokenError as exc:
                raise SendLoginRefused(f"{self.server}: no OAuth2 token: {exc}") from None
        tokens = self._tokens if self._oauth else None
        for attempt in range(2):
            token = None
            if tokens is not None:
                try:
                    token = await tokens.token()
                except TokenError as exc:
                    kind = SendLoginRefused if exc.refused else SendDeferred
                    raise kind(f"{self.server}: no OAuth2 token: {exc}") from None
            try:
                self._client = await self._connect(token)
            except SendLoginRefused:
                if tokens is None or token is None or attempt or not tokens.renewable:
                    raise
                tokens.invalidate(token)
            else:
                return

    async def _connect(self, token: str | None) -> _Client:
        client = self._make_client()
        try:
            async with asyncio.timeout(self._settings.smtp_timeout):
                await client.connect()
                if token is not None:
                    await self._sasl(client, token)
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            reason = f"{self.server} refused our login: {_reason(exc.code, exc.message)}"
            if exc.code // 100 == _TRANSIENT:  # 454: could not check the credentials just now
                raise SendDeferred(reason, code=exc.code) from exc
            raise SendLoginRefused(reason, code=exc.code) from exc
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise SendDeferred(
                f"{self.server} refused the connection: {_reason(exc.code, exc.message)}",
                code=exc.code,
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            raise SendDeferred(f"{self.server} unreachable: {exc}") from exc
        return client

    async def _sasl(self, client: _Client, token: str) -> None:
        """AUTH XOAUTH2, or OAUTHBEARER (RFC 7628) when the server offers only that."""
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        user = self._settings.smtp_user or self._settings.service_address
        methods = client.server_auth_methods
        if "oauthbearer" not in methods or "xoauth2" in methods:
            await client.auth_xoauth2(user, token)
            return
        s = self._settings
        initial = oauthbearer_response(user, token, s.smtp_host, s.smtp_port)
        response = await client.execute_command(b"AUTH", b"OAUTHBEARER", initial.encode())
        if response.code == _SASL_CHALLENGE:
            # RFC 7628 3.2.3: answer the error challenge with ^A to get the final reply.
            response = await client.execute_command(b"AQ==")
        if response.code != _SASL_OK:
            raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)

    async def send(
        self,
        sender: str,
        recipient: str,
        raw: bytes,
        before_data: Callable[[], None] | None = None,
    ) -> None:
        """Hand one message over; return only after the server's 250 to DATA.

        ``before_data`` is called once MAIL and RCPT were accepted, just before DATA.
        """
        client = self._client
        if client is None or not client.is_connected:
            raise SendDeferred(f"not connected to {self.server}")
        # The whole transaction gets the command timeout plus time to upload the
        # bytes at a slow 50 kB/s; aiosmtplib also times out each read on its own.
        deadline = self._settings.smtp_timeout + len(raw) / 50_000
        client.before_data = before_data
        try:
            async with asyncio.timeout(deadline):
                await client.sendmail(sender, [recipient], raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            if first.code == _CLOSING:
                client.close()
            raise _by_code(first.code, first.message, temporary=_RCPT_TEMPORARY) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == _CLOSING:
                client.close()
            raise _by_code(exc.code, exc.message) from exc
        except ValueError as exc:
            # aiosmtplib refuses an address it cannot send (e.g. non-ASCII without SMTPUTF8).
            raise SendRejected(f"address not sendable: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Dropped or timed out mid-transaction: the server may or may not have the
            # message; it is sent again later with the same bytes (at-least-once).
            client.close()
            raise SendDeferred(
                f"connection to {self.server} lost: {exc or type(exc).__name__}"
            ) from exc

    async def close(self) -> None:
        """Say QUIT if we can; always release the socket."""
        client, self._client = self._client, None
        if client is None:
            return
        if client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(min(self._settings.smtp_timeout, 10)):
                    await client.quit()
        client.close()


class Stored(Protocol):
    """What ``send_share`` needs of a queued row."""

    @property
    def recipient(self) -> str:
        """The address it goes to."""

    @property
    def raw(self) -> bytes:
        """The bytes of the message."""


RowT = TypeVar("RowT", bound=Stored)


class _Outage:
    """Logs an unreachable server once when it goes down and once when it is back."""

    def __init__(self) -> None:
        self.down_since: dict[str, datetime] = {}

    def down(self, server: str, now: datetime, error: SendError, give_up_hours: float) -> None:
        if server in self.down_since:
            return
        self.down_since[server] = now
        log.warning(
            "SMTP server %s is not available (%s); retrying after 1, 2, 4 … 60 minutes, "
            "giving up on a message %g hours after it was queued",
            server,
            error,
            give_up_hours,
            extra={"event": "smtp.down", "server": server},
        )

    def up(self, server: str, now: datetime) -> None:
        since = self.down_since.pop(server, None)
        if since is not None:
            log.info(
                "SMTP server %s is available again after %s",
                server,
                now - since,
                extra={"event": "smtp.up", "server": server},
            )


# One process, one outage state: a down server is logged once, not once per drain.
_OUTAGE = _Outage()


async def send_share(
    settings: Settings,
    share: Sequence[RowT],
    record: Callable[[RowT, SendError | None], Awaitable[None]],
    now: Callable[[], datetime],
    tokens: TokenSource | None = None,
) -> bool:
    """Send ``share`` in order over one connection; return whether the server could be reached."""

    async def rows() -> AsyncIterator[RowT]:
        for row in share:
            yield row

    return await send_stream(settings, rows(), record, now, tokens=tokens)


async def send_stream(
    settings: Settings,
    rows: AsyncIterator[RowT],
    record: Callable[[RowT, SendError | None], Awaitable[None]],
    now: Callable[[], datetime],
    *,
    on_unreachable: Callable[[], None] | None = None,
    on_data: Callable[[RowT], None] | None = None,
    tokens: TokenSource | None = None,
) -> bool:
    """Send ``rows`` in order over one connection (opened at the first row); False if unreachable.

    ``on_data(row)`` is called when the server accepted the envelope of ``row``,
    just before its DATA: from then on it may have the message.

    Every row gets exactly one ``record`` call. After a lost connection the
    session reconnects once; lost again before a message got through, or the
    server unreachable at the start, every further row is deferred for a later
    drain and ``on_unreachable`` tells the caller to stop handing out rows.
    """
    session = SmtpSession(settings, tokens)
    opened = False  # the first connection succeeded
    reachable = True
    failure: SendError | None = None  # once set, every further row is deferred with it
    losses = 0  # connections lost since the last message the server took
    try:
        async for row in rows:
            if failure is None and not session.usable:
                try:
                    if opened:
                        losses += 1
                        if losses > 1:
                            raise SendDeferred(f"connection to {session.server} lost again")
                    await session.open()
                except SendError as exc:
                    failure = exc
                    if not opened:
                        reachable = False
                        _OUTAGE.down(session.server, now(), exc, settings.send_give_up_hours)
                    if on_unreachable is not None:
                        on_unreachable()
                else:
                    if not opened:
                        opened = True
                        _OUTAGE.up(session.server, now())
            if failure is not None:
                await record(row, failure)
                continue
            try:
                hook = None if on_data is None else functools.partial(on_data, row)
                await session.send(settings.service_address, row.recipient, row.raw, hook)
            except SendError as exc:
                await record(row, exc)
            else:
                losses = 0
                await record(row, None)
        return reachable
    finally:
        await session.close()
