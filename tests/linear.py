"""Work that must grow linearly, checked against a baseline measured in the same test.

No absolute time limit (the suite runs on busy 2-core machines): the input of size
n is repeated until it takes a measurable while, the input of size 8n the same
number of times, and the ratio must stay far below the 64 of a quadratic cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FACTOR = 8
MARGIN = 30  # linear is ~8x; quadratic would be ~64x
_CALIBRATE = 0.02  # seconds the small input is repeated for, to rise above timer noise


def _best(run: Callable[[], object], times: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(times):
            run()
        best = min(best, time.perf_counter() - start)
    return best


def assert_linear(run: Callable[[int], object], n: int) -> None:
    """``run(8 * n)`` costs less than ``MARGIN`` times ``run(n)``."""
    times = 1
    while _best(lambda: run(n), times) < _CALIBRATE and times < 1 << 16:
        times *= 2
    small = _best(lambda: run(n), times)
    large = _best(lambda: run(FACTOR * n), times)
    assert large < MARGIN * small, f"{FACTOR}x the input took {large / small:.1f}x the time"
