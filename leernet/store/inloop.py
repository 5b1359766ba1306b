"""SQLite on the event loop's own thread: the driver behind ``sqlite+aiosqlite`` URLs.

SQLAlchemy's aiosqlite dialect talks to SQLite through aiosqlite, which runs
every call (cursor, execute, fetchall, close, commit) in a helper thread and
wakes the event loop for each result: about seven loop round trips per
statement. Measured on the ingest benchmark that was most of the time a reply
took (docs/performance.md). SQLite itself answers our statements in
microseconds, so this module gives the same dialect a connection whose
"asynchronous" methods run the ``sqlite3`` call at once and return.

The price, and why it is safe here:

- A statement blocks the loop while it runs. Ours are indexed and small.
  COMMIT, the one call that waits for the disk (``synchronous=FULL``), runs
  in a worker thread, so sending and reading go on during the fsync.
- While another *process* holds the write lock (``leernet update`` during
  ``leernet run``), SQLite's busy timeout waits with the loop blocked. Those
  transactions are short.
- Two transactions of this process cannot wait for each other for long: a
  transaction that does not await the network or a timer runs to its COMMIT
  without letting another task in, and a task that then finds the lock held
  waits only for that commit's thread. Leernet keeps network I/O out of its
  transactions (the outbox commits before it sends, the inbox after it
  fetched). ``tests/test_store_inloop.py`` runs forty writers at once.

PostgreSQL keeps asyncpg, which is asynchronous all the way down.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Self

from sqlalchemy.engine import URL

__all__ = ["connect_for"]


class _Cursor:
    """The subset of aiosqlite's Cursor that SQLAlchemy's adapter uses."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> _Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> Sequence[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_: Any) -> None:
        return None


class _Queue:
    """Stands in for aiosqlite's request queue: the dialect's isolation-level setter uses it."""

    __slots__ = ()

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class Connection:
    """The subset of aiosqlite's Connection that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._tx = _Queue()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> _Cursor:
        return _Cursor(self._live().cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        return _Cursor(self._live().execute(sql, parameters))

    async def commit(self) -> None:
        conn = self._live()
        if conn.in_transaction:
            # The one call that waits for the disk (fsync, ``synchronous=FULL``): in a worker
            # thread, so the loop sends and reads meanwhile. One hop per transaction.
            await asyncio.to_thread(conn.commit)

    async def rollback(self) -> None:
        self._live().rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._live().create_function(*args, **kw)

    @property
    def in_transaction(self) -> bool:
        return self._live().in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._live().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._live().isolation_level = value  # type: ignore[assignment]


def connect_for(url: URL) -> Callable[[], Any]:
    """The ``async_creator`` for an SQLite URL: opens the file (or memory) it names."""
    database = url.database or ":memory:"
    uri = str(url.query.get("uri", "")).lower() in ("1", "true")

    async def connect() -> Connection:
        # check_same_thread off: the pool may close a connection from the garbage collector.
        conn = sqlite3.connect(database, uri=uri, check_same_thread=False)
        return Connection(conn)

    return connect
