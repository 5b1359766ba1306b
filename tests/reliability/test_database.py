"""Database faults: locked, full, a second daemon. Nothing is sent without its row."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from leernet.daemon import Service
from leernet.errors import StoreError
from leernet.store import schema as t
from leernet.store.engine import create_engine
from tests.dovecot import ImapAccount, append, uids
from tests.reliability.harness import (
    Sink,
    daemon_env,
    network_toml,
    people,
    run_cli,
    settings_for,
    spawn,
    start_network,
    stop,
    wait_until,
)
from tests.reliability.service import (
    answers_to,
    evaluation_requests,
    outbox_rows,
    running_service,
)
from tests.smtpserver import SmtpTestServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine


@contextlib.asynccontextmanager
async def engine_with(url: str, *pragmas: str) -> AsyncIterator[AsyncEngine]:
    """Leernet's engine, plus pragmas run after its own on every connection."""
    engine = create_engine(url)

    def extra(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        for pragma in pragmas:
            cur.execute(pragma)
        cur.close()

    event.listen(engine.sync_engine, "connect", extra)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.contextmanager
def locked(db: Path) -> Any:
    """Another process holds SQLite's write lock (BEGIN EXCLUSIVE)."""
    conn = sqlite3.connect(db, timeout=1, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def _locked_send(tmp: Path) -> tuple[BaseException | None, int, list[Any], int]:
    with SmtpTestServer() as smtp:
        async with (
            running_service(tmp, smtp_port=smtp.port) as (_, clock, s),
            engine_with(s.database_url, "PRAGMA busy_timeout=200") as engine,
        ):
            blocked = Service(engine, s, clock)
            error: BaseException | None = None
            with locked(tmp / "leernet.db"):
                try:
                    await blocked.send_once()
                except Exception as exc:
                    error = exc
            during = len(smtp.received)
            await blocked.send_once()
            rows = await outbox_rows(engine)
    return error, during, rows, len(smtp.received)


class TestLockedDatabase:
    async def test_nothing_is_sent_while_the_database_is_locked(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """With the database locked by another process nothing is sent; once free, everything is sent once."""
        error, during, rows, after = await _locked_send(tmp_path)
        figure.append(
            f"database locked: {during} sent while locked, error {type(error).__name__}: "
            f"{str(error).splitlines()[0] if error else '-'}; afterwards {after}/{len(rows)} sent"
        )
        assert during == 0
        assert error is not None
        assert all(r.state == "sent" for r in rows)
        assert after == len(rows)

    async def test_a_locked_database_is_a_clear_store_error(self, tmp_path: Path) -> None:
        """A locked database is reported as a StoreError (one clear line), not a traceback."""
        error, *_ = await _locked_send(tmp_path)
        assert isinstance(error, StoreError)


async def _full_inbox(tmp: Path, account: ImapAccount) -> dict[str, Any]:
    imap = {
        "imap_port": account.port,
        "imap_user": account.user,
        "imap_password": account.password,
        "imap_timeout": 5.0,
    }
    with SmtpTestServer() as smtp:
        async with running_service(tmp, n=2, smtp_port=smtp.port, **imap) as (svc, clock, s):
            await svc.send_once()
            requests = await evaluation_requests(svc, clock)
            before = len(smtp.received)
            await append(account, answers_to(requests[0], 1))
            async with svc.engine.connect() as conn:
                pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
            async with engine_with(s.database_url, f"PRAGMA max_page_count={pages}") as engine:
                await _fill(engine)
                full = Service(engine, s, clock)
                error: BaseException | None = None
                try:
                    await full.inbox.run_once()
                except Exception as exc:
                    error = exc
                await full.send_once()
                async with engine.connect() as conn:
                    evaluations = (
                        await conn.execute(select(func.count()).select_from(t.evaluations))
                    ).scalar_one()
            left = await uids(account)
            sent_while_full = len(smtp.received) - before
            result = await svc.inbox.run_once()
            await svc.send_once()
            confirmations = [
                r for r in await outbox_rows(svc.engine, kind="confirmation") if r.state == "sent"
            ]
    return {
        "error": error,
        "evaluations": evaluations,
        "left": left,
        "sent_while_full": sent_while_full,
        "result": result,
        "confirmations": len(confirmations),
    }


async def _fill(engine: AsyncEngine) -> None:
    """Use up the free pages too, so the next row that needs space finds none."""
    with contextlib.suppress(OperationalError):
        async with engine.begin() as conn:
            await conn.exec_driver_sql("CREATE TABLE filler (b BLOB)")
    for _ in range(10_000):
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql("INSERT INTO filler VALUES (randomblob(1000))")
        except OperationalError:
            return
    msg = "the database never filled up"
    raise AssertionError(msg)


class TestDiskFull:
    async def test_a_full_disk_loses_nothing_and_sends_nothing(
        self, tmp_path: Path, pymap: ImapAccount, figure: list[str]
    ) -> None:
        """With the database full, an answer stays in the mailbox and nothing is sent; with space again it is recorded and confirmed once."""
        r = await _full_inbox(tmp_path, pymap)
        error = r["error"]
        figure.append(
            f"disk full (max_page_count): error {type(error).__name__}: "
            f"{str(error).splitlines()[0] if error else '-'}; {r['sent_while_full']} sent, "
            f"{r['evaluations']} recorded, {len(r['left'])} left in INBOX; with space: "
            f"{r['result']}, {r['confirmations']} confirmation sent"
        )
        assert error is not None
        assert r["sent_while_full"] == 0
        assert r["evaluations"] == 0
        assert len(r["left"]) == 1
        assert r["result"].processed == 1
        assert r["confirmations"] == 1

    async def test_a_full_disk_is_a_clear_store_error(
        self, tmp_path: Path, pymap: ImapAccount
    ) -> None:
        """A full database is reported as a StoreError that says the disk is full."""
        r = await _full_inbox(tmp_path, pymap)
        assert isinstance(r["error"], StoreError)


class TestOneDaemon:
    def test_a_second_daemon_on_the_same_database_is_refused(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """A second `leernet run` on the same database exits with a clear message; the first keeps running."""
        db = tmp_path / "leernet.db"
        start_network(tmp_path, network_toml(people(2)), settings_for(db))
        with Sink() as sink:
            env = daemon_env(db, smtp_port=sink.port)
            first = spawn(tmp_path, env, "run", "--no-inbox")
            try:
                assert wait_until(lambda: len(sink.deliveries) >= 4, 20)
                second = run_cli(tmp_path, env, "run", "--no-inbox", timeout=30)
                alive = first.poll() is None
            finally:
                assert stop(first) == 0
        figure.append(f"second daemon: exit {second.returncode}, {second.stderr.strip()[:160]!r}")
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert "Traceback" not in second.stderr
        assert alive
