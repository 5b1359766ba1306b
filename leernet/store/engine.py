"""Opening the database: engine, SQLite pragmas, numbered migrations, the daemon lock.

SQLite is the embedded default (WAL, ``synchronous=FULL`` so a commit survives
a power cut); a PostgreSQL URL (``postgresql+asyncpg://``) works the same way.
SQLite-only statements stay in this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, event, inspect, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from leernet.errors import StoreError
from leernet.store.inloop import connect_for
from leernet.store.private import create_file
from leernet.store.schema import (
    SCHEMA_VERSION,
    metadata,
    organiser_requests,
    outbox,
    outbox_body,
    rollcall_orders,
    schema_version,
    service_state,
    summary_previews,
)

Migration = Callable[[AsyncConnection], Awaitable[None]]


async def _v1(conn: AsyncConnection) -> None:
    # A new database gets the whole current schema at once; the later steps below
    # are written so that they are no-ops on it (IF NOT EXISTS).
    await conn.run_sync(metadata.create_all)


async def _v2(conn: AsyncConnection) -> None:
    # The confirmation rate limit counts recent mail to one address.
    await conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_outbox_recipient ON outbox (recipient, created_at)")
    )


def _outbox_has_raw(conn: Connection) -> bool:
    return any(c["name"] == "raw" for c in inspect(conn).get_columns(outbox.name))


async def _v3(conn: AsyncConnection) -> None:
    # The bytes move to their own table: SQLite rewrites a whole row on each UPDATE,
    # and the outbox row changes state two or three times (queued, sending, sent).
    # A database made by _v1 already has the current schema: nothing to do.
    if not await conn.run_sync(_outbox_has_raw):
        return
    await conn.run_sync(lambda c: outbox_body.create(c, checkfirst=True))
    await conn.execute(text("INSERT INTO outbox_body (outbox_id, raw) SELECT id, raw FROM outbox"))
    # SQLite >= 3.35 and PostgreSQL both drop a column in place.
    await conn.execute(text("ALTER TABLE outbox DROP COLUMN raw"))


async def _v4(conn: AsyncConnection) -> None:
    # Manager summaries are previewed to the participant, who can hold them back.
    await conn.run_sync(lambda c: summary_previews.create(c, checkfirst=True))


async def _v5(conn: AsyncConnection) -> None:
    # What `leernet health` reads: the last IMAP contact and the daemon's heartbeat; and the
    # participants' numbering of each digest, for the organiser's roll call.
    await conn.run_sync(lambda c: service_state.create(c, checkfirst=True))
    await conn.run_sync(lambda c: rollcall_orders.create(c, checkfirst=True))
    # Networks asked for by mail, previewed to their organiser until confirmed.
    await conn.run_sync(lambda c: organiser_requests.create(c, checkfirst=True))


def _outbox_has_about(conn: Connection) -> bool:
    return any(c["name"] == "about_inbox_id" for c in inspect(conn).get_columns(outbox.name))


async def _v6(conn: AsyncConnection) -> None:
    # Which incoming mail a notice is about: erasing a participant blanks the notices that
    # quote their mail by this column instead of by matching message keys.
    if not await conn.run_sync(_outbox_has_about):
        await conn.execute(text("ALTER TABLE outbox ADD COLUMN about_inbox_id INTEGER"))
    await conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_outbox_about ON outbox (about_inbox_id)")
    )
    # Notices queued before v6 said it only in their key ("notice/<topic>/<inbox id>/<to>"):
    # read once here, in the one place that still knows that old shape.
    rows = await conn.execute(
        select(outbox.c.id, outbox.c.key).where(
            outbox.c.kind == "notice", outbox.c.about_inbox_id.is_(None)
        )
    )
    about = []
    for row_id, key in rows:
        parts = key.split("/")
        if len(parts) >= _LEGACY_PARTS and parts[1] in _LEGACY_TOPICS and parts[2].isdigit():
            about.append({"row_id": row_id, "about": int(parts[2])})
    if about:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id == bindparam("row_id"))
            .values(about_inbox_id=bindparam("about")),
            about,
        )


_LEGACY_PARTS = 4
_LEGACY_TOPICS = ("message", "meeting", "attention")

# Version -> the step that brings the database from version-1 to it. Append, never edit.
MIGRATIONS: dict[int, Migration] = {1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


# PostgreSQL closes the connection of a daemon whose machine or network is gone after about
# idle + interval x count seconds (or tcp_user_timeout with data unacknowledged), which
# releases its lock for the standby (``store.lock``): well inside the 30 s takeover.
KEEPALIVE = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",  # milliseconds
}


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (SQLite gets its pragmas and the in-loop driver)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.get_driver_name() == "asyncpg":
            return create_async_engine(url, connect_args={"server_settings": KEEPALIVE})
        return create_async_engine(url)
    # SQLite calls run on the loop's thread (see ``inloop``): no thread hop per call.
    engine = create_async_engine(url, async_creator=connect_for(parsed))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def open_store(url: str) -> AsyncEngine:
    """Open the database and bring its schema up to date."""
    path = sqlite_path(url)
    if path is not None:
        # SQLite creates its file 0644 under umask 022, and its -wal/-shm files take the
        # database's mode: made 0600 first, none of them is readable by other users.
        with contextlib.suppress(FileNotFoundError):  # no such folder: SQLite says so below
            create_file(path)
    engine = create_engine(url)
    try:
        await migrate(engine)
    except OperationalError as exc:
        await engine.dispose()
        raise StoreError(f"cannot open the database {safe_url(url)}: {exc.orig}") from exc
    except BaseException:
        await engine.dispose()
        raise
    return engine


async def migrate(engine: AsyncEngine) -> int:
    """Apply the migrations the database lacks; return the version it is at now."""
    async with engine.begin() as conn:
        has_table = await conn.run_sync(lambda c: c.dialect.has_table(c, schema_version.name))
        current = 0
        if has_table:
            current = (await conn.execute(select(schema_version.c.version))).scalar() or 0
        if current > SCHEMA_VERSION:
            msg = (
                f"the database has schema version {current}, newer than this leernet "
                f"({SCHEMA_VERSION}); upgrade leernet"
            )
            raise StoreError(msg)
        for version in range(current + 1, SCHEMA_VERSION + 1):
            await MIGRATIONS[version](conn)
            await conn.execute(schema_version.delete())
            await conn.execute(schema_version.insert().values(version=version))
        return SCHEMA_VERSION


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Translate the driver's "database is locked" or "disk is full" into one clear StoreError."""
    try:
        yield
    except OperationalError as exc:
        raise StoreError(
            f"{what}: the database cannot be used ({exc.orig}); nothing was lost"
        ) from exc
    except BaseExceptionGroup as group:  # from a TaskGroup
        found = group.subgroup(OperationalError)
        if found is None:
            raise
        first = found.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        orig = getattr(first, "orig", first)
        raise StoreError(
            f"{what}: the database cannot be used ({orig}); nothing was lost"
        ) from group


def safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL; None for other databases and for ``:memory:``."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)
