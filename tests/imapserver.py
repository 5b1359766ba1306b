"""An in-process IMAP server (pymap, in-memory ``dict`` backend) for fast tests.

pymap speaks real IMAP over a loopback socket (IDLE, MOVE, UIDPLUS), so the
inbox is tested against a server, not a mock, without Dovecot or root. Its
memory grows with the mailbox (MAIL-NOTES gotcha 9): keep tests small.
One server per test: every ``pymap_server()`` starts empty, with user
``netwerk`` and password ``secret``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from leernet.demo.servers import imap_server
from tests.dovecot import PASSWORD, ImapAccount

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def pymap_server(
    user: str = "netwerk", password: str = PASSWORD
) -> AsyncIterator[ImapAccount]:
    async with imap_server(user, password) as port:
        yield ImapAccount("127.0.0.1", port, user, password)


@pytest.fixture
async def pymap() -> AsyncIterator[ImapAccount]:
    """A fresh in-process pymap server; the account ``netwerk``/``secret`` on it."""
    async with pymap_server() as account:
        yield account
