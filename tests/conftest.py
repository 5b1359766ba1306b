"""Shared fixtures: a real aiosmtpd server, Dovecot (or pymap) for IMAP, a SQLite store."""

from tests.conftest_smtp import smtp_server, smtp_settings
from tests.dovecot import dovecot, dovecot_server
from tests.imapserver import pymap
from tests.postgres import postgres_url

__all__ = ["dovecot", "dovecot_server", "postgres_url", "pymap", "smtp_server", "smtp_settings"]
