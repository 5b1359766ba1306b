"""Latency: from an APPEND by another connection to the reply committed in the store.

leernet: ``Inbox.run_forever`` (IDLE) with the real ``Processor``; the moment
of commit is the "archived as" log record, written right after the commit.
Baseline: a raw aioimaplib client in IDLE on the same server, timed from the
APPEND to the EXISTS push (Dovecot pushes ~0.5 s after an APPEND). The two
alternate, sample by sample. Target: leernet median <= push median + 100 ms.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bench.common import Report, median, percentile
from bench.corpus import corpus
from bench.ingest import login
from bench.servers import PASSWORD, dovecot
from bench.world import NOW, settings
from leernet.mailer.headers import message_id
from leernet.mailer.inbox import Inbox
from leernet.messages.factory import Factory
from leernet.organiser.desk import inbox_processor
from leernet.store import open_store

BUDGET = 0.100  # seconds over the IDLE push


class Committed(logging.Handler):
    """Notes when each Message-ID was committed (the archive logs after its commit)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.at: dict[str, float] = {}
        self.new = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("archived as"):
            self.at[str(getattr(record, "message_id", ""))] = time.perf_counter()
            self.new.set()


async def append(port: int, user: str, raw: bytes) -> float:
    client = await login(port, user)
    try:
        start = time.perf_counter()
        response = await client.append(raw, mailbox="INBOX")
        if response.result != "OK":
            raise RuntimeError(f"APPEND: {response}")
        return start
    finally:
        await client.logout()


async def push_time(port: int, user: str, raw: bytes) -> float:
    """Seconds from an APPEND to the EXISTS push seen by a raw client in IDLE."""
    client = await login(port, user)
    try:
        await client.select("INBOX")
        idle = await client.idle_start(timeout=30)
        start = await append(port, user, raw)
        async with asyncio.timeout(10):
            while True:
                lines = await client.wait_server_push()
                if any(b"EXISTS" in bytes(line) for line in lines):
                    break
        took = time.perf_counter() - start
        client.idle_done()
        await asyncio.wait_for(idle, 10)
        return took
    finally:
        await client.logout()


async def run(quick: bool, repeat: int) -> Report:  # noqa: ARG001 - the samples are the repeats
    samples = 15 if quick else 50
    report = Report("latency")
    data = await corpus(1000)
    replies = data.replies[: samples + 1]
    with tempfile.TemporaryDirectory(prefix="leernet-bench-") as tmp, dovecot() as server:
        lee_user, raw_user = server.user(), server.user()
        for user in (lee_user, raw_user):
            server.fill(user, [])
        url = data.copy_db(Path(tmp) / "latency.db")
        s = settings(
            imap_port=server.port,
            imap_user=lee_user,
            imap_password=SecretStr(PASSWORD),
            database_url=url,
        )
        engine = await open_store(url)
        handler = Committed()
        logger = logging.getLogger("leernet.inbox")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        stop = asyncio.Event()
        box = Inbox(engine, s, inbox_processor(Factory(s), lambda: NOW), lambda: NOW)
        task = asyncio.create_task(box.run_forever(stop))
        lee: list[float] = []
        push: list[float] = []
        try:
            await asyncio.sleep(1.0)  # connected, first (empty) pass done, in IDLE
            for i, raw in enumerate(replies[:samples]):
                push.append(await push_time(server.port, raw_user, raw))
                mid = message_id(raw) or ""
                handler.new.clear()
                start = await append(server.port, lee_user, raw)
                async with asyncio.timeout(15):
                    while mid not in handler.at:
                        handler.new.clear()
                        await handler.new.wait()
                lee.append(handler.at[mid] - start)
                if (i + 1) % 10 == 0:
                    print(
                        f"  {i + 1} samples: leernet {median(lee) * 1000:.0f} ms, push {median(push) * 1000:.0f} ms"
                    )
        finally:
            stop.set()
            await asyncio.wait_for(task, 40)
            logger.removeHandler(handler)
            await engine.dispose()
        ms = [x * 1000 for x in lee]
        pm = [x * 1000 for x in push]
        report.add(f"leernet APPEND -> committed, median of {samples}", [median(ms)], "ms")
        report.add("leernet p90", [percentile(ms, 0.9)], "ms")
        report.add(f"raw IDLE push (EXISTS), median of {samples}", [median(pm)], "ms")
        report.add("raw IDLE push p90", [percentile(pm, 0.9)], "ms")
        over = median(ms) - median(pm)
        report.check(
            "leernet median - push median (ms)",
            over,
            f"<= {BUDGET * 1000:.0f}",
            over <= BUDGET * 1000,
        )
        report.note(f"{samples} samples each, alternating; one run (repeat is the sample count)")
    return report
