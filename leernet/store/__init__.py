"""The store: schema, engine and migrations (see ``schema`` and ``engine``)."""

from leernet.store.engine import open_store, safe_url
from leernet.store.lock import daemon_lock
from leernet.store.schema import (
    evaluations,
    imap_state,
    inbox,
    metadata,
    networks,
    outbox,
    participants,
    plan_marks,
    presence,
    rsvps,
    sessions,
)

__all__ = [
    "daemon_lock",
    "evaluations",
    "imap_state",
    "inbox",
    "metadata",
    "networks",
    "open_store",
    "outbox",
    "participants",
    "plan_marks",
    "presence",
    "rsvps",
    "safe_url",
    "sessions",
]
