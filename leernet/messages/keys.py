"""Message keys: the one place that builds them and reads them back.

A key names one message for ever: the outbox is unique on it, so queuing the
same message twice is a no-op, and its Message-ID is an HMAC of it. A planner
step's key is the key of the message it sends to one person, or the stem of
the keys of its messages to many (``recipient(step_key, email)``).

Shapes (``/``-separated; an e-mail address is lower case)::

    invite/<slug>/<email>/<sequence>            invite-update/... likewise
    cancel/<slug>/<email>/<sequence>/series|session-<n>
    manager-start/<slug>/<manager>
    reminder/<slug>/<n>[/v<moved sequence>]     low-acceptance/... likewise
    eval-request/<slug>/<n>  eval-reminder/<slug>/<n>  digest/<slug>/<n>
    closing/<slug>
    manager-summary/<slug>/closing | manager-summary/<slug>/<email>/<day>
    summary-preview/... the same rest as the summary it previews
    confirmation/<slug>/<n>/<email>/<inbox id>  answer-again/..., summary-held/... likewise
    notice/<topic>/<...>/<organiser>            rollcall-recorded/<inbox id>
    organiser-preview/<request id>  organiser-started/<slug>  organiser-changed/<request id>
    organiser-status/<slug>|which/<inbox id>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from leernet.errors import LeernetError
from leernet.messages.kinds import Kind


class MessageKeyError(LeernetError):
    """A string that is not a message key leernet builds."""


_SEP = "/"
_SLUG_AND_NUMBER = 2  # <slug>/<n> begin the rest of a session step's or an answer's key
_SESSION_KINDS = frozenset(
    {Kind.REMINDER, Kind.LOW_ACCEPTANCE, Kind.EVAL_REQUEST, Kind.EVAL_REMINDER, Kind.DIGEST}
)
_ANSWER_KINDS = frozenset({Kind.CONFIRMATION, Kind.ANSWER_AGAIN, Kind.SUMMARY_HELD})


def _join(*parts: object) -> str:
    return _SEP.join(str(p) for p in parts)


# -- the series ------------------------------------------------------------------------


def invite(kind: Kind, slug: str, email: str, sequence: int) -> str:
    """A series invite (``Kind.INVITE``) or its update (``Kind.INVITE_UPDATE``) at ``sequence``."""
    return _join(kind, slug, email, sequence)


def cancel(slug: str, email: str, sequence: int, session: int | None) -> str:
    """A CANCEL of one session, or of the whole series when ``session`` is None."""
    return _join(Kind.CANCEL, slug, email, sequence, f"session-{session}" if session else "series")


def manager_start(slug: str, manager: str) -> str:
    """The note to a manager when the network starts."""
    return _join(Kind.MANAGER_START, slug, manager.lower())


# -- the planner's steps ---------------------------------------------------------------


def session_step(kind: Kind, slug: str, number: int, moved_sequence: int = 0) -> str:
    """A step of one session; a moved session's reminders get a round of their own."""
    if kind not in _SESSION_KINDS:
        raise ValueError(f"{kind} is not a step of a session")
    moved = moved_sequence and kind in (Kind.REMINDER, Kind.LOW_ACCEPTANCE)
    return _join(kind, slug, number, f"v{moved_sequence}") if moved else _join(kind, slug, number)


def closing(slug: str) -> str:
    """The closing reflection of a network (its messages: ``recipient`` of it)."""
    return _join(Kind.CLOSING, slug)


def closing_summary(slug: str) -> str:
    """The manager summaries at the closing, for participants without a growth date."""
    return _join(Kind.MANAGER_SUMMARY, slug, "closing")


def growth_summary(slug: str, email: str, day: date) -> str:
    """The manager summary before one participant's growth conversation on ``day``."""
    return _join(Kind.MANAGER_SUMMARY, slug, email, day.isoformat())


def preview_of(summary_key: str) -> str:
    """The key of the preview of the manager summary keyed ``summary_key``."""
    return _join(Kind.SUMMARY_PREVIEW, _rest(summary_key, Kind.MANAGER_SUMMARY))


def summary_of(key: str) -> str:
    """The key of the manager summary a preview (or the summary itself) is keyed for."""
    kind = parse(key).kind
    if kind not in (Kind.SUMMARY_PREVIEW, Kind.MANAGER_SUMMARY):
        raise MessageKeyError(f"{key!r} is not a manager summary or its preview")
    return _join(Kind.MANAGER_SUMMARY, _rest(key, kind))


def recipient(step_key: str, email: str) -> str:
    """The key of a step's message to one of its many recipients."""
    return _join(step_key, email.lower())


# -- answers and notices ------------------------------------------------------------------


def answer(kind: Kind, slug: str, number: int, email: str, inbox_id: int) -> str:
    """An automatic answer to one reply (a confirmation, "answer again", a summary held)."""
    if kind not in _ANSWER_KINDS:
        raise ValueError(f"{kind} is not an answer to a reply")
    return _join(kind, slug, number, email, inbox_id)


def notice(topic: str, *about: object) -> str:
    """The stem of a notice's keys (``notices.compose`` adds each organiser's address)."""
    return _join(Kind.NOTICE, topic, *about)


def rollcall_recorded(inbox_id: int) -> str:
    """The confirmation of an organiser's roll call."""
    return _join(Kind.ROLLCALL_RECORDED, inbox_id)


def organiser_preview(request_id: int) -> str:
    """The preview of a network (or a change) asked for by mail."""
    return _join(Kind.ORGANISER_PREVIEW, request_id)


def organiser_started(slug: str) -> str:
    """The mail that tells the organiser their network started."""
    return _join(Kind.ORGANISER_STARTED, slug)


def organiser_changed(request_id: int) -> str:
    """The mail that tells the organiser their change was applied."""
    return _join(Kind.ORGANISER_CHANGED, request_id)


def organiser_status(slug: str | None, inbox_id: int) -> str:
    """The status asked by mail; without a slug, the question which network is meant."""
    return _join(Kind.ORGANISER_STATUS, slug or "which", inbox_id)


# -- reading a key back -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a key says: its kind, and the network and session where its shape has them."""

    kind: Kind
    slug: str | None = None
    session: int | None = None


def parse(key: str) -> Parsed:
    """The kind of ``key``, and its network and session where its shape has them."""
    head, _, rest = key.partition(_SEP)
    try:
        kind = Kind(head)
    except ValueError:
        raise MessageKeyError(f"{key!r} is not a message key") from None
    parts = rest.split(_SEP) if rest else []
    if kind in _SESSION_KINDS or kind in _ANSWER_KINDS:
        if len(parts) < _SLUG_AND_NUMBER or not parts[1].isdigit():
            raise MessageKeyError(f"{key!r}: no session number where {kind} keys have one")
        return Parsed(kind, parts[0], int(parts[1]))
    if kind in (
        Kind.NOTICE,
        Kind.ROLLCALL_RECORDED,
        Kind.ORGANISER_PREVIEW,
        Kind.ORGANISER_CHANGED,
    ):
        return Parsed(kind)
    return Parsed(kind, parts[0] if parts else None)


def read(key: str) -> Parsed | None:
    """``parse``, or None for a string that is not one of our keys (it names nothing of ours)."""
    try:
        return parse(key)
    except MessageKeyError:
        return None


def _rest(key: str, kind: Kind) -> str:
    head, _, rest = key.partition(_SEP)
    if head != kind:
        raise MessageKeyError(f"{key!r} is not a {kind} key")
    return rest
