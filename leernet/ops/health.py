"""`leernet health`: is the service well? One line per problem, for people and monitoring.

Read from the database and the files beside it, never from the daemon itself, so
it answers also when the daemon hangs or is gone: a daemon holds the lock; the
mailbox was reached in the last 15 minutes; nothing due more than 15 minutes ago
is still waiting; nothing failed in the last day; the database (and the attempt
log beside a SQLite store) can be written.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from leernet.records import service as stored
from leernet.store import open_store, state
from leernet.store.engine import sqlite_path

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from leernet.settings import Settings

STALE = timedelta(minutes=15)  # IMAP contact and queued mail older than this is a problem
FAILED_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Health:
    """What ``leernet health`` found: the problems in words, and the facts behind them."""

    problems: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def well(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """The report as JSON for monitoring."""
        return {"healthy": self.well, **asdict(self)} | {"problems": list(self.problems)}


async def check(settings: Settings, now: datetime) -> Health:
    """Every check, against the configured database."""
    engine = await open_store(settings.database_url)
    try:
        async with engine.connect() as conn:
            return await _check(conn, settings, now)
    finally:
        await engine.dispose()


async def _check(conn: AsyncConnection, settings: Settings, now: datetime) -> Health:
    problems: list[str] = []
    facts: dict[str, Any] = {}
    running = await stored.daemon_running(conn, settings.database_url)
    facts["daemon_running"] = running
    if not running:
        problems.append("no leernet daemon is running on this database (nobody holds its lock)")
    known = await state.read(conn)
    contact = known.get(state.IMAP_CONTACT)
    facts["last_imap_contact"] = contact[1].isoformat() if contact else None
    if contact is None:
        problems.append("the mailbox was never reached (no IMAP contact recorded)")
    elif now - contact[1] > STALE:
        minutes = int((now - contact[1]).total_seconds() // 60)
        problems.append(f"the mailbox was last reached {minutes} minutes ago (IMAP)")
    overdue = await stored.overdue(conn, now - STALE)
    facts["overdue_messages"] = overdue
    if overdue:
        problems.append(f"{overdue} message(s) due more than 15 minutes ago are still waiting")
    failed = await stored.failed_since(conn, now - FAILED_WINDOW)
    facts["failed_last_day"] = failed
    if failed:
        problems.append(f"{failed} message(s) failed in the last day (see leernet status)")
    facts["queued"] = await stored.queued(conn)
    problems += _unwritable(settings.database_url)
    if not await stored.database_writable(conn):
        problems.append("the database is read-only")
    return Health(tuple(problems), facts)


def _unwritable(url: str) -> list[str]:
    path = sqlite_path(url)
    if path is None:
        return []
    out = []
    for what, file in (
        ("the database file", path),
        ("the attempt log", path.with_name(path.name + ".attempts")),
    ):
        target = file if file.exists() else file.parent
        if not os.access(target, os.W_OK):
            out.append(f"{what} cannot be written: {target}")
    return out


def lines(health: Health) -> list[str]:
    """What ``leernet health`` prints: one line per problem, or one that says all is well."""
    if health.well:
        return [f"leernet is well: {health.facts.get('queued', 0)} message(s) waiting"]
    return [f"problem: {p}" for p in health.problems]
