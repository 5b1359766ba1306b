"""The store's schema version and its upgrade path."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from leernet.errors import StoreError
from leernet.store import open_store
from leernet.store.engine import create_engine
from leernet.store.schema import SCHEMA_VERSION


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
        assert version == SCHEMA_VERSION == 2
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
