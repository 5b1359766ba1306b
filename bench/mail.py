"""The mail of a benchmark: what leernet sends (through ``Factory``) and what people send back.

``outgoing`` composes the invite, a reminder and an evaluation request for
every member of every network, the way the planner does. ``replies`` answers
them with ``leernet.demo.people`` in the shapes of real clients (Outlook,
Gmail, Apple, Thunderbird iTIP REPLYs; evaluation answers in four quoting
styles; "afwezig"; Exchange out-of-office; Postfix bounces; strangers), so
every participant's reply carries their token and verifies against the store.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from leernet.demo import people
from leernet.mailer.queue import Outgoing
from leernet.messages import views
from leernet.messages.factory import Factory, participant_of
from leernet.records.networks import Member, Registered

TAKEAWAYS = (
    "Het idee om werkdruk elke week kort te bespreken in het teamoverleg.",
    "Een collega uit een andere sector deed het heel anders: dat wil ik uitproberen.",
    "Dat ik niet alles zelf moet oplossen. Samen zoeken werkt beter.",
    "Meer tijd maken voor een echt gesprek met mijn medewerkers.",
)
BETTER = ("Iets meer tijd voor de casussen.", "Prima zo!", "Graag de slides vooraf.")


def invite(f: Factory, reg: Registered, m: Member, now: datetime) -> Outgoing:
    return f.invite(reg, m, now)


def reminder(f: Factory, reg: Registered, m: Member, now: datetime, number: int) -> Outgoing:
    net = reg.network
    session = net.session(number)
    return f.to_participant(
        reg,
        m,
        key=f"reminder/{net.slug}/{number}/{m.email}",
        kind="reminder",
        template="reminder",
        context=views.reminder(net, participant_of(net, m), session),
        now=now,
        not_after=session.start,
    )


def eval_request(f: Factory, reg: Registered, m: Member, now: datetime, number: int) -> Outgoing:
    net = reg.network
    session = net.session(number)
    return f.to_participant(
        reg,
        m,
        key=f"eval-request/{net.slug}/{number}/{m.email}",
        kind="eval-request",
        template="eval_request",
        context=views.eval_request(net, participant_of(net, m), session),
        now=now,
        not_after=now + timedelta(days=7),
        expects_reply=True,
    )


def outgoing(f: Factory, regs: tuple[Registered, ...], now: datetime) -> list[Outgoing]:
    """Per member: the series invite, a reminder and an evaluation request (in that order)."""
    out: list[Outgoing] = []
    for reg in regs:
        for m in reg.active_members:
            out.append(invite(f, reg, m, now))
            out.append(reminder(f, reg, m, now, 2))
            out.append(eval_request(f, reg, m, now, 1))
    return out


def _mid(n: int, who: str) -> str:
    return f"<bench.{n}.{who.split('@', 1)[0]}@{who.rsplit('@', 1)[-1]}>"


def _answers(rng: random.Random, kickoff: bool) -> dict[int, str]:
    answers = {
        1: str(rng.choice((3, 4, 4, 5, 5))),
        2: rng.choice(TAKEAWAYS),
        3: rng.choice(BETTER),
        4: rng.choice(("ja", "nee")),
    }
    if kickoff:
        answers[5] = "Leren hoe andere organisaties werkdruk bespreekbaar maken."
    return answers


def replies(
    sent: list[Outgoing],
    regs: tuple[Registered, ...],
    now: datetime,
    count: int,
    *,
    offset: int = 0,
) -> list[bytes]:
    """``count`` replies to ``sent`` (from ``outgoing``), a realistic mix, in arrival order.

    Per participant, in turn: an iTIP REPLY to the series (client by position),
    the evaluation of session 1 (one of four styles, or "afwezig"), and for some
    a DECLINED for one occurrence (Outlook), an out-of-office (Exchange), a bounce
    of the reminder (Postfix DSN) or a stranger's question. Stops at ``count``.
    """
    rng = random.Random(offset)
    by_key = {o.key: o for o in sent}
    out: list[bytes] = []
    n = offset * 4
    clients = people.CLIENTS
    styles = people.STYLES
    members = [(reg, m) for reg in regs for m in reg.active_members]
    for i, (reg, m) in enumerate(members, start=offset):
        if len(out) >= count:
            break
        net = reg.network
        inv = by_key[f"invite/{net.slug}/{m.email}/{reg.sequence}"].raw
        req = by_key[f"eval-request/{net.slug}/1/{m.email}"].raw
        when = now - timedelta(hours=1 + (i % 48))
        n += 1
        client = clients[i % len(clients)]
        partstat = ("ACCEPTED", "ACCEPTED", "ACCEPTED", "TENTATIVE", "DECLINED")[i % 5]
        out.append(
            people.calendar_reply(
                inv, partstat=partstat, client=client, date=when, message_id=_mid(n, m.email)
            )
        )
        n += 1
        if i % 9 == 4:
            out.append(people.absent_reply(req, date=when, message_id=_mid(n, m.email)))
        else:
            out.append(
                people.evaluation_reply(
                    req,
                    answers=_answers(rng, kickoff=True),
                    style=styles[i % len(styles)],
                    date=when,
                    message_id=_mid(n, m.email),
                )
            )
        extra = i % 6
        n += 1
        if extra in (0, 3):
            slot = net.session(3 + i % 3).slot
            out.append(
                people.calendar_reply(
                    inv,
                    partstat="DECLINED",
                    client="outlook",
                    session_slot=slot,
                    comment="Die dag geef ik zelf een opleiding, sorry!",
                    date=when + timedelta(minutes=5),
                    message_id=_mid(n, m.email),
                )
            )
        elif extra == 1:
            out.append(people.out_of_office(req, date=when, message_id=_mid(n, m.email)))
        elif extra == 5 and i % 12 == 5:
            rem = by_key[f"reminder/{net.slug}/2/{m.email}"].raw
            out.append(
                people.bounce(
                    rem,
                    failed_recipient=m.email,
                    reporting_mta="mx.bench.invalid",
                    date=when,
                    message_id=_mid(n, "dsn@mx.bench.invalid"),
                )
            )
        elif extra == 2 and i % 30 == 2:
            out.append(
                people.stranger_mail(
                    sender="info@opleidingen-voorbeeld.example",
                    to="netwerk@example.org",
                    date=when,
                    message_id=_mid(n, "info@opleidingen-voorbeeld.example"),
                )
            )
    return out[:count]
