"""An in-process IMAP server (pymap, in-memory ``dict`` backend) for fast tests.

pymap speaks real IMAP over a loopback socket (IDLE, MOVE, UIDPLUS), so the
inbox is tested against a server, not a mock, without Dovecot or root. Its
memory grows with the mailbox (MAIL-NOTES gotcha 9): keep tests small.
One server per test: every ``pymap_server()`` starts empty, with user
``netwerk`` and password ``secret``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import DictBackend
from pymap.imap import IMAPServer

from tests.dovecot import PASSWORD, ImapAccount

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def pymap_server(
    user: str = "netwerk", password: str = PASSWORD
) -> AsyncIterator[ImapAccount]:
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
    # secure_auth=False: LOGIN without TLS, fine on loopback; no DNSBL lookups, no login delay.
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
        port = int(server.sockets[0].getsockname()[1])
        try:
            yield ImapAccount("127.0.0.1", port, user, password)
        finally:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2)


@pytest.fixture
async def pymap() -> AsyncIterator[ImapAccount]:
    """A fresh in-process pymap server; the account ``netwerk``/``secret`` on it."""
    async with pymap_server() as account:
        yield account
