"""A realistic context of every message kind, to render every template once (``leernet check``)."""

from __future__ import annotations

from icalendar.enums import PARTSTAT

from leernet.messages.manager_views import (
    manager_start,
    manager_summary,
    summary_held,
    summary_preview,
)
from leernet.messages.organiser_views import (
    digest,
    low_acceptance,
    notice,
    organiser_lines,
    organiser_preview,
    organiser_started,
    organiser_status,
    rollcall_recorded,
)
from leernet.messages.views import (
    Context,
    DigestData,
    Evaluation,
    RecordedAnswer,
    SharedAnswer,
    Takeaway,
    answer_again,
    cancel_series,
    closing_reflection,
    confirmation,
    eval_reminder,
    eval_request,
    invite,
    invite_update,
    reminder,
    session_questions,
    session_view,
)
from leernet.network.model import Network, Participant, Person


def sample_contexts(network: Network) -> dict[str, Context]:
    """A realistic context for every kind, for ``Renderer.check_all`` (``leernet check``)."""
    people = network.participants or (
        Participant("Bert Claes", "bert.claes@example.com", "Carla Dewit", "carla@example.com"),
    )
    p, s, last = people[0], network.sessions[0], network.sessions[-1]
    answers: dict[str, object] = {
        str(q.number): {"rating": 4, "consent": True, "yes_no": False}.get(q.kind, "Meer tijd.")
        for q in session_questions(network, s)
    }
    data = DigestData(
        s.number,
        {x.email: PARTSTAT.ACCEPTED for x in people[:1]},
        {x.email: True for x in people[:1]},
        (Evaluation(p.email, absent=False, answers=answers),),
    )
    change = f"{s.title}: {session_view(network, s)['when']}"
    return {
        "invite": invite(network, p),
        "invite_update": invite_update(network, p, [change]),
        "cancel_series": cancel_series(network, p),
        "manager_start": manager_start(network, Person(p.manager_name, p.manager_email), [p]),
        "reminder": reminder(network, p, s),
        "eval_request": eval_request(network, p, s),
        "eval_reminder": eval_reminder(network, p, s),
        "confirmation": confirmation(network, p, s, RecordedAnswer.from_mapping(answers)),
        "answer_again": answer_again(network, p, s),
        "closing_reflection": closing_reflection(network, p, "Meer leren.", [Takeaway(1, "Ja.")]),
        "digest": digest(network, data),
        "low_acceptance": low_acceptance(network, s, data.partstat),
        "manager_summary": manager_summary(
            network, p, {s.number}, [SharedAnswer(s.number, "Vraag?", "Antwoord.")], last.end
        ),
        "summary_preview": summary_preview(network, p, "Dag Carla,\n\nSamenvatting.", last.end),
        "summary_held": summary_held(network, p, already_sent=False),
        "organiser_preview": organiser_preview(
            network,
            organiser_name=network.organiser.name,
            language=network.language,
            errors=['rij 7: "jan@" is geen e-mailadres'],
            warnings=["11 deelnemers"],
            expires=last.end,
        ),
        "organiser_started": organiser_started(network, len(people), 1),
        "organiser_lines": organiser_lines(
            network, f"Wijziging: {network.name}", ["Dag An,", "", f"{network.name} 🎉 Ä"]
        ),
        "organiser_status": organiser_status(
            network,
            [
                session_view(network, s)
                | {
                    "accepted": 1,
                    "declined": 0,
                    "no_answer": 0,
                    "present": 1,
                    "evaluations": 1,
                    "rating": "4,0",
                }
            ],
            [{"name": p.name, "marks": "P", "evaluations": 1}],
            0,
        ),
        "notice": notice(
            network,
            title="Titel",
            what_happened="Iets.",
            why="Omdat.",
            what_to_do="Niets.",
            details=["detail"],
        ),
        "rollcall_recorded": rollcall_recorded(network, s, {p.email: True}, ["7"]),
    }
