"""Long ``IN (...)`` lists, cut into statements the drivers accept."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

CHUNK = 500  # values in one IN (...): well below SQLite's and asyncpg's limits


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Slices of at most ``size`` items, for ``IN (...)`` lists below the drivers' limits."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
