"""The strangers' digest on PostgreSQL: one row rewritten under its lock, counts read back after a restart."""

from __future__ import annotations

from sqlalchemy import select, text

from leernet.mailer.archive import Archive
from leernet.mailer.disposition import Folders
from leernet.mailer.imap_responses import Fetched
from leernet.messages.factory import Factory
from leernet.network.load import load_network
from leernet.organiser.desk import inbox_processor
from leernet.records import registration
from leernet.settings import Settings
from leernet.store import open_store
from leernet.store import schema as t
from tests.postgres import postgres_url
from tests.test_process import AFTER_ALL, EXAMPLE, SECRET, STARTED
from tests.test_stranger_digest import stranger, texts

__all__ = ["postgres_url"]  # the fixture


async def test_the_digest_counts_across_a_restart_on_postgresql(postgres_url: str) -> None:
    """Two processes' worth of stranger mail on PostgreSQL end in one digest that counts them all."""
    engine = await open_store(postgres_url)
    settings = Settings(
        _env_file=None,
        service_address="netwerk@example.org",
        secret=SECRET,
        database_url=postgres_url,
        authserv_id="mx.example.org",
    )
    try:
        async with engine.begin() as conn:  # a clean slate when the session's cluster is reused
            await conn.execute(
                text(
                    "TRUNCATE networks, outbox, inbox, imap_state, plan_marks"
                    " RESTART IDENTITY CASCADE"
                )
            )
            network = load_network(EXAMPLE).network
            await registration.register(conn, network, EXAMPLE.read_text(), SECRET, STARTED)
        folders = Folders("leernet.processed", "leernet.needs-attention")
        raws = [stranger(n, 4) for n in range(30)]
        for part, first in ((raws[:20], 1), (raws[20:], 100)):  # a new processor: a restart
            processor = inbox_processor(Factory(settings), lambda: AFTER_ALL)
            archive = Archive(engine, "test", processor, lambda: AFTER_ALL, 25 * 1024 * 1024)
            await archive.checkpoint.begin(1)
            fetched = [Fetched(first + i, len(raw), raw) for i, raw in enumerate(part)]
            await archive.store_batch(1, [(m, False) for m in fetched], folders)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.outbox.c.key, t.outbox_body.c.raw)
                    .join(t.outbox_body, t.outbox_body.c.outbox_id == t.outbox.c.id)
                    .where(t.outbox.c.kind == "notice")
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(rows) == 1
    plain, _ = texts(rows[0].raw)
    assert "30 mail(s)" in plain
    assert "4 afzender(s)" in plain
