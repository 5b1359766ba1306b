"""The organiser's roll call: a reply to a digest saying who was there."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from email.message import Message
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.errors import ParseError
from leernet.mailer import headers as h
from leernet.mailer.disposition import Disposition
from leernet.mailer.queue import enqueue
from leernet.mailer.tokens import token_matches
from leernet.messages import keys, organiser_views, views
from leernet.messages.keys import read as read_key
from leernet.messages.kinds import Kind
from leernet.records import facts, networks, record
from leernet.records.lookups import Candidate
from leernet.replies.mailtext import reply_text
from leernet.replies.rollcall_text import parse_rollcall

if TYPE_CHECKING:
    from leernet.replies.processor import Processor


async def rollcall(  # noqa: PLR0917 - one caller, the facts of one roll call
    proc: Processor,
    conn: AsyncConnection,
    msg: Message,
    tokens: AbstractSet[str],
    sent: dict[str, tuple[Candidate | None, str]],
    inbox_id: int,
) -> Disposition | None:
    # A roll call answers a digest: without a reference to one it is not a roll call.
    """The organiser's roll call in reply to a digest, or None when the mail is not one."""
    digests = [
        (k, said)
        for _, k in sent.values()
        if (said := read_key(k)) is not None and said.kind is Kind.DIGEST
    ]
    if not digests:
        return None
    digest_key, said = digests[0]
    assert said.slug is not None
    assert said.session is not None
    slug, number = said.slug, said.session
    reg = await networks.get(conn, slug)
    if reg is None:
        return None
    net = reg.network
    sender, _ = h.from_address(msg)
    secret = proc.f.secret
    verified = (
        sender is not None
        and h.same_mailbox(sender, net.organiser.email)
        and any(token_matches(secret, slug, net.organiser.email, tok) for tok in tokens)
        and h.dmarc_result(msg, proc.f.settings.authserv_id) not in h.DMARC_REJECT
    )
    if not verified:
        return None  # classify decides: it will be put aside for a person
    # Numbered as in the digest answered, not as the network is now (an update may
    # have added or removed people since).
    kept = await facts.rollcall_order(conn, digest_key)
    people = kept if kept is not None else tuple(p.email for p in views.roll_call(net))
    try:
        call = parse_rollcall(reply_text(msg), len(people))
    except ParseError:
        return None  # classify decides: an unreadable roll call is set aside for a person
    if call.empty:
        return None
    now = proc.now()
    marked: dict[str, bool] = {}
    for numbers, present in ((call.present, True), (call.absent, False)):
        for i in numbers:
            member = reg.member(people[i - 1])
            if member is None:
                continue
            await record.record_presence(
                conn,
                participant_id=member.id,
                session_number=number,
                present=present,
                source="rollcall",
                now=now,
            )
            marked[member.email] = present
    org = net.organiser
    from leernet.network.model import Person  # noqa: PLC0415

    out = proc.f.to_person(
        net,
        reg.id,
        Person(org.name, org.email),
        key=keys.rollcall_recorded(inbox_id),
        kind=Kind.ROLLCALL_RECORDED,
        context=organiser_views.rollcall_recorded(net, net.session(number), marked, call.unknown),
        now=now,
        auto_submitted="auto-replied",
    )
    await enqueue(conn, [out], now)
    proc.on_queued()
    return Disposition(
        "rollcall",
        f"roll call for session {number}: {len(marked)} marked",
        attention=False,
        network_id=reg.id,
    )
