"""Bounces (RFC 3464 delivery status notifications and what mail servers really send).

A bounce counts only when it returns a message we sent: our Message-ID in its
returned headers, In-Reply-To or References, or a reply token in the address it
came back to; and only for that message's recipient (Original-Recipient before
Final-Recipient). The text scan of a non-standard bounce takes no Message-ID
and no ``smtp.mailfrom=`` value for a failed recipient.
"""

from __future__ import annotations

import email
import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import TYPE_CHECKING

from leernet.mailer import headers as h
from leernet.mailer.tokens import token_from_address
from leernet.replies.parts import decoded_payload, walk

if TYPE_CHECKING:
    from leernet.records.lookups import Candidate
    from leernet.replies.classify import Context

_BOUNCE_TEXT_BYTES = 64 * 1024


_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery fail|failure notice|"
    r"returned mail|mail delivery|message not delivered|onbestelbaar|niet bezorgd|"
    r"non remis|non distribu|unzustellbar|nicht zustellbar",
    re.IGNORECASE,
)


_MAX_RETURNED = 5  # Message-IDs read from a returned message; one is all we need


def read_bounce(
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
    for part in walk(msg):
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
    for part in walk(msg):
        if part.get_content_type() not in _RETURNED_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            inner = payload[0]
        else:
            text = decoded_payload(part)[:_BOUNCE_TEXT_BYTES].decode("utf-8", errors="replace")
            inner = HeaderParser(policy=compat32).parsestr(text, headersonly=True)
        message_id = h.own_message_id(inner)
        if message_id and message_id not in found:
            found.append(message_id)
        if len(found) >= _MAX_RETURNED:
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
