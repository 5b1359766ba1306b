"""``uv run python -m bench send|compose|ingest|latency|planner|memory|all [--quick] [--repeat N]``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import time

from bench.common import machine

BENCHMARKS = ("compose", "send", "ingest", "latency", "planner", "memory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("benchmark", choices=(*BENCHMARKS, "all"))
    parser.add_argument("--quick", action="store_true", help="small sizes: about a minute in all")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (>= 3)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop if installed")
    args = parser.parse_args(argv)
    names = BENCHMARKS if args.benchmark == "all" else (args.benchmark,)
    # The service's own warnings (e.g. the planner's "step skipped" while history is built)
    # are expected here; only errors are shown.
    logging.getLogger("leernet").setLevel(logging.ERROR)
    print(f"machine: {machine()}")
    if args.uvloop:
        import uvloop  # noqa: PLC0415 - optional

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    missed = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        start = time.monotonic()
        report = asyncio.run(module.run(args.quick, max(args.repeat, 3)))
        report.note(f"took {time.monotonic() - start:.0f} s")
        report.print()
        report.save()
        missed += sum(1 for c in report.checks if not c[3])
    print(f"\n{missed} target(s) missed" if missed else "\nall targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
