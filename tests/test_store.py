"""The store's schema version and its upgrade path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, LargeBinary, MetaData, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from leernet.errors import StoreError
from leernet.mailer.queue import Outgoing, enqueue
from leernet.mailer.sender import DrainResult, drain
from leernet.store import open_store
from leernet.store.engine import create_engine
from leernet.store.schema import SCHEMA_VERSION, metadata, outbox, outbox_body
from tests.smtpserver import SmtpTestServer


async def indexes(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("outbox")}
            )
    finally:
        await engine.dispose()


class TestMigrations:
    async def test_a_version_1_database_is_upgraded(self, tmp_path: Path) -> None:
        """A database from the first release gets the rate-limit index and the new version number."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        engine = await open_store(url)
        async with engine.begin() as conn:  # make it look like release 1 left it
            await conn.execute(text("DROP INDEX ix_outbox_recipient"))
            await conn.execute(text("UPDATE schema_version SET version = 1"))
        await engine.dispose()
        assert "ix_outbox_recipient" not in await indexes(url)
        engine = await open_store(url)
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version FROM schema_version"))).scalar()
        await engine.dispose()
        assert version == SCHEMA_VERSION == 6
        assert "ix_outbox_recipient" in await indexes(url)

    async def test_a_newer_database_is_refused(self, tmp_path: Path) -> None:
        """A database written by a newer leernet is not touched by an older one."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
        engine = await open_store(url)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE schema_version SET version = 99"))
        await engine.dispose()
        with pytest.raises(StoreError, match="newer than this leernet"):
            await open_store(url)


T0 = datetime(2027, 9, 16, 8, 0, tzinfo=UTC)


V3_TO_V5 = ("summary_previews", "service_state", "rollcall_orders", "organiser_requests")


def v2_metadata() -> MetaData:
    """The schema as release 2 left it: the message bytes in ``outbox.raw``, no ``outbox_body``."""
    old = MetaData()
    for table in metadata.sorted_tables:
        if table.name in (outbox_body.name, *V3_TO_V5):
            continue
        copy = table.to_metadata(old)
        if table.name == outbox.name:
            copy.append_column(Column("raw", LargeBinary, nullable=False))
            copy._columns.remove(copy.c.about_inbox_id)  # v6
            for index in [i for i in copy.indexes if i.name == "ix_outbox_about"]:
                copy.indexes.discard(index)
    return old


def message(n: int) -> bytes:
    return (
        "From: Lerend netwerk <netwerk@example.org>\r\n"
        f"To: p{n}@example.com\r\n"
        f"Subject: Uitnodiging {n}\r\n"
        f"Message-ID: <leernet.v2-{n}@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "\r\n"
        f"Tot dan, {n} \u00e9\u00e9n keer.\r\n"
        ".a line with a leading dot\r\n"
    ).encode()


async def build_v2(url: str) -> dict[str, bytes]:
    """A version 2 store with three outbox rows (one already sent); their bytes by Message-ID."""
    old = v2_metadata()
    rows = [
        {
            "key": f"invite/v2/p{n}@example.com",
            "kind": "invite",
            "recipient": f"p{n}@example.com",
            "message_id": f"<leernet.v2-{n}@example.org>",
            "raw": message(n),
            "state": state,
            "attempts": 0,
            "created_at": T0,
            "next_attempt_at": T0,
        }
        for n, state in ((1, "queued"), (2, "sent"), (3, "queued"))
    ]
    # A notice to the organiser about inbox mail 7, as keys said it before v6.
    rows.append(
        {
            **rows[1],
            "key": "notice/message/7/organiser@example.org",
            "kind": "notice",
            "recipient": "organiser@example.org",
            "message_id": "<leernet.v2-notice@example.org>",
        }
    )
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(old.create_all)
            await conn.execute(old.tables["schema_version"].insert().values(version=2))
            await conn.execute(old.tables["outbox"].insert(), rows)
    finally:
        await engine.dispose()
    return {str(r["message_id"]): bytes(r["raw"]) for r in rows}  # type: ignore[call-overload]


async def check_upgrade(url: str) -> None:
    bytes_of = await build_v2(url)
    engine = await open_store(url)
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version FROM schema_version"))).scalar()
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("outbox")}
            )
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            moved = {
                mid: bytes(raw)
                for mid, raw in await conn.execute(
                    select(outbox.c.message_id, outbox_body.c.raw).select_from(
                        outbox.join(outbox_body)
                    )
                )
            }
            about = dict((await conn.execute(select(outbox.c.key, outbox.c.about_inbox_id))).all())
        assert version == SCHEMA_VERSION == 6
        assert "raw" not in columns
        # v6: the notice says which incoming mail it is about in a column of its own.
        assert about["notice/message/7/organiser@example.org"] == 7
        assert about["invite/v2/p1@example.com"] is None
        assert "summary_previews" in tables  # v4: manager summaries are previewed first
        assert moved == bytes_of
        with SmtpTestServer() as server:
            assert await drain(engine, server.settings(), lambda: T0) == DrainResult(sent=2)
            got = {r.message_id: r.data for r in server.received}
        queued = {
            mid: raw for mid, raw in bytes_of.items() if "v2-2" not in mid and "notice" not in mid
        }
        assert got == queued
    finally:
        await engine.dispose()


class TestOutboxBodyMigration:
    async def test_a_version_2_sqlite_store_keeps_its_queued_bytes(self, tmp_path: Path) -> None:
        """After the upgrade the queued mail of a release-2 store goes out byte for byte, and sent mail keeps its bytes."""
        await check_upgrade(f"sqlite+aiosqlite:///{tmp_path / 'v2.db'}")

    async def test_the_upgrade_leaves_a_current_store_alone(self, tmp_path: Path) -> None:
        """The upgrade step run over a store that already has the bytes table keeps the queued bytes as they are."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
        engine = await open_store(url)
        async with engine.begin() as conn:
            await enqueue(
                conn, [Outgoing("k1", "invite", "p1@example.com", "<m1@x>", b"one", None)], T0
            )
            await conn.execute(text("UPDATE schema_version SET version = 2"))
        await engine.dispose()
        engine = await open_store(url)
        try:
            async with engine.connect() as conn:
                version = (await conn.execute(text("SELECT version FROM schema_version"))).scalar()
                bodies = (await conn.execute(select(outbox_body.c.raw))).scalars().all()
        finally:
            await engine.dispose()
        assert version == SCHEMA_VERSION
        assert bodies == [b"one"]

    @pytest.mark.postgres
    async def test_a_version_2_postgresql_store_keeps_its_queued_bytes(
        self, postgres_url: str
    ) -> None:
        """The same upgrade on PostgreSQL, in a database of its own."""
        admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text("DROP DATABASE IF EXISTS leernet_v2"))
                await conn.execute(text("CREATE DATABASE leernet_v2"))
        finally:
            await admin.dispose()
        url = make_url(postgres_url).set(database="leernet_v2")
        await check_upgrade(url.render_as_string(hide_password=False))
