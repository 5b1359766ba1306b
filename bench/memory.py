"""Memory: peak RSS of a process that ingests 1,000 / 10,000 replies or sends 1,000 / 5,000 messages.

Each measurement runs in a fresh child process (``python -m bench.memory
child ...``) that does only that work: the parent fills the mailbox, prepares
the store and the sink. The raw baselines (aioimaplib reader, aiosmtplib
sender) run the same way for context. Target: < 150 MB, and not growing with
the size of the mailbox or the queue.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bench.common import Report, peak_rss_mb
from bench.corpus import corpus
from bench.servers import PASSWORD, dovecot, sink_kinds, smtp_sink
from bench.world import NOW, settings

TARGET_MB = 150.0


def child_run(args: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", "child", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def _child_main(kind: str, port: int, user: str, db: str) -> dict[str, float]:
    base = peak_rss_mb()
    started = time.perf_counter()
    if kind == "ingest":
        from leernet.mailer.inbox import Inbox  # noqa: PLC0415
        from leernet.messages.factory import Factory  # noqa: PLC0415
        from leernet.organiser.desk import inbox_processor  # noqa: PLC0415
        from leernet.store import open_store  # noqa: PLC0415

        url = f"sqlite+aiosqlite:///{db}"
        s = settings(
            imap_port=port, imap_user=user, imap_password=SecretStr(PASSWORD), database_url=url
        )
        engine = await open_store(url)
        box = Inbox(engine, s, inbox_processor(Factory(s), lambda: NOW), lambda: NOW)
        started = time.perf_counter()
        result = await box.run_once()
        took = time.perf_counter() - started
        await engine.dispose()
        n = result.fetched
    elif kind == "ingest-raw":
        from bench.ingest import baseline  # noqa: PLC0415

        rate, _ = await baseline(port, user)
        n = round(rate * (time.perf_counter() - started))
        took = n / rate
    elif kind == "send":
        from leernet.mailer.sender import drain  # noqa: PLC0415
        from leernet.store import open_store  # noqa: PLC0415

        url = f"sqlite+aiosqlite:///{db}"
        engine = await open_store(url)
        started = time.perf_counter()
        result = await drain(engine, settings(smtp_port=port, database_url=url), lambda: NOW)
        took = time.perf_counter() - started
        await engine.dispose()
        n = result.sent
    else:  # send-raw: the queued bytes read in the same claim-sized chunks, sent raw
        import sqlite3  # noqa: PLC0415

        from bench.send import raw_send  # noqa: PLC0415

        con = sqlite3.connect(db)
        n = 0
        last = 0
        while True:
            rows = con.execute(
                "SELECT id, recipient, raw FROM outbox JOIN outbox_body ON outbox_id = outbox.id"
                " WHERE id > ? ORDER BY id LIMIT 500",
                (last,),
            ).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            await raw_send(port, [(r, bytes(b)) for _, r, b in rows], 2)
            n += len(rows)
        took = time.perf_counter() - started
    return {"count": n, "seconds": took, "start_mb": base, "peak_mb": peak_rss_mb()}


async def run(quick: bool, repeat: int) -> Report:  # noqa: ARG001 - one run per size is enough
    report = Report("memory")
    ingest_sizes = (300, 1000) if quick else (1000, 10000)
    send_sizes = (300, 1000) if quick else (1000, 5000)
    with tempfile.TemporaryDirectory(prefix="leernet-bench-") as tmp, dovecot() as server:
        for count in ingest_sizes:
            data = await corpus(10000 if count > 1000 else 1000)
            replies = data.replies[:count]
            for kind in ("ingest", "ingest-raw"):
                user = server.user()
                server.fill(user, replies)
                from bench.ingest import warm  # noqa: PLC0415

                await warm(server.port, user)
                db = Path(tmp) / f"{kind}{count}.db"
                data.copy_db(db)
                got = child_run([kind, str(server.port), user, str(db)])
                label = "leernet Inbox+Processor" if kind == "ingest" else "raw reader"
                report.add(f"ingest {count}: {label} peak RSS", [got["peak_mb"]], "MB")
                if kind == "ingest":
                    report.check(
                        f"ingest {count} peak RSS (MB)",
                        got["peak_mb"],
                        f"< {TARGET_MB:.0f}",
                        got["peak_mb"] < TARGET_MB,
                    )
        from bench.send import prepare  # noqa: PLC0415

        for count in send_sizes:
            folder = Path(tmp) / f"send{count}"
            folder.mkdir()
            template, _ = await prepare(folder, -(-count // 45))
            with smtp_sink(sink_kinds()[0]) as sink:
                for kind in ("send", "send-raw"):
                    db = folder / f"{kind}.db"
                    db.write_bytes(template.read_bytes())
                    got = child_run([kind, str(sink.port), "-", str(db)])
                    label = "leernet drain" if kind == "send" else "raw aiosmtplib"
                    report.add(f"send {got['count']:.0f}: {label} peak RSS", [got["peak_mb"]], "MB")
                    if kind == "send":
                        report.check(
                            f"send {got['count']:.0f} peak RSS (MB)",
                            got["peak_mb"],
                            f"< {TARGET_MB:.0f}",
                            got["peak_mb"] < TARGET_MB,
                        )
    report.note("each figure is the peak RSS (VmHWM) of a fresh child process doing only that work")
    return report


def child(argv: list[str]) -> None:
    kind, port, user, db = argv
    print(json.dumps(asyncio.run(_child_main(kind, int(port), user, db))))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2:])
