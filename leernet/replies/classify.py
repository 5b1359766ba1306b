"""Decide what an incoming mail is, and whether it may be trusted (DESIGN "Replies are verified").

Rules, in order, each outcome with a reason:

1. too large or unparsable -> UNKNOWN, needs attention;
2. from the service mailbox itself (any plus variant) -> UNKNOWN, never answered (no loops);
3. a bounce: an RFC 3464 DSN, or a MAILER-DAEMON/postmaster "Undeliverable" -> BOUNCE;
   it names a failed recipient only when it returns a message we sent to that
   participant (Message-ID or reply token), else it is archived and flags nobody;
4. an automatic message (RFC 3834 Auto-Submitted, X-Autoreply, Precedence, list
   headers, empty Return-Path, out-of-office subjects in nl/fr/en/de) -> AUTO_REPLY;
   except an iTIP REPLY that a calendar server sent automatically: it is read as
   an RSVP but never answered; an Outlook meeting response without a calendar part
   (a TNEF winmail.dat, or an "Accepted:"/"Geaccepteerd:" subject) is never answered
   and, once verified (steps 5-6), set aside for the organiser (``mailer/tnef.py``);
5. the participant: a reply token in a plus-address of the service mailbox, or,
   for mailboxes without plus addressing, a Message-ID we sent in
   In-Reply-To/References; none -> UNKNOWN, needs attention;
6. verification: From is exactly one plain address equal to the participant's
   (gmail.com = googlemail.com, nothing else), and none of our own mail server's
   Authentication-Results says dmarc=fail/temperror/permerror; failing -> REJECTED;
7. a text/calendar (or application/ics) part with METHOD:REPLY -> RSVP, when its
   UID is the network's series, its one ATTENDEE is the participant and its
   ORGANIZER is absent (Outlook drops it) or ours; DELEGATED needs attention;
8. any other verified reply -> EVALUATION.

Only RSVP and EVALUATION from a verified, non-automatic sender may be answered.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses
from enum import StrEnum
from typing import TYPE_CHECKING

from icalendar.enums import PARTSTAT

from leernet.calendar.itip import ItipReply, read_reply
from leernet.mailer import headers as h
from leernet.mailer.tokens import reply_address, token_from_address
from leernet.records.lookups import Candidate
from leernet.replies.dsn import read_bounce
from leernet.replies.parts import decoded_payload, raw_filename, walk
from leernet.replies.tnef import meeting_response

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_HEADER_BYTES = 512 * 1024  # Received chains of real mail stay under 20 KB
MAX_BOUNDARY_LINES = 5000  # parsing cost grows with parts; real mail has fewer than 100
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class Outcome(StrEnum):
    """What an incoming mail is."""

    RSVP = "rsvp"
    EVALUATION = "evaluation"
    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    UNKNOWN = "unknown"
    REJECTED = "rejected"  # a participant was named but verification failed


@dataclass(frozen=True, slots=True)
class Context:
    """What the store knows, passed in so classification stays pure."""

    service_address: str
    authserv_id: str
    lookup_token: Callable[[str], Candidate | None]
    lookup_sent_message: Callable[[str], Candidate | None]
    organiser_addresses: frozenset[str] = frozenset()
    max_bytes: int = 25 * 1024 * 1024
    # A Message-ID we sent to someone who is not a participant (a manager, the organiser).
    sent_to_others: Callable[[str], bool] = lambda _message_id: False


@dataclass(frozen=True, slots=True)
class Classification:
    """What a mail is, who sent it, and whether that is verified."""

    outcome: Outcome
    reason: str
    candidate: Candidate | None = None  # verified for RSVP/EVALUATION only
    itip: ItipReply | None = None
    bounced_recipients: tuple[str, ...] = ()
    message_id: str = ""
    from_address: str = ""
    subject: str = ""
    answer_to_service: bool = False  # may anything be sent back (No loops)
    attention: bool = False  # goes to needs-attention and the organiser is told
    stale: bool = False  # the REPLY answers an older SEQUENCE than the latest invite
    meeting_response: str = ""  # a verified Outlook response without calendar: its answer


# Unambiguous out-of-office subjects (Outlook, Gmail, Exchange in nl/fr/en/de).
_OOF_SUBJECT = re.compile(
    r"^\s*(automatisch antwoord|automatische? (antwort|reply)|réponse automatique|"
    r"reponse automatique|out of (the )?office|automatic reply|auto(matic)?[- ]?reply|"
    r"abwesenheitsnotiz|afwezigheidsbericht|afwezigheidsmelding|absence du bureau)\b",
    re.IGNORECASE,
)
# "afwezig"/"absent" is also how a participant answers an evaluation (DESIGN), so
# these subjects count only on mail without a reply token: RFC 3834 responders
# answer the envelope sender, participants answer our Reply-To (the token address).
_AWAY_SUBJECT = re.compile(r"^\s*(afwezig|absent|absence|abwesend)\b", re.IGNORECASE)
_CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")
_METHOD_RE = re.compile(rb"^METHOD:\s*([A-Za-z-]+)", re.IGNORECASE | re.MULTILINE)


def classify(raw: bytes, ctx: Context, msg: Message | None = None) -> Classification:
    """Classify one raw message; never raises, every outcome carries a reason.

    ``msg`` is ``raw`` already parsed by ``read_message`` (it is parsed here otherwise).
    """
    try:
        if msg is None:
            read = read_message(raw, ctx.max_bytes)
            if isinstance(read, Classification):
                return read
            msg = read
        return _classify(msg, ctx)
    except Exception as exc:  # a bug or a parser edge case must not stop the inbox
        reason = f"could not be classified: {type(exc).__name__}: {exc}"[:300]
        return Classification(Outcome.UNKNOWN, reason, attention=True)


def read_message(raw: bytes, max_bytes: int) -> Message | Classification:
    """``raw`` parsed (compat32: 4.6x cheaper than policy.default), or why it cannot be.

    The size and shape caps come before the parser, so no mail can make it slow or deep.
    Never raises.
    """
    try:
        return _read_message(raw, max_bytes)
    except Exception as exc:
        reason = f"could not be read: {type(exc).__name__}: {exc}"[:300]
        return Classification(Outcome.UNKNOWN, reason, attention=True)


def _read_message(raw: bytes, max_bytes: int) -> Message | Classification:
    if len(raw) > max_bytes:
        reason = f"message of {len(raw)} bytes is larger than {max_bytes}"
        return Classification(Outcome.UNKNOWN, reason, attention=True)
    end = _HEADER_END.search(raw, 0, MAX_HEADER_BYTES + 4)
    if end is None and len(raw) > MAX_HEADER_BYTES:
        reason = f"header block is larger than {MAX_HEADER_BYTES} bytes"
        return Classification(Outcome.UNKNOWN, reason, attention=True)
    if raw.count(b"\n--") > MAX_BOUNDARY_LINES:
        reason = f"more than {MAX_BOUNDARY_LINES} MIME boundaries"
        return Classification(Outcome.UNKNOWN, reason, attention=True)
    try:
        return email.message_from_bytes(raw, policy=compat32)
    except RecursionError:
        return Classification(Outcome.UNKNOWN, "MIME structure nests too deep", attention=True)


def _classify(msg: Message, ctx: Context) -> Classification:
    base = {
        "message_id": h.own_message_id(msg),
        "subject": h.decoded(h.header_text(msg, "Subject"))[:300],
    }
    sender, sender_problem = h.from_address(msg)
    base["from_address"] = sender or h.header_text(msg, "From")[:300]

    def result(outcome: Outcome, reason: str, **kw: object) -> Classification:
        return Classification(outcome, reason, **base, **kw)  # type: ignore[arg-type]

    if _from_service(msg, ctx.service_address):
        return result(Outcome.UNKNOWN, "sent by the service mailbox itself: never answered")

    bounce = read_bounce(msg, sender, ctx)
    if bounce is not None:
        recipients, reason, candidate, attention = bounce
        if recipients is None:
            return result(Outcome.AUTO_REPLY, reason, candidate=candidate)
        # A bounce of our mail that names someone else needs a person; one that refers
        # to nothing we sent is a stranger's and is only archived (no notice floods).
        return result(
            Outcome.BOUNCE,
            reason,
            candidate=candidate,
            bounced_recipients=recipients,
            attention=attention,
        )

    tokens = [
        t
        for t in (token_from_address(ctx.service_address, a) for a in h.recipient_addresses(msg))
        if t
    ]
    # Only the part is found here; it is parsed once the sender is known to be a participant,
    # so a stranger's calendar costs nothing (a bounded scan for METHOD).
    calendar_part, is_reply = _calendar_part(msg)
    # Outlook's response as winmail.dat or only a subject: never an evaluation, never answered.
    meeting = (
        meeting_response(msg, list(walk(msg)), base["subject"]) if calendar_part is None else None
    )
    automatic = (
        meeting.reason if meeting else _automatic(msg, base["subject"], has_token=bool(tokens))
    )
    if automatic and not meeting and not is_reply:
        return result(Outcome.AUTO_REPLY, automatic)

    candidate, how = _candidate(msg, tokens, sender, ctx)
    if candidate is None:
        if how:
            return result(Outcome.REJECTED, how, attention=True)
        if sender and sender in {a.lower() for a in ctx.organiser_addresses}:
            reason = f"mail from the organiser {sender} without a reply token: read it by hand"
            return result(Outcome.UNKNOWN, reason, attention=True)
        reason = "no reply token and no reference to a message the service sent"
        return result(Outcome.UNKNOWN, reason, attention=True)

    if sender is None:
        return result(Outcome.REJECTED, sender_problem, attention=True)
    if not h.same_mailbox(sender, candidate.email):
        reason = f"From {sender} does not match participant {candidate.email} ({how})"
        return result(Outcome.REJECTED, reason, attention=True)
    dmarc = h.dmarc_result(msg, ctx.authserv_id)
    if dmarc in h.DMARC_REJECT:
        reason = f"Authentication-Results of {ctx.authserv_id} says dmarc={dmarc} for {sender}"
        return result(Outcome.REJECTED, reason, attention=True)

    if meeting:  # verified: the organiser reads it (its answer is not recorded by hand here)
        return result(
            Outcome.AUTO_REPLY,
            f"{meeting.reason}; set aside",
            candidate=candidate,
            attention=True,
            meeting_response=meeting.answer,
        )
    answer = not automatic
    calendar = read_reply(calendar_part) if calendar_part is not None else None
    if calendar is None:
        return result(
            Outcome.EVALUATION,
            f"verified reply from {candidate.email} ({how})",
            candidate=candidate,
            answer_to_service=answer,
        )
    return _rsvp(calendar, candidate, ctx, how, answer, result)


def _rsvp(  # noqa: PLR0917 - one call site, the steps of classify() in order
    itip: ItipReply,
    candidate: Candidate,
    ctx: Context,
    how: str,
    answer: bool,
    result: Callable[..., Classification],
) -> Classification:
    def rejected(reason: str) -> Classification:
        return result(Outcome.REJECTED, reason, candidate=None, itip=itip, attention=True)

    if not itip.method and itip.problem:
        reason = f"calendar from {candidate.email}: {itip.problem}"
        return result(Outcome.UNKNOWN, reason, itip=itip, attention=True)
    if itip.method != "REPLY":
        reason = f"calendar METHOD:{itip.method} from {candidate.email} is not a REPLY"
        return result(Outcome.UNKNOWN, reason, itip=itip, attention=True)
    if itip.problem:
        return result(Outcome.UNKNOWN, f"iTIP REPLY: {itip.problem}", itip=itip, attention=True)
    ours = {
        ctx.service_address.lower(),
        reply_address(ctx.service_address, candidate.token).lower(),
    }
    delegated = False
    for part in itip.components:
        if part.uid != candidate.series_uid:
            return rejected(f"UID {part.uid[:100]!r} is not the series {candidate.series_uid}")
        # RFC 5546 3.2.3: a REPLY carries only the replying ATTENDEE (plus delegates).
        mine = [a for a in part.attendees if h.same_mailbox(a.email, candidate.email)]
        if len(mine) != 1:
            found = ", ".join(a.email for a in part.attendees)[:200] or "none"
            return rejected(f"ATTENDEE {found} is not participant {candidate.email}")
        delegated = delegated or mine[0].partstat == PARTSTAT.DELEGATED
        if len(part.attendees) > 1 and mine[0].partstat != PARTSTAT.DELEGATED:
            return rejected(f"REPLY names {len(part.attendees)} ATTENDEEs, not one")
        # Outlook omits ORGANIZER from its REPLY; when present it must be ours.
        if part.organizer is not None and part.organizer not in ours:
            return rejected(f"ORGANIZER {part.organizer[:100]} is not the service")
    partstat = next(a.partstat for a in itip.attendees if h.same_mailbox(a.email, candidate.email))
    stale = itip.sequence < candidate.sequence
    reason = f"iTIP REPLY {partstat} from {candidate.email} ({how})"
    if stale:
        reason += f"; SEQUENCE {itip.sequence} is older than {candidate.sequence}"
    if delegated:
        reason += "; delegated to someone else: the organiser decides"
    return result(
        Outcome.RSVP,
        reason,
        candidate=candidate,
        itip=itip,
        answer_to_service=answer,
        attention=delegated,
        stale=stale,
    )


def _from_service(msg: Message, service_address: str) -> bool:
    service = service_address.lower()
    local, _, domain = service.rpartition("@")
    for _, address in getaddresses(h.all_headers(msg, "From")):
        a_local, _, a_domain = address.lower().rpartition("@")
        if a_domain == domain and (a_local == local or a_local.startswith(local + "+")):
            return True
    return False


def _calendar_part(msg: Message) -> tuple[bytes | None, bool]:
    """The first calendar part, preferring one whose METHOD is REPLY, and whether it is one.

    Not parsed here: :func:`read_reply` runs only for a verified participant.
    """
    other: bytes | None = None
    for part in walk(msg):
        ctype = part.get_content_type()
        filename = raw_filename(part).lower()
        if ctype not in _CALENDAR_TYPES and not filename.endswith(".ics"):
            continue
        data = decoded_payload(part)
        match = _METHOD_RE.search(data)
        if match and match.group(1).upper() == b"REPLY":
            return data, True
        if other is None:
            other = data
    return other, False


def _automatic(msg: Message, subject: str, *, has_token: bool) -> str:
    """Why this is an automatic message (RFC 3834 and what responders really send), or ''."""
    auto = h.header_text(msg, "Auto-Submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if msg.get(name) is not None:
            return f"{name} header"
    precedence = h.header_text(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "mailing list or newsletter (List-Id/List-Unsubscribe)"
    if h.header_text(msg, "Return-Path").replace(" ", "") == "<>":
        return "empty Return-Path (a null envelope sender, RFC 3834 3.3)"
    if _OOF_SUBJECT.match(subject):
        return f"out-of-office subject {subject[:60]!r}"
    if not has_token and _AWAY_SUBJECT.match(subject):
        return f"out-of-office subject {subject[:60]!r} without a reply token"
    return ""


def _candidate(
    msg: Message, tokens: list[str], sender: str | None, ctx: Context
) -> tuple[Candidate | None, str]:
    """The participant named by a token or a sent Message-ID, and how (or why not)."""
    if tokens:
        found = [c for c in (ctx.lookup_token(t) for t in tokens) if c is not None]
        for candidate in found:
            if sender and h.same_mailbox(sender, candidate.email):
                return candidate, "reply token"
        if found:
            return found[0], "reply token"
        return None, f"reply token {tokens[0][:8]}… is not valid for any participant"
    for message_id in h.message_ids(msg):
        referenced = ctx.lookup_sent_message(message_id)
        if referenced is not None:
            return referenced, f"reference to {message_id}"
    return None, ""
