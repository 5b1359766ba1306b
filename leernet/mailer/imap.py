"""One IMAP connection to the service mailbox: the aioimaplib edge of the inbox.

This is the only module that imports aioimaplib (STYLE rule 6). Every library
error, refused connection, timeout, lost connection or NO/BAD answer becomes a
``MailboxError`` here; after one the session is spent and the caller reconnects.
aioimaplib does not fail a pending command when the connection drops, so every
command races the connection-lost signal and runs under ``imap_timeout``.

Its responses are read by the pure parsers in ``imap_responses``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import TYPE_CHECKING, Any, TypeVar

import aioimaplib

from leernet.errors import MailboxError, MailboxLoginRefused, TokenError
from leernet.mailer.imap_responses import (
    EXISTS,
    Fetched,
    parse_delimiter,
    parse_fetch,
    parse_search,
    parse_uidvalidity,
    uid_set,
)
from leernet.mailer.oauth import TokenSource, oauthbearer_response, xoauth2_response
from leernet.settings import Auth, Security, Settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

T = TypeVar("T")


def _temporary(response: Any) -> bool:
    """RFC 5530 [UNAVAILABLE]: the server could not check our credentials just now."""
    return any(b"[UNAVAILABLE]" in bytes(line) for line in response.lines[-1:])


def _token_failed(exc: TokenError) -> MailboxError:
    if exc.refused:
        return MailboxLoginRefused(f"IMAP AUTHENTICATE refused: no OAuth2 token: {exc}")
    return MailboxError(f"IMAP: no OAuth2 token: {exc}")


def quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return str(aioimaplib.quoted(name))


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """Notes every EXISTS, including those aioimaplib drops while an async command runs."""

    exists_seen = False
    sasl_abort: bytes | None = None  # our answer to a SASL challenge while AUTHENTICATE runs

    def _untagged_response(self, line: bytes) -> Any:
        if EXISTS.match(line):
            self.exists_seen = True
        return super()._untagged_response(line)

    def _continuation(self, line: bytes) -> None:
        pending = self.pending_sync_command
        if pending is not None and pending.name == "AUTHENTICATE" and self.sasl_abort is not None:
            # A refused token gets a challenge carrying the error (RFC 7628 3.2.2, Google's
            # XOAUTH2 likewise); the client must answer it to get the tagged NO. aioimaplib
            # would wait for ever.
            self.transport.write(self.sasl_abort + b"\r\n")
            return
        super()._continuation(line)


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]
    def create_client(
        self, host: str, port: int, loop: Any, conn_lost_cb: Any = None, ssl_context: Any = None
    ) -> None:
        loop = loop or asyncio.get_running_loop()
        self.protocol = _Protocol(loop, conn_lost_cb)
        self._client_task = loop.create_task(
            loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


class ImapSession:
    """One logged-in connection; any ``MailboxError`` spends it (call ``close``)."""

    def __init__(self, settings: Settings, tokens: TokenSource | None = None) -> None:
        self._settings = settings
        self._tokens = tokens
        self._timeout = settings.imap_timeout
        self._lost = asyncio.Event()
        tls = ssl.create_default_context() if settings.imap_security is Security.TLS else None
        self._client = _Client(
            host=settings.imap_host,
            port=settings.imap_port,
            timeout=self._timeout,
            conn_lost_cb=lambda _exc: self._lost.set(),
            ssl_context=tls,
        )
        self.delimiter = ""
        self.broken = False  # lost, timed out or confused: only closing is left

    @classmethod
    async def open(cls, settings: Settings, tokens: TokenSource | None = None) -> ImapSession:
        """Connect, secure, authenticate and learn the capabilities and hierarchy delimiter.

        With ``imap_auth=xoauth2`` the token comes from ``tokens`` (one source shared by
        the process; without it, one is made from ``settings`` for this connection).
        A refused login raises ``MailboxLoginRefused``; anything else ``MailboxError``.
        """
        if tokens is None and settings.imap_auth is Auth.XOAUTH2:
            try:
                tokens = TokenSource.from_settings(settings)
            except TokenError as exc:
                raise _token_failed(exc) from None
        session = cls(settings, tokens)
        try:
            await session._guard(session._client.wait_hello_from_server(), "connect")
            session._keepalive()
            if settings.imap_security is Security.STARTTLS:
                await session._starttls()
            await session._authenticate()
            await session._guard(session._proto.capability(), "CAPABILITY")
            listed = await session._cmd(session._client.list('""', '""'), "LIST")
            session.delimiter = parse_delimiter(listed.lines)
        except BaseException:
            session.close()
            raise
        return session

    @property
    def _proto(self) -> Any:
        return self._client.protocol

    def has(self, capability: str) -> bool:
        """Whether the server announced ``capability``."""
        return bool(self._client.has_capability(capability))

    async def _guard(self, aw: Awaitable[T], what: str) -> T:
        """Await one library call, bounded by the timeout and by the connection's life."""
        task = asyncio.ensure_future(aw)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            self.broken = True
            raise MailboxError(f"IMAP {what}: no answer within {self._timeout:g} s") from None
        finally:
            lost.cancel()
            pending = not task.done()
            if pending:
                task.cancel()
        if pending:
            self.broken = True
            raise MailboxError(f"IMAP {what}: the connection was lost")
        try:
            return task.result()
        except (aioimaplib.AioImapException, OSError, TimeoutError, ssl.SSLError) as exc:
            self.broken = True
            raise MailboxError(f"IMAP {what}: {exc!r}") from exc

    async def _cmd(self, aw: Awaitable[Any], what: str) -> Any:
        response = await self._guard(aw, what)
        if response.result != "OK":
            text = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
            raise MailboxError(f"IMAP {what} failed: {response.result} {text}")
        return response

    def _keepalive(self) -> None:
        # A half-open connection (NAT timeout, server gone) is otherwise invisible during IDLE.
        sock = self._proto.transport.get_extra_info("socket")
        if sock is None:
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)

    async def _starttls(self) -> None:
        # RFC 3501 6.2.1; aioimaplib 2.0 has no STARTTLS call of its own.
        proto = self._proto
        command = aioimaplib.Command("STARTTLS", proto.new_tag(), loop=proto.loop)
        await self._cmd(proto.execute(command), "STARTTLS")
        if proto.incomplete_line:
            # Bytes after the OK and before the handshake came in clear text: whoever sent
            # them could be a man in the middle (the CVE-2011-0411 kind). Refuse.
            msg = "the server sent data after its OK to STARTTLS, before TLS began"
            raise MailboxError(msg)
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context()
        proto.transport = await self._guard(
            loop.start_tls(
                proto.transport, proto, context, server_hostname=self._settings.imap_host
            ),
            "TLS handshake",
        )

    async def _authenticate(self) -> None:
        user = self._settings.imap_user
        if self._tokens is None or self._settings.imap_auth is not Auth.XOAUTH2:
            secret = self._settings.imap_password.get_secret_value()
            response = await self._guard(self._client.login(quote(user), secret), "LOGIN")
            self._refused_unless_ok(response, "LOGIN")
            return
        tokens = self._tokens
        await self._guard(self._proto.capability(), "CAPABILITY")
        # Exchange Online and Gmail offer XOAUTH2; a server offering only the standard
        # OAUTHBEARER (RFC 7628) gets that.
        bearer = self.has("AUTH=OAUTHBEARER") and not self.has("AUTH=XOAUTH2")
        mechanism = "OAUTHBEARER" if bearer else "XOAUTH2"
        # A token refused although not due for renewal (revoked, clock skew) is renewed
        # once, on the same connection; a second refusal is for a person to look at.
        for attempt in range(2):
            try:
                token = await tokens.token()
            except TokenError as exc:
                raise _token_failed(exc) from None
            s = self._settings
            if bearer:
                initial = oauthbearer_response(user, token, s.imap_host, s.imap_port)
            else:
                initial = xoauth2_response(user, token)
            response = await self._guard(self._sasl(mechanism, initial), "AUTHENTICATE")
            if response.result == "OK":
                self._proto.state = aioimaplib.AUTH
                return
            tokens.invalidate(token)
            if attempt or not tokens.renewable or _temporary(response):
                self._refused_unless_ok(response, f"AUTHENTICATE {mechanism}")

    async def _sasl(self, mechanism: str, initial: str) -> Any:
        """AUTHENTICATE with an initial response (RFC 4959 SASL-IR), answering a challenge."""
        proto = self._proto
        # RFC 7628 3.2.3: OAUTHBEARER's abort is a single ^A; XOAUTH2's an empty line.
        proto.sasl_abort = b"AQ==" if mechanism == "OAUTHBEARER" else b""
        command = aioimaplib.Command(
            "AUTHENTICATE", proto.new_tag(), mechanism, initial, loop=proto.loop
        )
        try:
            return await proto.execute(command, scrub=initial)
        finally:
            proto.sasl_abort = None

    def _refused_unless_ok(self, response: Any, what: str) -> None:
        if response.result == "OK":
            return
        text = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
        msg = f"IMAP {what} failed: {response.result} {text}"
        if _temporary(response):
            raise MailboxError(msg)
        raise MailboxLoginRefused(msg)

    async def ensure_folder(self, name: str) -> None:
        """Create folder ``name`` unless the server has it."""
        listed = await self._cmd(self._client.list('""', quote(name)), "LIST")
        if len(listed.lines) > 1:
            return
        await self._cmd(self._client.create(quote(name)), f"CREATE {name}")

    async def select(self, folder: str) -> int:
        """SELECT (never EXAMINE: aioimaplib then refuses FETCH) and return UIDVALIDITY."""
        response = await self._cmd(self._client.select(quote(folder)), f"SELECT {folder}")
        return parse_uidvalidity(response.lines)

    async def search_all(self) -> list[int]:
        """The UIDs of every mail in the selected folder."""
        self._proto.exists_seen = False
        response = await self._cmd(self._client.uid_search("ALL", charset=None), "UID SEARCH")
        return parse_search(response.lines)

    async def fetch(self, uids: Sequence[int], items: str) -> list[Fetched]:
        """FETCH ``items`` of these UIDs."""
        response = await self._cmd(self._client.uid("fetch", uid_set(uids), items), "UID FETCH")
        return parse_fetch(response.lines)

    async def move(self, uids: Sequence[int], folder: str) -> None:
        r"""Move these UIDs to ``folder`` (UID MOVE, or COPY, \Deleted and EXPUNGE)."""
        where, target = uid_set(uids), quote(folder)
        if self.has("MOVE"):
            await self._cmd(self._client.uid("move", where, target), "UID MOVE")
            return
        # RFC 6851 3.3: without MOVE, COPY + \Deleted + EXPUNGE does the same in three steps.
        await self._cmd(self._client.uid("copy", where, target), "UID COPY")
        flags = self._client.uid("store", where, "+FLAGS.SILENT", r"(\Deleted)")
        await self._cmd(flags, "UID STORE")
        if self.has("UIDPLUS"):  # RFC 4315 2.1: expunge only our own messages
            await self._cmd(self._client.uid("expunge", where), "UID EXPUNGE")
        else:
            await self._cmd(self._client.expunge(), "EXPUNGE")

    async def noop(self) -> None:
        """A NOOP: the server says what changed."""
        await self._cmd(self._client.noop(), "NOOP")

    async def idle(self, seconds: float, stop: asyncio.Event) -> None:
        """Wait in IDLE (RFC 2177) until new mail, ``seconds`` or ``stop``; then end IDLE."""
        if self._proto.exists_seen or stop.is_set():
            return  # mail arrived after the last search: no need to wait
        queue: asyncio.Queue[Any] = self._proto.idle_queue
        while not queue.empty():
            queue.get_nowait()
        idle = await self._guard(self._client.idle_start(timeout=seconds + 60), "IDLE")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        # aioimaplib may hand one push over as several items (EXISTS, RECENT): act on EXISTS.
        while not self._proto.exists_seen and not stop.is_set() and loop.time() < deadline:
            waits = (queue.get(), self._lost.wait(), stop.wait())
            waiters = [asyncio.ensure_future(w) for w in waits]
            try:
                await asyncio.wait(
                    waiters, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if self._lost.is_set():
                raise MailboxError("IMAP IDLE: the connection was lost")
        self._client.idle_done()
        await self._cmd(idle, "IDLE DONE")

    async def logout(self) -> None:
        """Say goodbye if the connection still works; close it in any case."""
        try:
            if not self._lost.is_set() and self._client.get_state() != "STARTED":
                await asyncio.wait_for(self._client.logout(), min(self._timeout, 5))
        except (aioimaplib.AioImapException, OSError, TimeoutError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Drop the connection without LOGOUT."""
        transport = self._proto.transport
        if transport is not None:
            transport.close()
        self._client._client_task.cancel()
