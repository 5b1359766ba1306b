"""Pytest fixtures for tests that send mail; tests/conftest.py imports them.

``smtp_server``: a started ``SmtpTestServer`` (a real aiosmtpd on 127.0.0.1:0),
stopped after the test. ``smtp_settings``: ``Settings`` that send to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.smtpserver import SmtpTestServer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from leernet.settings import Settings


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def smtp_settings(smtp_server: SmtpTestServer) -> Settings:
    return smtp_server.settings()
