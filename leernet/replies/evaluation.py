"""A verified participant's reply in words.

Evaluation answers, a message for the organiser, or an answer to the preview of
their manager's summary.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.errors import ParseError
from leernet.mailer.disposition import Disposition
from leernet.messages import manager_views, views
from leernet.messages.factory import participant_of
from leernet.messages.keys import read as read_key
from leernet.messages.kinds import Kind
from leernet.network.model import QuestionKind
from leernet.records import facts, record, summaries
from leernet.records.networks import Member, Registered
from leernet.replies.answers import new_text, parse_answers
from leernet.replies.consent import Said, read_yes_no
from leernet.replies.mailtext import reply_text

if TYPE_CHECKING:
    from leernet.replies.processor import Mail, Processor


_EVAL_KINDS = frozenset(
    {Kind.EVAL_REQUEST, Kind.EVAL_REMINDER, Kind.CONFIRMATION, Kind.ANSWER_AGAIN}
)
_SESSION_NUMBER = re.compile(r"\b(?:sessie|session|bijeenkomst)\s*(\d{1,2})\b", re.IGNORECASE)
_HOLD_NOTE = {
    "nl": {
        False: "Houdt de samenvatting voor de leidinggevende tegen (die wordt niet verstuurd):",
        True: "Vraagt de samenvatting tegen te houden, maar die was al verstuurd:",
    },
    "en": {
        False: "Holds back the summary for their manager (it will not be sent):",
        True: "Asks to hold back the summary, but it had already been sent:",
    },
}


def session_of(proc: Processor, reg: Registered, sent_keys: list[str], subject: str) -> int | None:
    """Which session a reply answers, or None when it is a message for the organiser.

    In order: the evaluation mail it refers to (In-Reply-To/References); a session
    title or number in its subject; else, for a reply that refers to none of our
    mail, the latest session that has ended.
    """
    for key in sent_keys:
        said = read_key(key)
        if said is not None and said.kind in _EVAL_KINDS and said.session is not None:
            return said.session
    net = reg.network
    wanted = subject.casefold()
    titled = [s for s in net.active_sessions if s.title.casefold() in wanted]
    if titled:
        return max(titled, key=lambda s: len(s.title)).number
    numbered = _SESSION_NUMBER.search(subject)
    if numbered and any(s.number == int(numbered.group(1)) for s in net.active_sessions):
        return int(numbered.group(1))
    if sent_keys:
        return None  # a reply to an invite or a reminder: for the organiser
    ended = [s for s in net.active_sessions if s.end <= proc.now()]
    return max(ended, key=lambda s: s.end).number if ended else None


async def evaluation(proc: Processor, conn: AsyncConnection, mail: Mail) -> Disposition:
    """A verified reply in words: evaluation answers, a message for the organiser, or a hold."""
    c, msg, sent, inbox_id = mail.c, mail.msg, mail.sent, mail.inbox_id
    cand = c.candidate
    assert cand is not None
    reg = await proc._registered(conn, cand.network_id)
    member = reg.member(cand.email)
    assert member is not None
    net = reg.network
    keys = [k for _, k in sent.values()]
    try:
        body = reply_text(msg)
    except ParseError as exc:
        return await proc._unreadable(conn, mail, reg.id, member.id, exc)
    previews = [k for k in keys if (said := read_key(k)) and said.kind is Kind.SUMMARY_PREVIEW]
    if previews:
        return await summary_reply(
            proc, conn, mail, reg, member, preview_key=previews[0], body=body
        )
    number = session_of(proc, reg, keys, c.subject)
    if number is None:
        # Not an evaluation: a message for the organiser (never answered automatically).
        try:
            text = new_text(body, net.language)[:4000]
        except ParseError as exc:
            return await proc._unreadable(conn, mail, reg.id, member.id, exc)
        await proc._forward(conn, mail, reg.id, member, text.splitlines()[:60])
        proc.on_queued()
        return Disposition(
            "message",
            f"a message from {cand.email} for the organiser",
            attention=False,
            network_id=reg.id,
            participant_id=member.id,
        )
    session = net.session(number)
    questions = facts.questions_of(net, number)
    try:
        parsed = parse_answers(body, questions, net.language)
    except ParseError as exc:
        return await proc._unreadable(conn, mail, reg.id, member.id, exc)
    person = participant_of(net, member)
    now = proc.now()
    if parsed.empty:
        reason = f"reply from {cand.email} for session {number}: no answers could be read"
        context = views.eval_request(net, person, session, questions)
        await proc._answer(
            conn, mail, reg, member, kind=Kind.ANSWER_AGAIN, number=number, context=context
        )
        return Disposition(
            "evaluation", reason, attention=False, network_id=reg.id, participant_id=member.id
        )
    answers = dict(parsed.answers)
    consent_numbers = {str(q.number) for q in questions if q.kind is QuestionKind.CONSENT}
    if not parsed.absent and set(answers) <= consent_numbers:
        # Only the consent question, as the confirmation invites ("4. ja"): it changes
        # that answer and keeps the others; it is a new statement of its own.
        earlier = await facts.current_evaluation(conn, member.id, number)
        if earlier is not None and not earlier.absent:
            answers = {**earlier.answers, **answers}
    await record.record_evaluation(
        conn,
        participant_id=member.id,
        session_number=number,
        absent=parsed.absent,
        answers=answers,
        received_at=now,
        inbox_id=inbox_id,
    )
    context = views.confirmation(
        net,
        person,
        session,
        views.RecordedAnswer.from_mapping(answers),
        absent=parsed.absent,
        questions=questions,
    )
    await proc._answer(
        conn, mail, reg, member, kind=Kind.CONFIRMATION, number=number, context=context
    )
    what = "absent" if parsed.absent else f"{len(parsed.answers)} answer(s)"
    return Disposition(
        "evaluation",
        f"{c.reason}: session {number}, {what}",
        attention=False,
        network_id=reg.id,
        participant_id=member.id,
    )


async def summary_reply(
    proc: Processor,
    conn: AsyncConnection,
    mail: Mail,
    reg: Registered,
    member: Member,
    *,
    preview_key: str,
    body: str,
) -> Disposition:
    """A reply to the preview of a manager summary: anything but a plain yes holds it back.

    "nee", "no" or "stop" is what the preview asks for; a question or any other
    text also holds the summary (fail safe) and goes to the organiser to answer.
    """
    net = reg.network
    try:
        text = new_text(body, net.language)[:4000]
    except ParseError:
        text = ""  # unreadable: not a plain yes, so the summary is held (fail safe)
    said = read_yes_no(text)

    def done(outcome: str, reason: str) -> Disposition:
        return Disposition(
            outcome, reason, attention=False, network_id=reg.id, participant_id=member.id
        )

    if said is Said.YES:
        return done("summary-ok", f"{member.email} agreed to the summary")
    hold = await summaries.hold_summary(
        conn,
        preview_key=preview_key,
        participant_id=member.id,
        now=proc.now(),
        inbox_id=mail.inbox_id,
    )
    if not hold.found:
        return done("summary-hold", "no preview for this reply")
    if hold.already_sent or said is Said.UNKNOWN:
        # The organiser answers what a template cannot: a late hold, or a question.
        note = _HOLD_NOTE[net.language][hold.already_sent]
        await proc._forward(conn, mail, reg.id, member, [note, "", *text.splitlines()[:60]])
    context = manager_views.summary_held(
        net, participant_of(net, member), already_sent=hold.already_sent
    )
    await proc._answer(conn, mail, reg, member, kind=Kind.SUMMARY_HELD, number=0, context=context)
    what = "too late: already sent" if hold.already_sent else "held back"
    return done("summary-hold", f"manager summary of {member.email} {what}")
