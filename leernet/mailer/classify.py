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

import codecs
import email
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from enum import StrEnum
from typing import TYPE_CHECKING

from icalendar.enums import PARTSTAT

from leernet.calendar.itip import ItipReply, read_reply
from leernet.mailer import headers as h
from leernet.mailer.charsets import SLOW_CODECS, content_charset
from leernet.mailer.tnef import meeting_response
from leernet.tokens import reply_address, token_from_address

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAX_DEPTH = 24  # MIME nesting we look into; real mail nests 3-4 levels
MAX_PARTS = 400
MAX_HEADER_BYTES = 512 * 1024  # Received chains of real mail stay under 20 KB
MAX_BOUNDARY_LINES = 5000  # parsing cost grows with parts; real mail has fewer than 100
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BOUNCE_TEXT_BYTES = 64 * 1024


class Outcome(StrEnum):
    RSVP = "rsvp"
    EVALUATION = "evaluation"
    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    UNKNOWN = "unknown"
    REJECTED = "rejected"  # a participant was named but verification failed


@dataclass(frozen=True, slots=True)
class Candidate:
    """The participant a token or a sent Message-ID points at (not yet verified)."""

    participant_id: int
    network_id: int
    slug: str
    email: str
    name: str
    series_uid: str
    token: str
    sequence: int = 0  # the SEQUENCE of the latest invite sent to this participant


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


_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery fail|failure notice|"
    r"returned mail|mail delivery|message not delivered|onbestelbaar|niet bezorgd|"
    r"non remis|non distribu|unzustellbar|nicht zustellbar",
    re.IGNORECASE,
)
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

    bounce = _bounce(msg, sender, ctx)
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
        meeting_response(msg, list(_walk(msg)), base["subject"]) if calendar_part is None else None
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


def _walk(msg: Message) -> Iterator[Message]:
    """Parts depth-first without recursion; not into forwarded messages (message/rfc822)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        yield part
        payload = part.get_payload()
        if (
            depth < MAX_DEPTH
            and isinstance(payload, list)
            and part.get_content_maintype() != "message"
        ):
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))


def _calendar_part(msg: Message) -> tuple[bytes | None, bool]:
    """The first calendar part, preferring one whose METHOD is REPLY, and whether it is one.

    Not parsed here: :func:`read_reply` runs only for a verified participant.
    """
    other: bytes | None = None
    for part in _walk(msg):
        ctype = part.get_content_type()
        filename = _raw_filename(part).lower()
        if ctype not in _CALENDAR_TYPES and not filename.endswith(".ics"):
            continue
        data = _decoded_payload(part)
        match = _METHOD_RE.search(data)
        if match and match.group(1).upper() == b"REPLY":
            return data, True
        if other is None:
            other = data
    return other, False


def _raw_filename(part: Message) -> str:
    """The file name as written, not decoded: get_filename() decodes an RFC 2231 value in
    its declared charset, and "punycode" makes that quadratic (0.8 s for 80 kB)."""
    for header, name in (("content-disposition", "filename"), ("content-type", "name")):
        value = part.get_param(name, None, header=header)
        if isinstance(value, tuple):
            value = value[2]  # RFC 2231 (charset, language, value)
        if value:
            return str(value).strip().strip('"')
    return ""


def _decoded_payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return b""
    charset = content_charset(part) or "utf-8"
    if charset.lower() not in ("utf-8", "utf8", "us-ascii", "ascii"):
        try:
            if codecs.lookup(charset).name in SLOW_CODECS:
                return data  # quadratic to decode; a calendar is UTF-8 (RFC 5545 3.1.4)
            return data.decode(charset, errors="replace").encode("utf-8")
        except LookupError:
            return data
    return data


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


def _bounce(
    msg: Message, sender: str | None, ctx: Context
) -> tuple[tuple[str, ...] | None, str, Candidate | None, bool] | None:
    """(failed recipients or None for a non-failure DSN, reason, candidate, attention) or None.

    Anyone can write "Undelivered Mail" from MAILER-DAEMON, so a bounce counts only
    when it refers to a message we sent (its Message-ID in the returned headers,
    In-Reply-To or References, or the token of the address it came back to), and
    only for that message's recipient. Anything else flags nobody.
    """
    ctype = msg.get_content_type()
    report = ctype == "multipart/report" and (
        str(msg.get_param("report-type", "")).lower() == "delivery-status"
    )
    subject = h.decoded(h.header_text(msg, "Subject"))
    loose = sender or "".join(a for _, a in getaddresses(h.all_headers(msg, "From")))
    daemon = loose.lower().partition("@")[0] in _BOUNCE_SENDERS
    null_path = h.header_text(msg, "Return-Path").replace(" ", "") == "<>"
    if not report and not ((daemon or null_path) and _BOUNCE_SUBJECT.search(subject)):
        return None
    failed: list[str] = []
    actions: list[str] = []
    texts: list[str] = []
    for part in _walk(msg):
        ptype = part.get_content_type()
        if ptype == "message/delivery-status":
            for block in _status_blocks(part):
                action = h.header_text(block, "Action").lower()
                if action:  # the per-message block (Reporting-MTA) has none
                    actions.append(action)
                if not action.startswith("failed"):
                    continue
                # RFC 3464 2.3.1: Original-Recipient is the address as we sent it; after
                # alias expansion Final-Recipient names the expanded one (Postfix).
                for name in ("Original-Recipient", "Final-Recipient"):
                    address = _dsn_address(h.header_text(block, name))
                    if address and address not in failed:
                        failed.append(address)
        elif ptype == "text/plain" and sum(map(len, texts)) < _BOUNCE_TEXT_BYTES:
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                texts.append(data[:_BOUNCE_TEXT_BYTES].decode("utf-8", errors="replace"))
    if report and actions and not failed:
        return (
            None,
            f"delivery status notice ({', '.join(sorted(set(actions)))}), no failure",
            None,
            False,
        )
    for value in h.all_headers(msg, "X-Failed-Recipients"):
        failed.extend(a.lower() for _, a in getaddresses([value]) if a and a not in failed)
    if not failed:
        failed = [a for a in h.addresses_in(_bounce_text(texts)) if _outsider(a, loose, ctx)]
    kind = "RFC 3464 delivery status notification" if report else f"bounce {subject[:60]!r}"
    named = ", ".join(failed[:5]) or "no recipient found"
    candidate, how = _bounce_reference(msg, ctx)
    if candidate is None:
        ours = [m for m in returned_message_ids(msg) + h.message_ids(msg) if ctx.sent_to_others(m)]
        if ours:
            reason = f"{kind} of our mail {ours[0]} to someone who is not a participant ({named})"
            return (), reason + ": nobody flagged, read it by hand", None, True
        reason = f"unverified {kind} ({named}): refers to no message the service sent"
        return (), reason, None, False
    if not any(h.same_mailbox(a, candidate.email) for a in failed):
        reason = f"{kind} for our mail to {candidate.email} ({how}) names {named}: nobody flagged"
        return (), reason, candidate, True
    return (candidate.email,), f"{kind}: {candidate.email} ({how})", candidate, False


def _dsn_address(value: str) -> str:
    """The address of an RFC 3464 recipient field (``rfc822; addr``), lower case, or ''."""
    kind, _, address = value.partition(";")
    if kind.strip().lower() != "rfc822":
        return ""
    address = address.strip().strip("<>").lower()
    return address if h.strict_address(address) else ""


def _bounce_reference(msg: Message, ctx: Context) -> tuple[Candidate | None, str]:
    """The participant whose message from us this bounce returns, and how we know."""
    for message_id in returned_message_ids(msg) + h.message_ids(msg):
        candidate = ctx.lookup_sent_message(message_id)
        if candidate is not None:
            return candidate, f"returns {message_id}"
    for address in h.recipient_addresses(msg):
        token = token_from_address(ctx.service_address, address)
        candidate = ctx.lookup_token(token) if token else None
        if candidate is not None:
            return candidate, "sent back to the participant's reply token"
    return None, ""


_RETURNED_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/global",
    "message/global-headers",
)


def returned_message_ids(msg: Message) -> list[str]:
    """Message-IDs of the messages a bounce returns (its message/rfc822 or headers parts)."""
    if not msg.is_multipart():
        return []
    found: list[str] = []
    for part in _walk(msg):
        if part.get_content_type() not in _RETURNED_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            inner = payload[0]
        else:
            text = _decoded_payload(part)[:_BOUNCE_TEXT_BYTES].decode("utf-8", errors="replace")
            inner = HeaderParser(policy=compat32).parsestr(text, headersonly=True)
        message_id = h.own_message_id(inner)
        if message_id and message_id not in found:
            found.append(message_id)
        if len(found) >= 5:
            break
    return found


# Quoted headers of the returned mail and Authentication-Results name senders and
# Message-IDs, never a failed recipient.
_NOT_RECIPIENTS = re.compile(
    r"\b(?:message-id|references|in-reply-to)\s*:(?:\s*<[^<>\s]*>)+"
    r"|\b(?:smtp\.mailfrom|envelope-from|header\.from|smtp\.helo)\s*=\s*\S+",
    re.IGNORECASE,
)


def _bounce_text(texts: list[str]) -> str:
    """A bounce's text without what names no recipient: ``<message@ids>`` and ``smtp.mailfrom=``."""
    return _NOT_RECIPIENTS.sub(" ", "\n".join(texts))


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    return [email.message_from_string(b, policy=compat32) for b in re.split(r"\n\s*\n", text)]


def _outsider(address: str, sender: str, ctx: Context) -> bool:
    """An address in a bounce text that could be the failed recipient."""
    local, _, domain = address.partition("@")
    service_local, _, service_domain = ctx.service_address.lower().partition("@")
    if domain == service_domain and (
        local == service_local or local.startswith(service_local + "+")
    ):
        return False
    return address != sender.lower() and local not in _BOUNCE_SENDERS
