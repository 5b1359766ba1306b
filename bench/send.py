"""Sending: drain the outbox (claim, send over SMTP, mark sent) vs raw aiosmtplib with the same bytes.

Both send the same composed messages (invite, reminder, evaluation request per
member) to the same sink, one process each: Postfix's ``smtp-sink`` where
installed (it costs the sender less CPU), and an aiosmtpd sink. Raw
aiosmtplib sends over one reused connection and over as many concurrent
connections as leernet uses. Target: leernet >= 70 % of raw at equal concurrency.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import aiosmtplib
from sqlalchemy import func, select

from bench import mail
from bench.common import Report
from bench.servers import sink_kinds, smtp_sink
from bench.world import NOW, SERVICE, build_world, settings
from leernet.mailer.queue import enqueue
from leernet.mailer.sender import drain
from leernet.messages.factory import Factory
from leernet.store import open_store
from leernet.store.schema import outbox

TARGET = 0.70
CONNECTIONS = 2  # leernet's default (LEERNET_SMTP_CONNECTIONS)


async def raw_send(port: int, messages: list[tuple[str, bytes]], connections: int) -> float:
    """Messages per second with plain aiosmtplib, each connection reused for its share."""

    async def worker(share: list[tuple[str, bytes]]) -> None:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, local_hostname="bench.localdomain", timeout=30
        )
        await client.connect()
        for rcpt, raw in share:
            await client.sendmail(SERVICE, [rcpt], raw)
        await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker(messages[i::connections]) for i in range(connections)))
    return len(messages) / (time.perf_counter() - start)


async def leernet_send(template_db: Path, dest: Path, port: int, connections: int) -> float:
    import shutil  # noqa: PLC0415

    shutil.copyfile(template_db, dest)
    url = f"sqlite+aiosqlite:///{dest}"
    s = settings(smtp_port=port, smtp_connections=connections, database_url=url)
    engine = await open_store(url)
    try:
        start = time.perf_counter()
        result = await drain(engine, s, lambda: NOW)
        took = time.perf_counter() - start
        async with engine.connect() as conn:
            sent = (
                await conn.execute(select(func.count()).where(outbox.c.state == "sent"))
            ).scalar_one()
    finally:
        await engine.dispose()
    if result.sent != sent or result.failed or result.deferred:
        raise RuntimeError(f"drain did not send everything: {result}, {sent} rows sent")
    return result.sent / took


async def prepare(folder: Path, networks: int) -> tuple[Path, list[tuple[str, bytes]]]:
    """A store with every message queued (not_after cleared), and the same bytes for the baseline."""
    world = await build_world(folder, networks)
    items = mail.outgoing(Factory(settings()), world.registered, NOW)
    items = [
        type(it)(it.key, it.kind, it.recipient, it.message_id, it.raw, it.network_id, None)
        for it in items
    ]
    engine = await open_store(world.url)
    try:
        async with engine.begin() as conn:
            await enqueue(conn, items, NOW)
    finally:
        await engine.dispose()
    return world.path, [(it.recipient, it.raw) for it in items]


async def run(quick: bool, repeat: int) -> Report:
    networks = 20 if quick else 100
    report = Report("send")
    with tempfile.TemporaryDirectory(prefix="leernet-bench-") as tmp:
        folder = Path(tmp)
        template, messages = await prepare(folder, networks)
        size = sum(len(r) for _, r in messages) / len(messages)
        report.note(
            f"{len(messages)} messages, mean {size / 1024:.1f} KB (invite ~35 KB, others ~3 KB)"
        )
        for kind in sink_kinds():
            with smtp_sink(kind) as sink:
                await raw_send(sink.port, messages[:50], 1)  # warm the sink
                lee, raw1, rawc = [], [], []
                for rep in range(repeat):
                    rawc.append(await raw_send(sink.port, messages, CONNECTIONS))
                    lee.append(
                        await leernet_send(template, folder / f"s{rep}.db", sink.port, CONNECTIONS)
                    )
                    raw1.append(await raw_send(sink.port, messages, 1))
                r_lee = report.add(
                    f"[{kind}] leernet drain, {CONNECTIONS} connections", lee, "msg/s"
                )
                r_c = report.add(
                    f"[{kind}] raw aiosmtplib, {CONNECTIONS} connections", rawc, "msg/s"
                )
                report.add(f"[{kind}] raw aiosmtplib, 1 connection", raw1, "msg/s")
                ratio = r_lee.median / r_c.median
                report.check(
                    f"[{kind}] leernet / raw at equal concurrency",
                    ratio,
                    f">= {TARGET}",
                    ratio >= TARGET,
                )
    return report
