"""The demo's embedded mail servers: an SMTP server that delivers, and pymap for IMAP.

The SMTP server plays every other mail system: mail for the service mailbox
(any plus-address) is APPENDed to the IMAP inbox, mail for anyone else lands in
their in-memory mailbox, where the simulated people read it. Both listen on
free loopback ports and stop with the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Self

import aioimaplib
from aiosmtpd.smtp import SMTP, Envelope, Session

DEMO_USER, DEMO_PASSWORD = "netwerk", "demo-wachtwoord"


@dataclass
class Delivered:
    """One message as it crossed the demo's SMTP server."""

    sender: str
    recipient: str
    data: bytes

    @property
    def subject(self) -> str:
        """The message's subject, decoded."""
        head = BytesHeaderParser(policy=compat32).parsebytes(self.data)
        return str(head.get("Subject", ""))


@dataclass
class MailWorld:
    """Where mail ends up: the service's IMAP inbox, or a person's in-memory mailbox."""

    service_address: str
    append: Callable[[bytes], Awaitable[None]]
    bounce_addresses: set[str] = field(default_factory=set)
    on_bounce: Callable[[Delivered], Awaitable[None]] | None = None
    mailboxes: dict[str, list[bytes]] = field(default_factory=dict)
    transcript: list[Delivered] = field(default_factory=list)

    def is_service(self, address: str) -> bool:
        """Whether ``address`` is the service's own (plus-addresses included)."""
        local, _, domain = self.service_address.lower().rpartition("@")
        a_local, _, a_domain = address.lower().rpartition("@")
        return a_domain == domain and (a_local == local or a_local.startswith(local + "+"))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802, ARG002 - aiosmtpd's hook
        """Deliver a message: to the service's mailbox, or into the world's sent mail."""
        data = envelope.original_content or b""
        for rcpt in envelope.rcpt_tos:
            item = Delivered(envelope.mail_from or "", rcpt.lower(), data)
            self.transcript.append(item)
            if self.is_service(rcpt):
                await self.append(data)
            elif rcpt.lower() in self.bounce_addresses and self.on_bounce is not None:
                await self.on_bounce(item)
            else:
                self.mailboxes.setdefault(rcpt.lower(), []).append(data)
        return "250 OK delivered"


@contextlib.asynccontextmanager
async def _listening(server: asyncio.Server) -> AsyncIterator[int]:
    """The port ``server`` listens on; closed (within 2 s) when the block ends."""
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)


@contextlib.asynccontextmanager
async def smtp_server(world: MailWorld) -> AsyncIterator[int]:
    """An SMTP server on a free port for the demo's world; yields the port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(world, hostname="mx.demo.invalid", ident="leernet demo MTA"),
        "127.0.0.1",
        0,
    )
    async with _listening(server) as port:
        yield port


@contextlib.asynccontextmanager
async def imap_server(user: str = DEMO_USER, password: str = DEMO_PASSWORD) -> AsyncIterator[int]:
    """Pymap with its in-memory backend, one account (MAIL-NOTES: fine for a demo, not for load)."""
    from proxyprotocol.reader import ProxyProtocolReader  # noqa: PLC0415 - only the demo needs pymap
    from pymap.backend.dict import DictBackend  # noqa: PLC0415
    from pymap.imap import IMAPServer  # noqa: PLC0415

    args = argparse.Namespace(
        host="127.0.0.1",
        port=0,
        debug=False,
        cert=None,
        key=None,
        tls=False,
        demo_data=False,
        demo_user=user,
        demo_password=password,
        passlib_cfg=None,
        inherited_sockets=None,
        proxy_protocol=None,
    )
    backend, config = await DictBackend.init(
        args, secure_auth=False, reject_dnsbl=False, invalid_user_sleep=0.0
    )
    config.apply_context()
    async with contextlib.AsyncExitStack() as stack:
        await backend.start(stack)
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(backend.login, config)
        )
        server = await asyncio.start_server(callback, "127.0.0.1", 0)
        async with _listening(server) as port:
            yield port


class Appender:
    """One IMAP connection that APPENDs delivered mail to the inbox (as an MTA's LDA would)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client: Any = None

    async def __aenter__(self) -> Self:
        self.client = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=10)
        await self.client.wait_hello_from_server()
        await self.client.login(DEMO_USER, DEMO_PASSWORD)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.logout(), 2)

    async def __call__(self, data: bytes) -> None:
        """Append a message to the service's INBOX."""
        response = await asyncio.wait_for(self.client.append(data, mailbox="INBOX"), 10)
        if response.result != "OK":
            msg = f"APPEND failed: {response.result} {response.lines}"
            raise RuntimeError(msg)
