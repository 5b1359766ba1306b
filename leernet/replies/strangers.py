"""One digest a day of the mail strangers sent: counts for the organiser, never their words as ours.

Mail that fails verification (no reply token, no reference to our mail, a From
that is not the participant's) used to queue one notice per mail, quoting its
subject: anyone could flood an organiser, or put a link in front of them in a
mail signed by the service. Now each such mail is counted in one notice per
network (or per admin/organiser, for mail that names no network) and day,
queued for the next 08:00 in the network's zone and rewritten while it waits.

Crash-safe: the counts are read back from the inbox table (the mails set aside
since the digest's period began) the first time a process needs them, then kept
in memory; the outbox row is rewritten in the transaction that archives the
mail, so a mail and its count commit together. A mail is counted once, by its
sha256 (the inbox's own key), even when a batch is rolled back and retried.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.mailer import headers as h
from leernet.mailer.imap_responses import server_folder
from leernet.mailer.queue import enqueue, rewrite_queued
from leernet.messages import keys, notices
from leernet.messages.factory import Factory
from leernet.messages.notices import defuse
from leernet.records import inbox_mail, networks

log = logging.getLogger("leernet.strangers")

HOUR = 8  # the digest goes out at 08:00 in the network's zone
DEFAULT_ZONE = "Europe/Brussels"  # for mail that names no network
OUTCOMES = ("unknown", "rejected")  # classify's outcomes for mail that failed verification
MAX_LINES = 10  # senders listed by name in one digest; the rest are counted
_HEAD_BYTES = 64 * 1024
_DELIMITERS = ("/", ".", "-", "\\")  # IMAP hierarchy delimiters seen in the wild


@dataclass(frozen=True, slots=True)
class Stranger:
    """One mail set aside because its sender could not be verified."""

    sender: str  # the address it claims, lower case; '' when none could be read
    subject: str  # as the sender wrote it (quoted only defused and marked)
    outcome: str  # "unknown" | "rejected"


@dataclass(slots=True)
class _Tally:
    """One open digest's counts, kept as counters: adding a mail costs the same at 10 or 10,000."""

    moment: datetime  # when the digest goes out
    seen: set[str] = field(default_factory=set)  # sha256 of the mails counted
    first: list[Stranger] = field(default_factory=list)  # the first MAX_LINES, named
    outcomes: Counter[str] = field(default_factory=Counter)
    senders: set[str] = field(default_factory=set)
    unnamed: int = 0  # mails whose sender could not be read (each counts as one)

    def add(self, digest: str, stranger: Stranger) -> None:
        if digest in self.seen:
            return
        self.seen.add(digest)
        if len(self.first) < MAX_LINES:
            self.first.append(stranger)
        self.outcomes[stranger.outcome] += 1
        if stranger.sender:
            self.senders.add(stranger.sender)
        else:
            self.unnamed += 1


def moment_after(now: datetime, zone: str) -> datetime:
    """The next 08:00 in ``zone`` strictly after ``now`` (aware, UTC-comparable)."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    at = datetime.combine(local.date(), time(HOUR), tzinfo=tz)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), time(HOUR), tzinfo=tz)
    return at


def _read_head(raw: bytes) -> Message:
    end = raw.find(b"\n\n", 0, _HEAD_BYTES)
    end2 = raw.find(b"\r\n\r\n", 0, _HEAD_BYTES)
    cut = min(e for e in (end, end2, _HEAD_BYTES) if e >= 0)
    return BytesHeaderParser(policy=compat32).parsebytes(raw[:cut])


def stranger_of(raw: bytes | None, outcome: str, sender: str = "", subject: str = "") -> Stranger:
    """A set-aside mail as the digest counts it; sender and subject read from ``raw`` if not given."""
    if raw and not (sender or subject):
        try:
            head = _read_head(raw)
            sender = (h.from_address(head)[0] or "").lower()
            subject = h.decoded(h.header_text(head, "Subject"))
        except Exception:  # a digest line is not worth a failure: counted without a name
            sender, subject = "", ""
    return Stranger(sender.lower()[:254], subject[:300], outcome)


class StrangerDigests:
    """Held by the inbox's processor: the open digest of each network, counted so far."""

    def __init__(self, factory: Factory) -> None:
        self.f = factory
        self._open: dict[int | None, _Tally] = {}

    async def add(
        self,
        conn: AsyncConnection,
        *,
        network_id: int | None,
        raw: bytes,
        stranger: Stranger,
        now: datetime,
    ) -> None:
        """Count one set-aside mail in its network's digest and queue or rewrite that digest."""
        zone = await self._zone(conn, network_id)
        moment = moment_after(now, zone)
        tally = self._open.get(network_id)
        if tally is None or tally.moment != moment:
            tally = await self._load(conn, network_id, moment, now)
            self._open[network_id] = tally
        tally.add(hashlib.sha256(raw).hexdigest(), stranger)
        language_texts = _texts(tally, moment - timedelta(days=1), zone, self.folder)
        key = keys.notice("strangers", network_id or "-", f"{moment:%Y-%m-%d}")
        messages = await notices.compose(
            conn,
            self.f,
            key=key,
            network_id=network_id,
            topic="strangers",
            now=now,
            values=lambda lang: language_texts(lang)[0],
            details=lambda lang: language_texts(lang)[1],
        )
        messages = [replace(m, not_before=moment) for m in messages]
        if await enqueue(conn, messages, now) < len(messages):
            for m in messages:
                if not await rewrite_queued(conn, m):
                    # Only a clock that went back finds it already sent: the mail is still
                    # in the attention folder, and the log says it was not counted.
                    log.warning(
                        "the digest of unverified mail left already; this mail is not in it",
                        extra={"event": "notice.strangers-late", "key": m.key},
                    )

    @property
    def folder(self) -> str:
        """The needs-attention folder."""
        return self.f.settings.imap_attention_folder

    async def _zone(self, conn: AsyncConnection, network_id: int | None) -> str:
        if network_id is None:
            return DEFAULT_ZONE
        return await networks.timezone_of(conn, network_id) or DEFAULT_ZONE

    async def _load(
        self, conn: AsyncConnection, network_id: int | None, moment: datetime, now: datetime
    ) -> _Tally:
        """What the digest due at ``moment`` counts already, read from the inbox table."""
        rows = await inbox_mail.set_aside_between(
            conn,
            network_id=network_id,
            outcomes=OUTCOMES,
            # The folder as the server names it ('leernet.needs-attention' on Dovecot).
            folders=sorted({server_folder(self.folder, d) for d in _DELIMITERS}),
            since=moment - timedelta(days=1),
            until=now,
        )
        tally = _Tally(moment)
        for digest, raw, outcome in rows:
            tally.add(digest, stranger_of(raw, outcome))
        return tally


def _texts(
    tally: _Tally, since: datetime, zone: str, folder: str
) -> Callable[[str], tuple[dict[str, object], list[str]]]:
    count = len(tally.seen)
    made: dict[str, tuple[dict[str, object], list[str]]] = {}

    def texts(lang: str) -> tuple[dict[str, object], list[str]]:
        if lang not in made:
            made[lang] = _make(lang)
        return made[lang]

    def _make(lang: str) -> tuple[dict[str, object], list[str]]:
        reasons = [
            notices.text(lang, f"strangers.{outcome}", n=tally.outcomes[outcome])
            for outcome in OUTCOMES
            if tally.outcomes[outcome]
        ]
        lines = [
            notices.text(
                lang,
                "strangers.line",
                sender=defuse(m.sender or "?", 60),
                subject=defuse(m.subject or "-"),
            )
            for m in tally.first
        ]
        if count > len(tally.first):
            lines.append(notices.text(lang, "strangers.more", n=count - len(tally.first)))
        values: dict[str, object] = {
            "since": f"{since.astimezone(ZoneInfo(zone)):%d/%m/%Y %H:%M}",
            "count": count,
            "senders": len(tally.senders) + tally.unnamed,
            "folder": folder,
            "reason": "; ".join(reasons),
        }
        return values, lines

    return texts
