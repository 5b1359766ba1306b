"""Ingesting: replies in Dovecot processed end to end by ``Inbox`` + ``Processor`` vs a raw reader.

leernet: ``Inbox.run_once`` with the real ``leernet.replies.processor.Processor`` on a
copy of a store where the networks are registered and their invites and
evaluation requests were sent: fetch, archive, parse, classify, verify,
record, confirm, move. Baseline: the least any reader must do, raw aioimaplib
UID FETCH BODY.PEEK[] in batches of 100 + ``email.message_from_bytes(policy=
compat32)`` + ``icalendar`` parsing of every calendar part. Each run gets its
own Dovecot user with the same mailbox; Dovecot's index is built before timing.
Target: leernet >= 50 % of the baseline.
"""

from __future__ import annotations

import email
import os
import sqlite3
import tempfile
import time
from collections import Counter
from email.policy import compat32
from pathlib import Path

import aioimaplib
import icalendar
from pydantic import SecretStr
from sqlalchemy import func, select

from bench.common import Report
from bench.corpus import corpus
from bench.memory import child_run
from bench.servers import PASSWORD, Dovecot, dovecot
from bench.world import NOW, settings
from leernet.mailer.imap_responses import parse_fetch, parse_search
from leernet.mailer.inbox import Inbox
from leernet.messages.factory import Factory
from leernet.organiser.desk import inbox_processor
from leernet.store import open_store
from leernet.store.schema import inbox

TARGET = 0.50
CALENDAR = ("text/calendar", "application/ics")


async def login(port: int, user: str) -> aioimaplib.IMAP4:
    client = aioimaplib.IMAP4(host="127.0.0.1", port=port, timeout=60)
    await client.wait_hello_from_server()
    response = await client.login(user, PASSWORD)
    if response.result != "OK":
        raise RuntimeError(f"login {user}: {response}")
    return client


async def warm(port: int, user: str) -> int:
    """SELECT and SEARCH once, so Dovecot's index exists before anything is timed."""
    client = await login(port, user)
    try:
        await client.select("INBOX")
        response = await client.uid_search("ALL", charset=None)
        return len(parse_search(response.lines))
    finally:
        await client.logout()


async def baseline(port: int, user: str) -> tuple[float, int]:
    """Messages per second: batched raw FETCH, compat32 parse, icalendar for calendar parts."""
    start = time.perf_counter()
    client = await login(port, user)
    calendars = 0
    n = 0
    try:
        await client.select("INBOX")
        uids = parse_search((await client.uid_search("ALL", charset=None)).lines)
        for i in range(0, len(uids), 100):
            chunk = uids[i : i + 100]
            response = await client.uid("fetch", f"{chunk[0]}:{chunk[-1]}", "(UID BODY.PEEK[])")
            for fetched in parse_fetch(response.lines):
                msg = email.message_from_bytes(fetched.data, policy=compat32)
                n += 1
                for part in msg.walk():
                    if part.get_content_type() in CALENDAR:
                        payload = part.get_payload(decode=True)
                        if isinstance(payload, bytes):
                            icalendar.Calendar.from_ical(payload)
                            calendars += 1
    finally:
        await client.logout()
    return n / (time.perf_counter() - start), calendars


# A what-if: the index the inbox's rate limit needs (process.Processor._may_answer counts
# outbox rows by recipient, kind and created_at; without it every evaluation scans the outbox).
WHAT_IF_INDEX = "CREATE INDEX ix_bench_outbox_recipient ON outbox (recipient, kind, created_at)"


async def leernet_ingest(url: str, port: int, user: str) -> tuple[float, Counter[str]]:
    s = settings(
        imap_port=port, imap_user=user, imap_password=SecretStr(PASSWORD), database_url=url
    )
    engine = await open_store(url)
    try:
        processor = inbox_processor(Factory(s), lambda: NOW)
        box = Inbox(engine, s, processor, lambda: NOW)
        start = time.perf_counter()
        result = await box.run_once()
        took = time.perf_counter() - start
        async with engine.connect() as conn:
            outcomes = Counter(
                dict(
                    (
                        await conn.execute(
                            select(inbox.c.outcome, func.count()).group_by(inbox.c.outcome)
                        )
                    ).all()
                )
            )
    finally:
        await engine.dispose()
    return result.fetched / took, outcomes


async def _outcomes(url: str) -> Counter[str]:
    engine = await open_store(url)
    try:
        async with engine.connect() as conn:
            query = select(inbox.c.outcome, func.count()).group_by(inbox.c.outcome)
            return Counter(dict((await conn.execute(query)).all()))
    finally:
        await engine.dispose()


async def _fresh(server: Dovecot, replies: list[bytes]) -> str:
    user = server.user()
    server.fill(user, replies)
    count = await warm(server.port, user)
    if count != len(replies):
        raise RuntimeError(f"{user} holds {count} messages, not {len(replies)}")
    return user


async def run(quick: bool, repeat: int) -> Report:
    count = 1000 if quick else 10000
    report = Report("ingest")
    data = await corpus(count)
    with tempfile.TemporaryDirectory(prefix="leernet-bench-") as tmp, dovecot() as server:
        lee: list[float] = []
        base: list[float] = []
        indexed: list[float] = []
        what_if = os.environ.get("BENCH_WHAT_IF_INDEX") == "1"
        outcomes: Counter[str] = Counter()
        for rep in range(repeat):
            # Each side in a fresh process, as a daemon runs (not next to the 10,000
            # replies this process holds); the child times only the work itself.
            user = await _fresh(server, data.replies)
            got = child_run(["ingest-raw", str(server.port), user, "-"])
            base.append(got["count"] / got["seconds"])
            user = await _fresh(server, data.replies)
            db = Path(tmp) / f"i{rep}.db"
            url = data.copy_db(db)
            got = child_run(["ingest", str(server.port), user, str(db)])
            lee.append(got["count"] / got["seconds"])
            outcomes = await _outcomes(url)
            if what_if:
                user = await _fresh(server, data.replies)
                db = Path(tmp) / f"w{rep}.db"
                url = data.copy_db(db)
                with sqlite3.connect(db) as con:
                    con.execute(WHAT_IF_INDEX)
                got = child_run(["ingest", str(server.port), user, str(db)])
                indexed.append(got["count"] / got["seconds"])
            print(
                f"  run {rep + 1}: leernet {lee[-1]:,.0f}/s, baseline {base[-1]:,.0f}/s", flush=True
            )
        r_lee = report.add(f"leernet Inbox+Processor ({count} replies)", lee, "msg/s")
        r_base = report.add("baseline aioimaplib+compat32+icalendar", base, "msg/s")
        if indexed:
            report.add(
                "what-if: leernet with an outbox (recipient, kind, created_at) index",
                indexed,
                "msg/s",
            )
        ratio = r_lee.median / r_base.median
        report.check("leernet / baseline", ratio, f">= {TARGET}", ratio >= TARGET)
        report.note("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
        report.note("each run in a fresh child process (python -m bench.memory child ...)")
    return report
