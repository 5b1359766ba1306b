"""What the inbox's processor tells the archive about one mail, and the shapes it may take."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class Disposition:
    """What the processor made of one mail; ``attention`` sends it to needs-attention."""

    outcome: str
    reason: str
    attention: bool
    network_id: int | None = None
    participant_id: int | None = None


# (the open transaction, the inbox row id, the raw bytes) -> what to record and where to move.
Processor = Callable[[AsyncConnection, int, bytes], Awaitable[Disposition]]
# Told, in the mail's transaction, about a mail the archive set aside without a processor's say.
SetAside = Callable[[AsyncConnection, int, bytes, Disposition], Awaitable[None]]


@runtime_checkable
class BatchAware(Protocol):
    """A processor that looks up what a whole FETCH batch names at once, before its mails."""

    async def prepare(self, conn: AsyncConnection, raws: list[bytes]) -> None:
        """Look up what the batch's mails name, before the first is processed."""

    def finish(self) -> None:
        """Forget the batch's lookups."""


@dataclass(frozen=True, slots=True)
class Folders:
    """The server's names of the two target folders (with its hierarchy delimiter)."""

    processed: str
    attention: str
