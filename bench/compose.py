"""Composing: render the templates, build the iCalendar, write the MIME bytes, store in the outbox.

leernet: ``Factory.invite`` / ``to_participant`` (the planner's real path) for
every member of every network, queued with ``outbox.enqueue`` in one
transaction per network. Baseline: the same subject, texts and calendar built
as an ``EmailMessage`` with ``policy.default`` and ``as_bytes()`` (the usual
way, ~330/s per MAIL-NOTES). Target: >= 1,000 messages/s on one core.
"""

from __future__ import annotations

import tempfile
import time
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from bench import mail
from bench.common import Report
from bench.world import NOW, build_world, settings
from leernet.calendar.invite import request_template
from leernet.mailer.queue import enqueue
from leernet.messages import views
from leernet.messages.factory import Factory, participant_of
from leernet.store import open_store

TARGET = 1000.0


def _email_message(raw_parts: tuple[str, str, str, bytes | None], to: str, mid: str) -> bytes:
    subject, text, html, calendar = raw_parts
    msg = EmailMessage(policy=default)
    msg["From"] = "Lerend netwerk <netwerk@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if calendar is not None:
        msg.add_alternative(
            calendar, maintype="text", subtype="calendar", params={"method": "REQUEST"}
        )
        msg.add_attachment(calendar, maintype="application", subtype="ics", filename="invite.ics")
    return msg.as_bytes()


async def run(quick: bool, repeat: int) -> Report:
    networks = 20 if quick else 100
    report = Report("compose")
    with tempfile.TemporaryDirectory(prefix="leernet-bench-") as tmp:
        world = await build_world(Path(tmp), networks)
        regs = world.registered
        s = settings()
        # Inputs for the baseline: leernet's own rendered texts and calendars.
        f0 = Factory(s)
        base_inputs = []
        for reg in regs:
            for m in reg.active_members:
                net = reg.network
                person = participant_of(net, m)
                r = f0.renderer.render("invite", net.language, views.invite(net, person))
                cal = request_template(
                    net, service_address=s.service_address, sequence=0, dtstamp=NOW
                ).render(person, s.service_address, s.service_name)
                base_inputs.append(((r.subject, r.text, r.html, cal), m.email, "<x@example.org>"))
                r2 = f0.renderer.render(
                    "reminder", net.language, views.reminder(net, person, net.session(2))
                )
                base_inputs.append(
                    ((r2.subject, r2.text, r2.html, None), m.email, "<y@example.org>")
                )
                base_inputs.append(
                    ((r2.subject, r2.text, r2.html, None), m.email, "<z@example.org>")
                )
        lee, lee_only, base = [], [], []
        for rep in range(repeat):
            factory = Factory(s)
            mail.outgoing(factory, regs[:1], NOW)  # compile the templates once, as a daemon has
            engine = await open_store(world.copy(Path(tmp) / f"out{rep}.db"))
            try:
                start = time.perf_counter()
                n = 0
                for reg in regs:
                    batch = mail.outgoing(factory, (reg,), NOW)
                    async with engine.begin() as conn:
                        n += await enqueue(conn, batch, NOW)
                took = time.perf_counter() - start
            finally:
                await engine.dispose()
            lee.append(n / took)
            start = time.perf_counter()
            k = len(mail.outgoing(factory, regs, NOW))
            lee_only.append(k / (time.perf_counter() - start))
            start = time.perf_counter()
            for parts, to, mid in base_inputs:
                _email_message(parts, to, mid)
            base.append(len(base_inputs) / (time.perf_counter() - start))
        n_msgs = len(base_inputs)
        report.add(f"leernet compose+store ({n_msgs} msgs)", lee, "msg/s")
        report.add("leernet compose only", lee_only, "msg/s")
        report.add("baseline EmailMessage(policy.default).as_bytes()", base, "msg/s")
        med = report.rows[0].median
        report.check("compose+store msg/s on one core", med, f">= {TARGET:,.0f}", med >= TARGET)
        report.note(f"ratio vs the EmailMessage baseline: {med / report.rows[2].median:.2f}")
        report.note(
            "mix: per member 1 invite (~35 KB, 8-session series), 1 reminder, 1 eval request"
        )
    return report
