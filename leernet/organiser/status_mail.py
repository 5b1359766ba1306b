"""`status` or `export` by mail: the organiser's network as ``leernet status`` shows it.

The mail goes to the network's organiser only (the caller has verified that the
asker is that organiser). It carries the same facts as ``leernet status`` in
words, and the export as ``.xlsx`` and ``.csv``: the same rows as ``leernet
export`` and nothing more (shared and private answers split as in the CSV).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from leernet import report
from leernet.build import Factory
from leernet.mailer import views
from leernet.mailer.compose import Attachment
from leernet.mailer.outbox import Outgoing
from leernet.model import Person
from leernet.organiser.export_xlsx import export_xlsx
from leernet.registry import Registered
from leernet.textfmt import decimal

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def status_mail(
    conn: AsyncConnection,
    factory: Factory,
    reg: Registered,
    *,
    key: str,
    in_reply_to: str | None,
    now: datetime,
) -> Outgoing:
    """The status of ``reg`` for its organiser, with the export attached."""
    net = reg.network
    found = await report.status(conn, net.slug)
    sessions = []
    for summary in found.sessions:
        s = summary.session
        rating = summary.average_rating
        sessions.append(
            views.session_view(net, s)
            | {
                "accepted": summary.accepted,
                "declined": summary.declined,
                "no_answer": summary.no_answer + summary.tentative,
                "present": summary.present,
                "evaluations": summary.evaluations,
                "rating": decimal(rating, net.language) if rating is not None else "",
            }
        )
    people = [
        {"name": p.name or p.email, "marks": p.marks, "evaluations": p.evaluations}
        for p in found.people
    ]
    data = await report.export(conn, net.slug)
    org = net.organiser
    return factory.to_person(
        net,
        reg.id,
        Person(org.name, org.email),
        key=key,
        kind="organiser-status",
        template="organiser_status",
        context=views.organiser_status(net, sessions, people, len(found.not_sent)),
        now=now,
        in_reply_to=in_reply_to,
        auto_submitted="auto-replied",
        attachments=(
            Attachment(f"{net.slug}.xlsx", XLSX, export_xlsx(data, reg)),
            Attachment(f"{net.slug}.csv", "text/csv", report.export_csv(data, reg)),
        ),
    )
