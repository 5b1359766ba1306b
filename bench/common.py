"""Shared pieces: repeating, medians, ratios, the machine, peak memory and a results table."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu or platform.processor()}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    VmHWM, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over from the parent
    across fork and exec, so a child would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(fn: Callable[[], Awaitable[object]]) -> tuple[float, object]:
    start = time.perf_counter()
    out = await fn()
    return time.perf_counter() - start, out


@dataclass
class Row:
    """One line of a result table: a name, the figures of each run and the unit."""

    name: str
    runs: list[float]
    unit: str

    @property
    def median(self) -> float:
        return median(self.runs)


@dataclass
class Report:
    benchmark: str
    rows: list[Row] = field(default_factory=list)
    checks: list[tuple[str, float, str, bool]] = field(default_factory=list)  # name, value, target
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, runs: list[float], unit: str) -> Row:
        row = Row(name, runs, unit)
        self.rows.append(row)
        return row

    def check(self, name: str, value: float, target: str, ok: bool) -> None:
        self.checks.append((name, value, target, ok))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def print(self) -> None:
        print(f"\n== {self.benchmark} ==")
        width = max((len(r.name) for r in self.rows), default=10)
        for r in self.rows:
            runs = ", ".join(f"{v:,.1f}" for v in r.runs)
            print(f"  {r.name:<{width}}  median {r.median:>10,.1f} {r.unit:<8} runs [{runs}]")
        for name, value, target, ok in self.checks:
            mark = "OK  " if ok else "MISS"
            print(f"  [{mark}] {name}: {value:,.3f} (target {target})")
        for text in self.notes:
            print(f"  note: {text}")
        sys.stdout.flush()

    def save(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{self.benchmark}.json"
        data = {
            "benchmark": self.benchmark,
            "machine": machine(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "argv": sys.argv,
            "rows": [{**asdict(r), "median": r.median} for r in self.rows],
            "checks": [
                {"name": n, "value": v, "target": t, "ok": ok} for n, v, t, ok in self.checks
            ],
            "notes": self.notes,
        }
        path.write_text(json.dumps(data, indent=2))
        return path
