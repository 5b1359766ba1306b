"""The inbox: every mail in the service folder archived, processed once, and moved aside.

Exactly once, whatever breaks (DESIGN.md "Nothing is lost"):

1. SELECT the folder. A UIDVALIDITY other than the checkpoint's resets the
   checkpoint (RFC 3501 2.3.1.1: the old UIDs mean nothing any more).
2. UID SEARCH ALL. We empty the folder, so what is in it is the work: new mail,
   and mail whose MOVE never happened (a crash or a dropped connection after the
   commit). A UID already archived under this UIDVALIDITY is only moved again.
3. The rest is fetched in batches of at most 100 (MAIL-NOTES gotcha 1), sizes
   first: a mail over ``max_message_bytes`` is archived by its header only.
   Per message one transaction: a SHA-256 seen before (the same mail appended
   twice, a rescan after a UIDVALIDITY change) is not processed again and goes
   where its first copy went; otherwise the raw bytes are inserted, the processor
   runs in the same transaction, its disposition and the checkpoint are written.
4. After the commits, one UID MOVE per target folder, then the rows are marked moved.

A processor that raises costs one message, never the loop (STYLE rule 8): the
transaction is rolled back and the mail is archived as ``error`` and set aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leernet.errors import LeernetError, MailboxError
from leernet.mailer.imap import Fetched, ImapSession, server_folder
from leernet.store.schema import imap_state, inbox

if TYPE_CHECKING:
    from datetime import datetime

    from leernet.settings import Settings

log = logging.getLogger("leernet.inbox")

BATCH = 100  # MAIL-NOTES gotcha 1: aioimaplib FETCH slows down quadratically with batch size
_BACKOFF_FIRST, _BACKOFF_MAX = 1.0, 300.0


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


@dataclass(frozen=True, slots=True)
class InboxResult:
    fetched: int = 0
    processed: int = 0
    duplicates: int = 0
    moved: int = 0


@dataclass(frozen=True, slots=True)
class _Pass:
    uidvalidity: int
    processed: str
    attention: str


def message_id(raw: bytes) -> str | None:
    """The Message-ID header, read from the header section only (cheap, MAIL-NOTES costs)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    value = BytesHeaderParser(policy=compat32).parsebytes(head).get("Message-ID")
    text = " ".join(str(value).split())[:998] if value is not None else ""
    return text or None


class Inbox:
    """Reads the service folder; ``run_once`` for one pass, ``run_forever`` for the daemon."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        processor: Processor,
        now: Callable[[], datetime],
        *,
        batch_size: int = BATCH,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._processor = processor
        self._now = now
        self._batch = max(1, min(batch_size, BATCH))
        self.mailbox = f"{settings.imap_user}@{settings.imap_host}/{settings.imap_folder}"
        self._outage = False

    async def run_once(self) -> InboxResult:
        """Connect, process everything in the folder, log out. Raises ``MailboxError``."""
        session = await ImapSession.open(self._settings)
        try:
            result = await self._sync(session, await self._prepare(session))
        except BaseException:
            session.close()
            raise
        await session.logout()
        return result

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Process mail as it comes (IDLE, else polling); reconnect after any failure."""
        stop = stop or asyncio.Event()
        delay = _BACKOFF_FIRST
        while not stop.is_set():
            try:
                session = await ImapSession.open(self._settings)
            except Exception as exc:
                self._failed(exc)
            else:
                try:
                    await self._serve(session, stop)
                except Exception as exc:
                    session.close()
                    if not self._outage:  # it worked until now: retry soon
                        delay = _BACKOFF_FIRST
                    self._failed(exc)
                except BaseException:
                    session.close()
                    raise
                else:
                    await session.logout()
                    return
            await _sleep(stop, delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    async def _serve(self, session: ImapSession, stop: asyncio.Event) -> None:
        p = await self._prepare(session)
        if self._outage:
            log.info("mailbox available again", extra={"mailbox": self.mailbox})
            self._outage = False
        while not stop.is_set():
            await self._sync(session, p)
            if session.has("IDLE"):
                await session.idle(self._settings.imap_idle_seconds, stop)
                await session.noop()  # a half-open connection fails here, not silently
            else:
                await _sleep(stop, self._settings.imap_poll_seconds)

    def _failed(self, exc: Exception) -> None:
        # Logged once per outage: a server that is down for an hour is one line, not 40.
        if self._outage:
            log.debug("mailbox still unavailable: %s", exc, extra={"mailbox": self.mailbox})
            return
        self._outage = True
        extra = {"mailbox": self.mailbox, "error": str(exc)}
        if isinstance(exc, MailboxError):
            log.warning("mailbox unavailable, retrying: %s", exc, extra=extra)
        else:
            log.error("inbox pass failed, retrying", exc_info=exc, extra=extra)

    async def _prepare(self, session: ImapSession) -> _Pass:
        s = self._settings
        processed = server_folder(s.imap_processed_folder, session.delimiter)
        attention = server_folder(s.imap_attention_folder, session.delimiter)
        for folder in (processed, attention):
            await session.ensure_folder(folder)
        uidvalidity = await session.select(s.imap_folder)
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
        return _Pass(uidvalidity, processed, attention)

    async def _sync(self, session: ImapSession, p: _Pass) -> InboxResult:
        uids = await session.search_all()
        known = await self._known(p, uids)
        moves: dict[str, list[int]] = defaultdict(list)
        for uid, folder in known.items():
            moves[folder].append(uid)
        moved = await self._move(session, p, moves)
        fetched = processed = duplicates = 0
        fresh = [uid for uid in uids if uid not in known]
        limit = self._settings.max_message_bytes
        for start in range(0, len(fresh), self._batch):
            batch = fresh[start : start + self._batch]
            sizes = {m.uid: m.size for m in await session.fetch(batch, "(UID RFC822.SIZE)")}
            small = [uid for uid in batch if sizes.get(uid, limit + 1) <= limit]
            large = [uid for uid in batch if sizes.get(uid, 0) > limit]
            found: list[tuple[Fetched, bool]] = []
            if small:
                bodies = await session.fetch(small, "(UID RFC822.SIZE BODY.PEEK[])")
                found += [(m, False) for m in bodies]
            if large:
                heads = await session.fetch(large, "(UID RFC822.SIZE BODY.PEEK[HEADER])")
                found += [(m, True) for m in heads]
            moves = defaultdict(list)
            for message, too_large in sorted(found, key=lambda item: item[0].uid):
                folder, duplicate = await self._archive(p, message, too_large=too_large)
                moves[folder].append(message.uid)
                fetched += 1
                duplicates += duplicate
                processed += not duplicate
            moved += await self._move(session, p, moves)
        return InboxResult(fetched, processed, duplicates, moved)

    async def _known(self, p: _Pass, uids: list[int]) -> dict[int, str]:
        """Folders of the UIDs archived before under this UIDVALIDITY; marks vanished rows moved."""
        known: dict[int, str] = {}
        present = set(uids)
        async with self._engine.begin() as conn:
            mine = (inbox.c.mailbox == self.mailbox) & (inbox.c.uidvalidity == p.uidvalidity)
            for start in range(0, len(uids), 500):
                chunk = uids[start : start + 500]
                query = select(inbox.c.uid, inbox.c.folder).where(mine & inbox.c.uid.in_(chunk))
                for uid, folder in await conn.execute(query):
                    known[uid] = folder or p.attention
            # Moved by a MOVE whose answer we never saw (connection lost after sending it).
            unmoved = select(inbox.c.id, inbox.c.uid).where(mine & ~inbox.c.moved)
            gone = [row_id for row_id, uid in await conn.execute(unmoved) if uid not in present]
            if gone:
                await conn.execute(update(inbox).where(inbox.c.id.in_(gone)).values(moved=True))
        return known

    async def _archive(self, p: _Pass, message: Fetched, *, too_large: bool) -> tuple[str, bool]:
        """Store and process one mail in one transaction; return (target folder, duplicate)."""
        raw = message.data
        digest = hashlib.sha256((b"header-only\0" if too_large else b"") + raw).hexdigest()
        mid = message_id(raw)
        extra: dict[str, Any] = {"mailbox": self.mailbox, "uid": message.uid, "message_id": mid}
        async with self._engine.connect() as conn:
            transaction = await conn.begin()
            earlier = await conn.execute(
                select(inbox.c.id, inbox.c.folder).where(inbox.c.sha256 == digest)
            )
            first = earlier.first()
            if first is not None:
                await self._checkpoint(conn, p, message.uid)
                await transaction.commit()
                log.info("duplicate of inbox row %s, not processed again", first.id, extra=extra)
                return first.folder or p.attention, True
            now = self._now()
            values = {
                "mailbox": self.mailbox,
                "uidvalidity": p.uidvalidity,
                "uid": message.uid,
                "sha256": digest,
                "message_id": mid,
                "raw": raw,
                "size": message.size if too_large else len(raw),
                "received_at": now,
            }
            row_id = await _insert(conn, values)
            limit = self._settings.max_message_bytes
            try:
                if too_large:
                    reason = f"{message.size} bytes, more than max_message_bytes ({limit})"
                    disposition = Disposition("too-large", reason, attention=True)
                else:
                    disposition = await self._processor(conn, row_id, raw)
            except Exception as exc:
                await transaction.rollback()
                disposition = _failure(exc, extra)
                transaction = await conn.begin()
                row_id = await _insert(conn, values)
            folder = p.attention if disposition.attention else p.processed
            await conn.execute(
                update(inbox)
                .where(inbox.c.id == row_id)
                .values(
                    outcome=disposition.outcome,
                    reason=disposition.reason,
                    network_id=disposition.network_id,
                    participant_id=disposition.participant_id,
                    folder=folder,
                    processed_at=now,
                )
            )
            await self._checkpoint(conn, p, message.uid)
            await transaction.commit()
        log.info("archived as %s", disposition.outcome, extra={**extra, "inbox_id": row_id})
        return folder, False

    async def _checkpoint(self, conn: AsyncConnection, p: _Pass, uid: int) -> None:
        await conn.execute(
            update(imap_state)
            .where(imap_state.c.mailbox == self.mailbox)
            .where(imap_state.c.uidvalidity == p.uidvalidity)
            .where(imap_state.c.last_uid < uid)
            .values(last_uid=uid)
        )

    async def _move(self, session: ImapSession, p: _Pass, moves: dict[str, list[int]]) -> int:
        moved = 0
        for folder, uids in moves.items():
            try:
                await session.move(uids, folder)
            except MailboxError as exc:
                if session.broken:
                    raise
                # A refusal (NO) for these mails must not stop the rest: they stay and are retried.
                log.warning("could not move to %s: %s", folder, exc, extra={"uids": uids})
                continue
            async with self._engine.begin() as conn:
                mine = (inbox.c.mailbox == self.mailbox) & (inbox.c.uidvalidity == p.uidvalidity)
                await conn.execute(
                    update(inbox).where(mine & inbox.c.uid.in_(uids)).values(moved=True)
                )
            moved += len(uids)
        return moved


def _failure(exc: Exception, extra: dict[str, Any]) -> Disposition:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, LeernetError):
        log.warning("message set aside: %s", reason, extra=extra)
    else:
        log.error("processing failed; message set aside", exc_info=exc, extra=extra)
        reason = f"{type(exc).__name__}: {reason}"
    return Disposition("error", reason, attention=True)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _insert(conn: AsyncConnection, values: dict[str, Any]) -> int:
    key = (await conn.execute(insert(inbox).values(values))).inserted_primary_key
    assert key is not None
    return int(key[0])
