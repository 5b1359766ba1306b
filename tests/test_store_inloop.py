"""SQLite on the event loop's thread (``leernet.store.inloop``): concurrent tasks, errors, commits."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from leernet.store import open_store
from leernet.store.schema import imap_state


def state(mailbox: str) -> dict[str, object]:
    return {"mailbox": mailbox, "uidvalidity": 1, "last_uid": 0}


class TestInLoopSqlite:
    async def test_many_tasks_writing_at_once_all_commit(self, tmp_path: Path) -> None:
        """Forty tasks that each write in their own transaction, interleaved at every commit, all land: no task waits forever on another's lock."""
        engine = await open_store(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
        try:

            async def writer(i: int) -> None:
                for j in range(5):
                    async with engine.begin() as conn:
                        await conn.execute(insert(imap_state).values(state(f"box{i}-{j}")))
                    await asyncio.sleep(0)

            async with asyncio.timeout(30):
                await asyncio.gather(*(writer(i) for i in range(40)))
            async with engine.connect() as conn:
                count = (await conn.execute(select(func.count()).select_from(imap_state))).scalar()
            assert count == 200
        finally:
            await engine.dispose()

    async def test_a_failed_statement_rolls_back_its_transaction_only(self, tmp_path: Path) -> None:
        """A constraint error surfaces as SQLAlchemy's IntegrityError and undoes its own transaction, not the committed ones."""
        engine = await open_store(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
        try:
            async with engine.begin() as conn:
                await conn.execute(insert(imap_state).values(state("kept")))

            async def both() -> None:
                async with engine.begin() as conn:
                    await conn.execute(insert(imap_state).values(state("gone")))
                    await conn.execute(insert(imap_state).values(state("kept")))

            with pytest.raises(IntegrityError):
                await both()
            async with engine.connect() as conn:
                boxes = (await conn.execute(select(imap_state.c.mailbox))).scalars().all()
            assert boxes == ["kept"]
        finally:
            await engine.dispose()

    async def test_the_loop_runs_while_a_commit_waits_for_the_disk(self, tmp_path: Path) -> None:
        """A commit (the fsync) runs outside the loop's thread, so other tasks go on meanwhile; statements run on it."""
        engine = await open_store(f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
        loop_thread = threading.get_ident()
        seen: set[int] = set()
        try:
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                sqlite_conn = raw.driver_connection._conn  # type: ignore[union-attr]
                sqlite_conn.set_trace_callback(lambda _sql: seen.add(threading.get_ident()))
                await conn.execute(insert(imap_state).values(state("x")))
                await conn.commit()
                sqlite_conn.set_trace_callback(None)
            assert loop_thread in seen  # the INSERT: no thread hop
            assert len(seen) == 2  # the COMMIT: in a worker thread
        finally:
            await engine.dispose()
