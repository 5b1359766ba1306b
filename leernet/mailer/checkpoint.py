"""The inbox's checkpoint: the last UID archived per mailbox and UIDVALIDITY, and the moves."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.store.chunks import chunked
from leernet.store.schema import imap_state, inbox

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("leernet.inbox")


class Checkpoint:
    """Where the archive of one mailbox (``user@host/folder``) stands, and which mails moved."""

    def __init__(self, engine: AsyncEngine, mailbox: str) -> None:
        self._engine = engine
        self.mailbox = mailbox
        self._moved: dict[int, list[int]] = {}  # uidvalidity -> UIDs moved, not yet written

    async def begin(self, uidvalidity: int) -> None:
        """Start the checkpoint, or restart it when UIDVALIDITY changed (old UIDs mean nothing)."""
        async with self._engine.begin() as conn:
            where = imap_state.c.mailbox == self.mailbox
            known = (await conn.execute(select(imap_state.c.uidvalidity).where(where))).scalar()
            if known is None:
                values = {"mailbox": self.mailbox, "uidvalidity": uidvalidity, "last_uid": 0}
                await conn.execute(insert(imap_state).values(values))
            elif known != uidvalidity:
                log.warning(
                    "UIDVALIDITY changed from %s to %s: rescanning the folder",
                    known,
                    uidvalidity,
                    extra={"mailbox": self.mailbox},
                )
                await conn.execute(
                    update(imap_state).where(where).values(uidvalidity=uidvalidity, last_uid=0)
                )

    async def known(self, uidvalidity: int, uids: list[int], fallback: str) -> dict[int, str]:
        """Folders of the UIDs archived before under this UIDVALIDITY; marks vanished rows moved."""
        known: dict[int, str] = {}
        present = set(uids)
        async with self._engine.begin() as conn:
            mine = self._mine(uidvalidity)
            for chunk in chunked(uids):
                query = select(inbox.c.uid, inbox.c.folder).where(mine & inbox.c.uid.in_(chunk))
                for uid, folder in await conn.execute(query):
                    known[uid] = folder or fallback
            # Moved by a MOVE whose answer we never saw (connection lost after sending it).
            unmoved = select(inbox.c.id, inbox.c.uid).where(mine & ~inbox.c.moved)
            gone = [row_id for row_id, uid in await conn.execute(unmoved) if uid not in present]
            if gone:
                await conn.execute(update(inbox).where(inbox.c.id.in_(gone)).values(moved=True))
        return known

    def mark_moved(self, uidvalidity: int, uids: list[int]) -> None:
        """Note UIDs the server moved; written with the next batch or by ``flush_moved``.

        Not its own transaction: should the note be lost, ``known`` finds those
        rows gone from the folder and marks them moved then.
        """
        self._moved.setdefault(uidvalidity, []).extend(uids)

    async def flush_moved(self) -> None:
        """Write the moves noted since the last batch, in one transaction."""
        if self._moved:
            async with self._engine.begin() as conn:
                await self.write_moved(conn)

    async def write_moved(self, conn: AsyncConnection) -> None:
        """Write the moves noted so far in the open transaction of ``conn``."""
        moved, self._moved = self._moved, {}
        for uidvalidity, uids in moved.items():
            for chunk in chunked(uids):
                await conn.execute(
                    update(inbox)
                    .where(self._mine(uidvalidity) & inbox.c.uid.in_(chunk))
                    .values(moved=True)
                )

    def _mine(self, uidvalidity: int) -> Any:
        return (inbox.c.mailbox == self.mailbox) & (inbox.c.uidvalidity == uidvalidity)

    async def advance(self, conn: AsyncConnection, uidvalidity: int, uid: int) -> None:
        """Move the checkpoint to ``uid`` (never back), in the mail's own transaction."""
        await conn.execute(
            update(imap_state)
            .where(imap_state.c.mailbox == self.mailbox)
            .where(imap_state.c.uidvalidity == uidvalidity)
            .where(imap_state.c.last_uid < uid)
            .values(last_uid=uid)
        )
