"""The inbox's side of the store: raw mail, what became of it, and the checkpoint.

One ``store_batch`` call is one transaction for a FETCH batch: for each mail
the raw bytes are inserted, the processor runs on the same connection and its
disposition is written; then the IMAP checkpoint (UIDVALIDITY + last UID, RFC
3501 2.3.1.1), then one commit (``store``: the same for one mail). A SHA-256
seen before is not processed again. A processor that raises costs one message,
never the loop (STYLE rule 8): the batch is redone one mail per transaction,
where that mail's transaction is rolled back and it is archived as ``error``.

The last line of defence: the processor runs under a CPU-time budget
(``mailer/budget.py``); a mail that exceeds it is archived as ``budget``, set
aside and reported, and the batch goes on. Around each processor call the
in-flight log (``mailer/inflight.py``) notes the mail, so that after a crash
the next start sets that mail aside (``interrupted``) instead of running the
processor on it again. A mail the archive sets aside itself (``error``,
``budget``, ``interrupted``) is reported through ``on_set_aside``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.errors import LeernetError
from leernet.mailer.budget import Budget, BudgetExceeded
from leernet.mailer.checkpoint import Checkpoint
from leernet.mailer.disposition import BatchAware, Disposition, Folders, Processor, SetAside
from leernet.mailer.headers import message_id
from leernet.mailer.inflight import InFlight
from leernet.store.schema import inbox, networks

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncEngine

    from leernet.mailer.imap_responses import Fetched

log = logging.getLogger("leernet.inbox")


# sha256 -> (inbox row id, folder) of the mails archived so far, for one batch.
_Seen = dict[str, tuple[int, str | None]]


class Archive:
    """The archive rows and checkpoint of one mailbox (``user@host/folder``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        mailbox: str,
        processor: Processor,
        now: Callable[[], datetime],
        max_bytes: int,
        *,
        budget: Budget | None = None,
        inflight: InFlight | None = None,
        on_set_aside: SetAside | None = None,
    ) -> None:
        self._engine = engine
        self.mailbox = mailbox
        self._processor = processor
        self._now = now
        self._max_bytes = max_bytes
        self._slugs: dict[int, str] = {}  # network id -> slug, for the log lines
        self.checkpoint = Checkpoint(engine, mailbox)
        self._budget = budget or Budget(0)
        self.inflight = inflight or InFlight(None)
        self._on_set_aside = on_set_aside
        # (uidvalidity, uid) -> set aside without running the processor (over budget, crashed on)
        self.skip: dict[tuple[int, int], Disposition] = {}
        # (uidvalidity, uid) of mails to process one per transaction (a crash while reading ahead)
        self.alone: set[tuple[int, int]] = set()

    async def store_batch(
        self, uidvalidity: int, batch: list[tuple[Fetched, bool]], folders: Folders
    ) -> list[tuple[str, bool]]:
        """Store and process mails ``(message, too_large)`` in one transaction, in order.

        Returns (target folder, duplicate) per mail. The archive rows, every
        processor's effects and the checkpoint commit together or not at all,
        so nothing is applied twice and the MOVE still follows the commit. When
        a processor raises, the batch is rolled back and its mails are stored
        again one transaction each (``store``), so that mail alone is set aside.
        """
        if len(batch) == 1 or any((uidvalidity, m.uid) in self.alone for m, _ in batch):
            return [
                await self.store(uidvalidity, message, folders, too_large=too_large)
                for message, too_large in batch
            ]
        logs: list[tuple[str, dict[str, Any]]] = []
        out: list[tuple[str, bool]] = []
        batch_aware = self._processor if isinstance(self._processor, BatchAware) else None
        async with self._engine.connect() as conn:
            transaction = await conn.begin()
            try:
                # Two lookups for the batch instead of several per mail: the digests seen
                # before, and (by the processor) the tokens and Message-IDs the mails name.
                await self.checkpoint.write_moved(conn)
                seen = await self._seen(conn, [_digest(m, large) for m, large in batch])
                if batch_aware is not None:
                    small = [m.data for m, large in batch if not large]
                    self.inflight.reading_ahead(uidvalidity, [m.uid for m, _ in batch])
                    # One mail's budget for reading all ahead (~1 ms each); over it, the
                    # batch is redone one mail per transaction, each with its own budget.
                    with self._budget.limit():
                        await batch_aware.prepare(conn, small)
                disposed: list[dict[str, Any]] = []
                for message, too_large in batch:
                    folder, duplicate, values = await self._store(
                        conn,
                        uidvalidity,
                        message,
                        folders,
                        too_large=too_large,
                        logs=logs,
                        seen=seen,
                    )
                    out.append((folder, duplicate))
                    if values is not None:
                        disposed.append(values)
                if disposed:
                    await conn.execute(_DISPOSED, disposed)
                await self.checkpoint.advance(conn, uidvalidity, max(m.uid for m, _ in batch))
            except (_ProcessorError, BudgetExceeded):
                await transaction.rollback()
            except BaseException:
                await transaction.rollback()
                raise
            else:
                await transaction.commit()
                self.inflight.committed()
                for text, extra in logs:
                    log.info(text, extra=extra)
                return out
            finally:
                if batch_aware is not None:
                    batch_aware.finish()
        return [
            await self.store(uidvalidity, message, folders, too_large=too_large)
            for message, too_large in batch
        ]

    async def store(
        self, uidvalidity: int, message: Fetched, folders: Folders, *, too_large: bool
    ) -> tuple[str, bool]:
        """Store and process one mail in one transaction; return (target folder, duplicate)."""
        logs: list[tuple[str, dict[str, Any]]] = []
        async with self._engine.connect() as conn:
            await conn.begin()
            try:
                folder, duplicate, values = await self._store(
                    conn, uidvalidity, message, folders, too_large=too_large, logs=logs, alone=True
                )
                if values is not None:
                    await conn.execute(_DISPOSED, values)
                await self.checkpoint.advance(conn, uidvalidity, message.uid)
            except BaseException:
                await conn.rollback()
                raise
            # Not the transaction begun above when a processor error replaced it (``_store``).
            await conn.commit()
        self.inflight.committed()
        for text, extra in logs:
            log.info(text, extra=extra)
        return folder, duplicate

    async def _store(
        self,
        conn: AsyncConnection,
        uidvalidity: int,
        message: Fetched,
        folders: Folders,
        *,
        too_large: bool,
        logs: list[tuple[str, dict[str, Any]]],
        alone: bool = False,
        seen: _Seen | None = None,
    ) -> tuple[str, bool, dict[str, Any] | None]:
        """Archive and process one mail in the open transaction of ``conn``.

        Returns (target folder, duplicate, the disposition row values for
        ``_DISPOSED``, which the caller writes: for a batch, all in one call).
        ``alone``: the transaction holds only this mail, so a processor error
        rolls it back and the mail is archived as ``error``; otherwise the
        error is raised as ``_ProcessorError`` for ``store_batch``. ``seen``:
        the batch's digests archived before (``_seen``), else one query.
        """
        raw = message.data
        digest = _digest(message, too_large)
        mid = message_id(raw)
        extra: dict[str, Any] = {"mailbox": self.mailbox, "uid": message.uid, "message_id": mid}
        if seen is None:
            seen = await self._seen(conn, [digest])
        first = seen.get(digest)
        if first is not None:
            logs.append((f"duplicate of inbox row {first[0]}, not processed again", extra))
            return first[1] or folders.attention, True, None
        now = self._now()
        values = {
            "mailbox": self.mailbox,
            "uidvalidity": uidvalidity,
            "uid": message.uid,
            "sha256": digest,
            "message_id": mid,
            "raw": raw,
            "size": message.size if too_large else len(raw),
            "received_at": now,
        }
        row_id = await _insert(conn, values)
        limit = self._max_bytes
        key = (uidvalidity, message.uid)
        ours = True  # the archive decided, not the processor: the archive has it reported
        try:
            if too_large:
                reason = f"{message.size} bytes, more than max_message_bytes ({limit})"
                disposition = Disposition("too-large", reason, attention=True)
            elif key in self.skip:
                disposition = self.skip.pop(key)
                log.warning("message set aside unprocessed: %s", disposition.reason, extra=extra)
            else:
                disposition = await self._process(conn, row_id, raw, key, digest)
                ours = False
        except OperationalError:
            raise  # the database, not the mail: a full disk or a lock is reported, not set aside
        except (Exception, BudgetExceeded) as exc:
            if isinstance(exc, BudgetExceeded):
                # Not again in the batch's second pass: straight to needs-attention.
                self.skip[key] = _over_budget(exc, extra)
            if not alone:
                raise _ProcessorError from exc
            # Roll back what the processor did; keep the mail, archived as an error.
            await conn.rollback()
            disposition = self.skip.pop(key) if key in self.skip else _failure(exc, extra)
            await conn.begin()
            row_id = await _insert(conn, values)
        if ours and not too_large and self._on_set_aside is not None:
            try:
                await self._on_set_aside(conn, row_id, raw, disposition)
            except OperationalError:
                raise
            except Exception:  # the report failed, not the mail: it is set aside all the same
                log.exception("could not report the mail set aside", extra=extra)
        folder = folders.attention if disposition.attention else folders.processed
        seen[digest] = (row_id, folder)  # a second copy later in this batch is a duplicate
        facts = {
            "event": "inbox.archived",
            "inbox_id": row_id,
            "outcome": disposition.outcome,
            "network": await self._slug(conn, disposition.network_id),
            "folder": folder,
        }
        logs.append((f"archived as {disposition.outcome}", {**extra, **facts}))
        return (
            folder,
            False,
            {
                "row_id": row_id,
                "outcome": disposition.outcome,
                "reason": disposition.reason,
                "network_id": disposition.network_id,
                "participant_id": disposition.participant_id,
                "folder": folder,
                "processed_at": now,
            },
        )

    async def _process(
        self, conn: AsyncConnection, row_id: int, raw: bytes, key: tuple[int, int], digest: str
    ) -> Disposition:
        """The processor on one mail, under the budget and noted in the in-flight log."""
        self.inflight.started(key[0], key[1], digest)
        try:
            with self._budget.limit():
                disposition = await self._processor(conn, row_id, raw)
        except BudgetExceeded:
            # The ``S`` stays until the mail is set aside and committed: should the roll-back
            # fail too, the next pass (``Inbox._recover``) sets it aside without running it.
            raise
        except BaseException:
            self.inflight.ended(*key)  # an error is this process's to handle, not a crash
            raise
        self.inflight.ended(*key)
        return disposition

    async def _slug(self, conn: AsyncConnection, network_id: int | None) -> str | None:
        """The slug an operator greps the log for (read once per network and process)."""
        if network_id is None:
            return None
        if network_id not in self._slugs:
            found = await conn.execute(select(networks.c.slug).where(networks.c.id == network_id))
            self._slugs[network_id] = str(found.scalar() or network_id)
        return self._slugs[network_id]

    async def _seen(self, conn: AsyncConnection, digests: list[str]) -> _Seen:
        """Of these SHA-256 digests, those archived before: digest -> (row id, folder)."""
        rows = await conn.execute(_BY_DIGEST, {"digests": list(set(digests))})
        return {r.sha256: (r.id, r.folder) for r in rows}


class _ProcessorError(Exception):
    """A processor raised inside a batch: the batch is redone one mail per transaction."""


# Built once: constructing a statement costs more than SQLite takes to run it.
_BY_DIGEST = select(inbox.c.sha256, inbox.c.id, inbox.c.folder).where(
    inbox.c.sha256.in_(bindparam("digests", expanding=True))
)
_INSERT = insert(inbox)
_DISPOSED = (
    update(inbox)
    .where(inbox.c.id == bindparam("row_id"))
    .values(
        outcome=bindparam("outcome"),
        reason=bindparam("reason"),
        network_id=bindparam("network_id"),
        participant_id=bindparam("participant_id"),
        folder=bindparam("folder"),
        processed_at=bindparam("processed_at"),
    )
)


def _digest(message: Fetched, too_large: bool) -> str:
    # A mail archived by its header only must not match the same mail fetched whole.
    return hashlib.sha256((b"header-only\0" if too_large else b"") + message.data).hexdigest()


def _over_budget(exc: BudgetExceeded, extra: dict[str, Any]) -> Disposition:
    log.error("processing exceeded its budget; message set aside", extra=extra)
    reason = f"{exc}; set aside unprocessed (LEERNET_MAIL_BUDGET_SECONDS)"
    return Disposition("budget", reason, attention=True)


def _failure(exc: BaseException, extra: dict[str, Any]) -> Disposition:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, LeernetError):
        log.warning("message set aside: %s", reason, extra=extra)
    else:
        log.error("processing failed; message set aside", exc_info=exc, extra=extra)
        reason = f"{type(exc).__name__}: {reason}"
    return Disposition("error", reason, attention=True)


async def _insert(conn: AsyncConnection, values: dict[str, Any]) -> int:
    key = (await conn.execute(_INSERT, values)).inserted_primary_key
    assert key is not None
    return int(key[0])
