"""The database schema (SQLAlchemy Core), portable between SQLite and PostgreSQL.

Times are stored as aware UTC datetimes (``UtcDateTime``), raw mail as bytes,
structured answers as JSON text. Every change to this file needs a numbered
migration in ``leernet.store.migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as well as PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store an aware datetime as UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetime given to the store; use aware UTC datetimes"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002 - SQLAlchemy's signature
        """Read a stored datetime back as aware UTC."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

networks = Table(
    "networks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("source", Text, nullable=False),  # the network file as registered (TOML)
    Column("series", JSON, nullable=False),  # first, every_weeks, count, minutes: fixed at start
    Column(
        "sequence", Integer, nullable=False, default=0
    ),  # the invite's SEQUENCE (RFC 5545 3.8.7.4)
    Column("language", String(8), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column(
        "followups", JSON, nullable=False
    ),  # the [followups] timings, for the planner's SQL pass
    Column("organiser_email", String(254), nullable=False),
    Column("first_start", UtcDateTime, nullable=False),
    Column("last_end", UtcDateTime, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("purged_at", UtcDateTime),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start", UtcDateTime, nullable=False),
    Column("end", UtcDateTime, nullable=False),
    Column("slot", UtcDateTime, nullable=False),  # RECURRENCE-ID
    Column("cancelled", Boolean, nullable=False, default=False),
    # SEQUENCE at which the time last changed: a REPLY to an older SEQUENCE does not count.
    Column("moved_sequence", Integer, nullable=False, default=0),
    UniqueConstraint("network_id", "number"),
    Index("ix_sessions_start", "start"),
    Index("ix_sessions_end", "end"),
)

participants = Table(
    "participants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(254), nullable=False),  # lower case
    Column("name", String(200), nullable=False),
    Column("manager_name", String(200), nullable=False, default=""),
    Column("manager_email", String(254), nullable=False, default=""),
    Column("token", String(32), nullable=False, unique=True),
    Column("growth_conversation", Date),
    Column("added_at", UtcDateTime, nullable=False),
    Column("removed_at", UtcDateTime),
    Column("bounced_at", UtcDateTime),  # the address bounced: flagged for the organiser
    Column("bounce_reason", Text),
    UniqueConstraint("network_id", "email"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(300), nullable=False, unique=True),  # e.g. eval-request/<net>/<n>/<email>
    Column("network_id", ForeignKey("networks.id", ondelete="CASCADE")),
    Column("kind", String(40), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("message_id", String(300), nullable=False, unique=True),
    # The bytes live in ``outbox_body`` (v3): SQLite rewrites a whole row on UPDATE, and
    # each state change (queued -> sending -> sent) would otherwise copy ~13 KB of mail.
    Column(
        "state",
        String(16),
        nullable=False,
        default="queued",  # mailer.queue.OutboxState
    ),  # queued|sending|sent|deferred|failed|skipped|cancelled
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("not_after", UtcDateTime),  # past this moment it is skipped, not sent late
    Column("sent_at", UtcDateTime),
    Column("last_error", Text),
    Column("smtp_code", Integer),
    # v6: the incoming mail this message is about (a notice quoting or naming it), so that
    # erasing a participant finds what quotes their mail without reading keys.
    Column("about_inbox_id", Integer),
    Index("ix_outbox_due", "state", "next_attempt_at"),
    Index("ix_outbox_network", "network_id", "kind"),
    Index("ix_outbox_recipient", "recipient", "created_at"),  # v2: the confirmation rate limit
    Index("ix_outbox_about", "about_inbox_id"),  # v6
)

outbox_body = Table(
    "outbox_body",
    metadata,
    # Written once by enqueue; only erase and purge blank it (b"").
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True),
    Column("raw", LargeBinary, nullable=False),
)

imap_state = Table(
    "imap_state",
    metadata,
    Column("mailbox", String(300), primary_key=True),  # user@host/folder
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False, default=0),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox", String(300), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("message_id", String(998)),
    Column("raw", LargeBinary),  # emptied by erase/purge; the row (and its hash) stays
    Column("size", Integer, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed_at", UtcDateTime),
    Column(
        "outcome", String(32)
    ),  # rsvp|evaluation|rollcall|auto-reply|bounce|unknown|rejected|duplicate
    Column("reason", Text),
    Column("network_id", ForeignKey("networks.id", ondelete="SET NULL")),
    Column("participant_id", ForeignKey("participants.id", ondelete="SET NULL")),
    Column("folder", String(300)),  # where the IMAP message was moved
    Column("moved", Boolean, nullable=False, default=False),
    UniqueConstraint("mailbox", "uidvalidity", "uid"),
    Index("ix_inbox_message_id", "message_id"),
)

rsvps = Table(
    "rsvps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("participant_id", ForeignKey("participants.id", ondelete="CASCADE"), nullable=False),
    Column("session_number", Integer, nullable=False),  # 0 = the whole series
    Column("partstat", String(16), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("sequence", Integer, nullable=False, default=0),
    Column("dtstamp", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Column("inbox_id", ForeignKey("inbox.id", ondelete="SET NULL")),
    UniqueConstraint("participant_id", "session_number"),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("participant_id", ForeignKey("participants.id", ondelete="CASCADE"), nullable=False),
    Column("session_number", Integer, nullable=False),
    Column("absent", Boolean, nullable=False, default=False),
    Column("answers", JSON, nullable=False),  # {"1": 4, "2": "text", "4": true}
    Column("received_at", UtcDateTime, nullable=False),
    Column("inbox_id", ForeignKey("inbox.id", ondelete="SET NULL")),
    Column("current", Boolean, nullable=False, default=True),  # older replies stay as history
    Index("ix_evaluations_current", "participant_id", "session_number", "current"),
)

presence = Table(
    "presence",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("participant_id", ForeignKey("participants.id", ondelete="CASCADE"), nullable=False),
    Column("session_number", Integer, nullable=False),
    Column("present", Boolean, nullable=False),
    Column("source", String(16), nullable=False),  # evaluation | rollcall
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("participant_id", "session_number"),
)

plan_marks = Table(
    "plan_marks",
    metadata,
    # One row per planned step (e.g. "eval-request/<slug>/3") once its messages are queued
    # or skipped: later planner passes skip it without loading the network.
    Column("key", String(300), primary_key=True),
    Column("network_id", ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("outcome", String(16), nullable=False),  # queued | skipped
    Column("done_at", UtcDateTime, nullable=False),
)

summary_previews = Table(
    "summary_previews",
    metadata,
    # What a participant was shown of their manager's summary before it goes out (v4): the
    # summary sends exactly this (less anything consent no longer allows), or nothing when held.
    Column("summary_key", String(300), primary_key=True),  # the manager summary's outbox key
    Column("preview_key", String(300), nullable=False, unique=True),  # the preview's outbox key
    Column("participant_id", ForeignKey("participants.id", ondelete="CASCADE"), nullable=False),
    Column("attended", JSON, nullable=False),  # session numbers
    Column("shared", JSON, nullable=False),  # [{"session": n, "question": text, "answer": text}]
    Column("shown_at", UtcDateTime, nullable=False),  # the moment the summary describes
    Column("held_at", UtcDateTime),  # the participant asked to hold it back
    Column("hold_inbox_id", ForeignKey("inbox.id", ondelete="SET NULL")),
)

service_state = Table(
    "service_state",
    metadata,
    # Small facts the running service keeps for `leernet health` and itself (v5): the last
    # IMAP contact, the last heartbeat with the queue depth.
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False, default=""),
    Column("updated_at", UtcDateTime, nullable=False),
)

rollcall_orders = Table(
    "rollcall_orders",
    metadata,
    # The numbering of the participants in one digest (v5): the organiser's "afwezig: 2"
    # means the second person of THAT digest, even after an update changed the list.
    Column("digest_key", String(300), primary_key=True),
    Column("network_id", ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("emails", JSON, nullable=False),  # number i is emails[i - 1]
)

organiser_requests = Table(
    "organiser_requests",
    metadata,
    # A network an organiser asked for by mail (v5): previewed to them, started only by a
    # reply to that preview carrying its token, and only once.
    Column("id", Integer, primary_key=True),
    Column("token", String(32), nullable=False, unique=True),  # the preview's reply token
    Column("organiser_email", String(254), nullable=False),  # lower case, verified sender
    Column("slug", String(100), nullable=False),
    Column("source", Text, nullable=False),  # the network file as understood
    Column("calendar", LargeBinary),  # the organiser's own series, to accept it on start
    Column("created_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),  # started (or found already started): never again
    Column("network_id", ForeignKey("networks.id", ondelete="SET NULL")),
    Column("inbox_id", ForeignKey("inbox.id", ondelete="SET NULL")),
    Index("ix_organiser_requests_sender", "organiser_email", "created_at"),
)

SCHEMA_VERSION = 6
