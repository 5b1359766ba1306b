"""The inbox loop: every mail in the service folder archived, processed once, moved aside.

Exactly once, whatever breaks (DESIGN.md "Nothing is lost"):

1. SELECT the folder. A UIDVALIDITY other than the checkpoint's resets the
   checkpoint (RFC 3501 2.3.1.1: the old UIDs mean nothing any more).
2. UID SEARCH ALL. We empty the folder, so what is in it is the work: new mail,
   and mail whose MOVE never happened (a crash or a dropped connection after the
   commit). A UID already archived under this UIDVALIDITY is only moved again.
   (Not ``UID SEARCH UID last+1:*``: that misses those leftovers, and ``n:*``
   always matches the highest UID even when it is below n, RFC 3501 6.4.8.)
   After a crash, the mail the last process died on (the in-flight log,
   ``mailer/inflight.py``) is archived and set aside first, unprocessed.
3. The rest is fetched in batches of at most 100 (MAIL-NOTES gotcha 1), sizes
   first: a mail over ``max_message_bytes`` is archived by its header only.
   Each batch is stored and processed in one transaction (``Archive.store_batch``;
   a processor error redoes that batch one mail per transaction); a SHA-256 seen
   before is not processed again and goes where its first copy went.
4. After the commits, one UID MOVE per target folder for up to ``MOVE_EVERY`` mails
   (three batches: Dovecot takes ~10 ms per MOVE), then the rows
   are marked moved. A mail committed but not moved yet is only moved by the next
   pass (step 2), never processed again.

``run_forever`` waits in IDLE (RFC 2177) when the server has it, else polls,
and reconnects with exponential backoff (1 s to 5 min) after any failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leernet.errors import LoginRefused, MailboxError
from leernet.mailer.archive import Archive
from leernet.mailer.budget import Budget
from leernet.mailer.disposition import Disposition, Folders, Processor, SetAside
from leernet.mailer.imap import ImapSession
from leernet.mailer.imap_responses import Fetched, server_folder
from leernet.mailer.inflight import InFlight
from leernet.store.engine import store_errors

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncEngine

    from leernet.mailer.oauth import TokenSource
    from leernet.settings import Settings

__all__ = ["Inbox", "InboxResult"]

log = logging.getLogger("leernet.inbox")

BATCH = 100  # MAIL-NOTES gotcha 1: aioimaplib FETCH slows down quadratically with batch size
MOVE_EVERY = 300  # UIDs per UID MOVE (aioimaplib recurses per response line: ~1,000 overflow)
_BACKOFF_FIRST, _BACKOFF_MAX = 1.0, 300.0
# RFC 2177: servers may log a client out after 30 minutes of IDLE; re-issue well before.
_IDLE_MAX = 28 * 60.0


@dataclass(frozen=True, slots=True)
class InboxResult:
    """What one pass over the folder did."""

    fetched: int = 0
    processed: int = 0
    duplicates: int = 0
    moved: int = 0


@dataclass(frozen=True, slots=True)
class _Pass:
    uidvalidity: int
    folders: Folders


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
        on_login_refused: Callable[[Exception], Awaitable[None]] | None = None,
        tokens: TokenSource | None = None,
        on_set_aside: SetAside | None = None,
    ) -> None:
        self._settings = settings
        # Called once per outage when the server refuses our login: only a person can fix
        # a changed or expired password, so the daemon tells one.
        self._on_login_refused = on_login_refused
        self._tokens = tokens  # one OAuth2 token source for the whole process (or None)
        self._batch = max(1, min(batch_size, BATCH))
        self.mailbox = f"{settings.imap_user}@{settings.imap_host}/{settings.imap_folder}"
        self._archive = Archive(
            engine,
            self.mailbox,
            processor,
            now,
            settings.max_message_bytes,
            budget=Budget(settings.mail_budget_seconds),
            inflight=InFlight.for_store(settings.database_url),
            on_set_aside=on_set_aside,
        )
        self._outage = False
        self._now = now
        self.last_contact: datetime | None = None  # the last pass that read the folder

    async def run_once(self) -> InboxResult:
        """Connect, process everything in the folder, log out. Raises ``MailboxError``."""
        session = await ImapSession.open(self._settings, self._tokens)
        try:
            with store_errors("reading the inbox"):
                result = await self._sync(session, await self._prepare(session))
        except BaseException:
            session.close()
            raise
        await session.logout()
        self.last_contact = self._now()
        return result

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Process mail as it comes (IDLE, else polling); reconnect after any failure."""
        stop = stop or asyncio.Event()
        delay = _BACKOFF_FIRST
        while not stop.is_set():
            try:
                session = await ImapSession.open(self._settings, self._tokens)
            except Exception as exc:
                first = not self._outage
                self._failed(exc)
                if first and self._on_login_refused is not None and _refused(exc):
                    try:
                        await self._on_login_refused(exc)
                    except Exception:
                        log.exception("could not queue the notice about the refused login")
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
            self.last_contact = self._now()
            if session.has("IDLE"):
                await session.idle(min(self._settings.imap_idle_seconds, _IDLE_MAX), stop)
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
        await self._archive.checkpoint.begin(uidvalidity)
        p = _Pass(uidvalidity, Folders(processed, attention))
        # At every (re)connection: after a crash, or a pass that failed while a mail was in hand.
        await self._recover(session, p)
        return p

    async def _recover(self, session: ImapSession, p: _Pass) -> None:
        """Set aside, unprocessed, the mail a previous process (or pass) died on; before anything else."""
        archive = self._archive
        left = archive.inflight.interrupted()
        if not left:
            return
        archive.alone |= {key for key in left.read_ahead if key[0] == p.uidvalidity}
        died_on = {uid: digest for uv, uid, digest in left.started if uv == p.uidvalidity}
        found = (
            await session.fetch(sorted(died_on), "(UID RFC822.SIZE BODY.PEEK[])") if died_on else []
        )
        for message in found:
            if hashlib.sha256(message.data).hexdigest() != died_on.get(message.uid):
                continue  # not the mail that was in hand
            reason = (
                "the service stopped while processing this mail (a crash, or it was killed);"
                " set aside unprocessed so that it cannot stop the service again"
            )
            log.error(
                "mail set aside: the last run stopped while processing it",
                extra={"mailbox": self.mailbox, "uid": message.uid},
            )
            archive.skip[(p.uidvalidity, message.uid)] = Disposition(
                "interrupted", reason, attention=True
            )
            await archive.store(p.uidvalidity, message, p.folders, too_large=False)
        archive.inflight.clear()

    async def _sync(self, session: ImapSession, p: _Pass) -> InboxResult:
        uids = await session.search_all()
        known = await self._archive.checkpoint.known(p.uidvalidity, uids, p.folders.attention)
        moves: dict[str, list[int]] = defaultdict(list)
        for uid, folder in known.items():
            moves[folder].append(uid)
        moved = await self._move(session, p, moves)
        moves = defaultdict(list)
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
            ordered = sorted(found, key=lambda item: item[0].uid)
            stored = await self._archive.store_batch(p.uidvalidity, ordered, p.folders)
            for (message, _), (folder, duplicate) in zip(ordered, stored, strict=True):
                moves[folder].append(message.uid)
                fetched += 1
                duplicates += duplicate
                processed += not duplicate
            # One MOVE for several committed batches: the server's cost is mostly per command.
            if sum(len(uids) for uids in moves.values()) >= MOVE_EVERY:
                moved += await self._move(session, p, moves)
                moves = defaultdict(list)
        moved += await self._move(session, p, moves)
        await self._archive.checkpoint.flush_moved()
        return InboxResult(fetched, processed, duplicates, moved)

    async def _move(self, session: ImapSession, p: _Pass, moves: dict[str, list[int]]) -> int:
        moved = 0
        chunks = [
            (folder, uids[i : i + MOVE_EVERY])
            for folder, all_uids in moves.items()
            for uids in [sorted(all_uids)]
            for i in range(0, len(uids), MOVE_EVERY)
        ]
        for folder, uids in chunks:
            try:
                await session.move(uids, folder)
            except MailboxError as exc:
                if session.broken:
                    raise
                # A refusal (NO) for these mails must not stop the rest: they stay and are retried.
                log.warning("could not move to %s: %s", folder, exc, extra={"uids": uids})
                continue
            self._archive.checkpoint.mark_moved(p.uidvalidity, uids)
            moved += len(uids)
        return moved


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _refused(exc: Exception) -> bool:
    """Whether the server said no to our credentials (not merely: could not be reached).

    A typed refusal from the IMAP edge: a timeout during AUTHENTICATE is an outage,
    not a wrong password, and is never told to the organisers as one.
    """
    return isinstance(exc, LoginRefused)
