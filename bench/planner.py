"""Planner: one pass over 1,000 networks x 15 participants x 8 sessions, half of them finished.

The store is built once per size with ``registry.register``. History is in
place before timing: every step of the finished networks is marked done, and
a pass at ``NOW`` with a builder that queues nothing marks what was due until
then (as the daemon's earlier passes would have). Timed, with the real step
builder (``followups.step_builder``): a steady pass at ``NOW`` (nothing new is
due: the cost of looking) and the pass an hour later (the steps that became
due in that hour are composed and queued). Target: the steady pass < 100 ms,
and growing with what is due, not with history (100 vs 1,000 networks).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.common import Report
from bench.world import NOW, World, build_world, settings
from leernet.messages.factory import Factory
from leernet.network.model import Followups
from leernet.planning.followups import step_builder
from leernet.planning.planner import PassResult, planner_pass
from leernet.planning.steps import session_steps
from leernet.records.plan_marks import SessionRow
from leernet.store import open_store
from leernet.store.schema import outbox, plan_marks

TARGET_MS = 100.0


async def _nothing(*_: object) -> list[object]:
    return []


async def prepare(folder: Path, networks: int) -> World:
    world = await build_world(folder, networks, finished_share=0.5)
    engine = await open_store(world.url)
    try:
        async with engine.begin() as conn:
            marks = []
            for reg in world.registered:
                net = reg.network
                if net.last_end > NOW - timedelta(days=60):
                    continue
                f = net.followups
                last = max(s.number for s in net.sessions)
                for s in net.sessions:
                    row = SessionRow(reg.id, net.slug, s.number, s.kind.value, s.start, s.end, 0,
                                     Followups(f.reminder_days_before, f.evaluation_hours_after,
                                               f.evaluation_reminder_days, f.manager_summary_days_before),
                                     s.number == last)  # fmt: skip
                    marks += [
                        {
                            "key": st.key,
                            "network_id": reg.id,
                            "outcome": "queued",
                            "done_at": st.due,
                        }
                        for st in session_steps(row)
                    ]
            await conn.execute(plan_marks.insert(), marks)
        await planner_pass(engine, _nothing, NOW)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    return world


async def timed_pass(url: str, at_offset: timedelta) -> tuple[float, PassResult, int]:
    engine = await open_store(url)
    try:
        build = step_builder(Factory(settings()))
        await planner_pass(engine, build, NOW - timedelta(days=400))  # warm caches and pools
        start = time.perf_counter()
        result = await planner_pass(engine, build, NOW + at_offset)
        took = (time.perf_counter() - start) * 1000
        async with engine.connect() as conn:
            queued = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
            marks = (await conn.execute(select(func.count()).select_from(plan_marks))).scalar_one()
    finally:
        await engine.dispose()
    return took, result, marks + 0 * queued


async def run(quick: bool, repeat: int) -> Report:
    report = Report("planner")
    sizes = (100, 300) if quick else (100, 1000)
    with tempfile.TemporaryDirectory(prefix="leernet-bench-") as tmp:
        for networks in sizes:
            folder = Path(tmp) / f"n{networks}"
            folder.mkdir()
            world = await prepare(folder, networks)
            steady, later = [], []
            due_steps = messages = marks = 0
            for rep in range(repeat):
                copy = folder / f"r{rep}.db"
                shutil.copyfile(world.path, copy)
                url = f"sqlite+aiosqlite:///{copy}"
                took, _, marks = await timed_pass(url, timedelta(0))
                steady.append(took)
                took, result, _ = await timed_pass(url, timedelta(hours=1))
                later.append(took)
                due_steps, messages = result.steps, result.queued
            r = report.add(f"{networks} networks: steady pass (nothing new due)", steady, "ms")
            report.add(
                f"{networks} networks: pass 1 h later ({due_steps} steps, {messages} msgs queued)",
                later,
                "ms",
            )
            report.note(f"{networks} networks: {marks} plan marks of history in the store")
            report.check(
                f"{networks} networks steady pass (ms)",
                r.median,
                f"< {TARGET_MS:.0f}",
                r.median < TARGET_MS,
            )
    return report
