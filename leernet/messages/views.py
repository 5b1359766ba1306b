"""The context of every message kind, built from the model and from what the store recorded.

Templates only show values (STYLE rule 11): every function here returns a dict
of plain strings, numbers, booleans and lists of dicts, with dates already
written out in the network's zone and language. Every context holds
``network``, ``recipient_name`` and ``language``.

Privacy is decided here, not in templates: ``manager_summary`` only ever
receives answers the participant agreed to share (``SharedAnswer``), and the
organiser's digest carries no names beside free text while the network is
anonymous (``Network.anonymous_digest``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean
from typing import TYPE_CHECKING

from leernet.messages import textfmt
from leernet.network import defaults
from leernet.network.model import Network, Participant, Person, Question, QuestionKind, Session

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import datetime

Context = dict[str, object]

_WORDS = {
    "nl": {"yes": "ja", "no": "nee", "rating": "{} van 5"},
    "en": {"yes": "yes", "no": "no", "rating": "{} out of 5"},
}


@dataclass(frozen=True, slots=True)
class RecordedAnswer:
    """One answer as the store holds it: a rating (int), yes/no (bool) or text (str)."""

    number: int
    value: int | bool | str

    @staticmethod
    def from_mapping(answers: Mapping[str, object]) -> tuple[RecordedAnswer, ...]:
        """From the store's JSON shape ``{"1": 4, "2": "text", "4": true}``."""
        out = [
            RecordedAnswer(int(k), v)
            for k, v in answers.items()
            if k.isdigit() and isinstance(v, int | bool | str)
        ]
        return tuple(sorted(out, key=lambda a: a.number))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One participant's current evaluation of a session."""

    email: str
    absent: bool
    answers: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DigestData:
    """What the store knows about one session, for the organiser's digest."""

    session_number: int
    partstat: Mapping[str, str]  # email -> PARTSTAT (RFC 5545 3.2.12), for this session
    presence: Mapping[str, bool]  # email -> present, from evaluations and roll call
    evaluations: tuple[Evaluation, ...] = ()


@dataclass(frozen=True, slots=True)
class Takeaway:
    """What a participant wrote they take back to their work, after one session."""

    session_number: int
    text: str


@dataclass(frozen=True, slots=True)
class SharedAnswer:
    """An answer the participant agreed to share with their manager (already consent-filtered)."""

    session_number: int
    question: str
    answer: str


def _lang(network: Network) -> str:
    return "en" if network.language == "en" else "nl"


def _network(network: Network | None) -> Context:
    if network is None:
        return dict.fromkeys(
            ("name", "goal", "location", "online_url", "organiser_name", "organiser_email"), ""
        )
    return {
        "name": network.name,
        "goal": network.goal,
        "location": network.location,
        "online_url": network.online_url,
        "organiser_name": network.organiser.name,
        "organiser_email": network.organiser.email,
    }


def first_name(name: str) -> str:
    """What a greeting uses: ``Bert`` for ``Bert Claes``."""
    parts = name.split()
    return parts[0] if parts else ""


def _base(network: Network, recipient_name: str) -> Context:
    return {
        "network": _network(network),
        "recipient_name": recipient_name,
        "recipient_first_name": first_name(recipient_name),
        "language": _lang(network),
    }


def session_view(network: Network, s: Session) -> Context:
    lang = _lang(network)
    local_start = network.local(s.start)
    return {
        "number": s.number,
        "kind": str(s.kind),
        "title": s.title,
        "when": textfmt.when(s.start, s.end, network.zone, lang),
        "date": textfmt.long_date(local_start, lang),
        "time": textfmt.time_range(local_start, network.local(s.end), lang),
        "work_form": s.work_form,
        "speaker": s.speaker,
        "location": s.location or network.location,
        "online_url": s.online_url or network.online_url,
        "cancelled": s.cancelled,
    }


def _questions(questions: Sequence[Question]) -> list[Context]:
    return [{"number": q.number, "text": q.text, "kind": str(q.kind)} for q in questions]


def session_questions(network: Network, session: Session) -> tuple[Question, ...]:
    """The questions of this session's evaluation: the network's plus the seed's extras."""
    return defaults.session_questions(network.questions, session.kind, _lang(network))


def roll_call(network: Network) -> tuple[Participant, ...]:
    """The participants in roll-call order: number ``i`` in the digest is ``result[i - 1]``."""
    return network.participants


def _name(network: Network, email: str) -> str:
    p = network.participant(email)
    return p.name if p is not None and p.name else email


def _names(network: Network, emails: Collection[str]) -> list[str]:
    wanted = {e.lower() for e in emails}
    return [p.name or p.email for p in network.participants if p.email.lower() in wanted]


def _display(value: object, kind: QuestionKind | None, lang: str) -> str:
    words = _WORDS[lang]
    if isinstance(value, bool):
        return words["yes"] if value else words["no"]
    if kind is QuestionKind.RATING and isinstance(value, int):
        return words["rating"].format(value)
    return str(value)


def invite(network: Network, participant: Participant) -> Context:
    return _base(network, participant.name) | {
        "sessions": [session_view(network, s) for s in network.sessions],
        "session_count": len(network.active_sessions),
    }


def invite_update(network: Network, participant: Participant, changes: Sequence[str]) -> Context:
    return invite(network, participant) | {"changes": list(changes)}


def cancel_series(network: Network, participant: Participant) -> Context:
    return _base(network, participant.name)


def manager_start(network: Network, manager: Person, employees: Sequence[Participant]) -> Context:
    names = [e.name for e in employees]
    return _base(network, manager.name) | {
        "employees": names,
        "employee_names": textfmt.join_names(names, _lang(network)),
        "employee_count": len(names),
        "sessions": [session_view(network, s) for s in network.active_sessions],
    }


def reminder(network: Network, participant: Participant, session: Session) -> Context:
    return _base(network, participant.name) | {"session": session_view(network, session)}


def eval_request(
    network: Network,
    participant: Participant,
    session: Session,
    questions: Sequence[Question] | None = None,
) -> Context:
    qs = tuple(questions) if questions is not None else session_questions(network, session)
    consent = next((q.number for q in qs if q.kind is QuestionKind.CONSENT), 0)
    shared = [str(q.number) for q in qs if q.share_with_manager]
    return _base(network, participant.name) | {
        "session": session_view(network, session),
        "questions": _questions(qs),
        "consent_number": consent if shared else 0,
        "shared_numbers": textfmt.join_names(shared, _lang(network)),
    }


eval_reminder = eval_request
answer_again = eval_request


def confirmation(
    network: Network,
    participant: Participant,
    session: Session,
    answers: Sequence[RecordedAnswer],
    *,
    absent: bool = False,
    questions: Sequence[Question] | None = None,
) -> Context:
    lang = _lang(network)
    qs = {q.number: q for q in (questions or session_questions(network, session))}
    given = {a.number: a for a in answers}
    rows = [
        {
            "number": a.number,
            "question": textfmt.shorten(qs[a.number].text) if a.number in qs else "",
            "value": _display(a.value, qs[a.number].kind if a.number in qs else None, lang),
        }
        for a in sorted(answers, key=lambda a: a.number)
    ]
    missing = [
        {"number": n, "question": textfmt.shorten(q.text)}
        for n, q in sorted(qs.items())
        if n not in given
    ]
    return _base(network, participant.name) | {
        "session": session_view(network, session),
        "absent": absent,
        "answers": [] if absent else rows,
        "missing": [] if absent else missing,
        "sharing": None if absent else _sharing(list(qs.values()), given, lang),
    }


def _sharing(
    questions: Sequence[Question], given: Mapping[int, RecordedAnswer], lang: str
) -> dict[str, object] | None:
    """What the manager will see of this reply, in words the participant can check.

    Shared only when this very reply said an unambiguous yes to the consent
    question (``facts.shared_answers``); anything else, no answer included, is
    "not shared", and the participant is told how to change it.
    """
    shared_qs = [q.number for q in questions if q.share_with_manager]
    consent = next((q.number for q in questions if q.kind is QuestionKind.CONSENT), 0)
    if not shared_qs or not consent:
        return None
    said = given.get(consent)
    return {
        "shared": said is not None and said.value is True,
        "questions": _numbers_text(shared_qs, lang),
        "consent_number": consent,
    }


def _numbers_text(numbers: Sequence[int], lang: str) -> str:
    """[2] -> "vraag 2"; [2, 6] -> "vragen 2 en 6" (English: "question 2", "questions 2 and 6")."""
    one, many, sep = ("question", "questions", "and") if lang == "en" else ("vraag", "vragen", "en")
    if len(numbers) == 1:
        return f"{one} {numbers[0]}"
    return f"{many} {', '.join(map(str, numbers[:-1]))} {sep} {numbers[-1]}"


def closing_reflection(
    network: Network, participant: Participant, learning_goals: str, takeaways: Sequence[Takeaway]
) -> Context:
    rows = []
    for t in sorted(takeaways, key=lambda t: t.session_number):
        if not t.text.strip():
            continue
        s = network.session(t.session_number)
        rows.append({"session": s.title, "date": session_view(network, s)["date"], "text": t.text})
    return _base(network, participant.name) | {
        "learning_goals": learning_goals.strip(),
        "takeaways": rows,
    }


def digest(network: Network, data: DigestData) -> Context:
    lang = _lang(network)
    session = network.session(data.session_number)
    status = {e.lower(): s.upper() for e, s in data.partstat.items()}
    presence = {e.lower(): v for e, v in data.presence.items()}
    evaluations = {ev.email.lower(): ev for ev in data.evaluations}
    for email, ev in evaluations.items():
        presence.setdefault(email, not ev.absent)

    def by_status(wanted: str) -> list[str]:
        return [
            p.name or p.email
            for p in network.participants
            if status.get(p.email.lower(), "NEEDS-ACTION") == wanted
        ]

    qs = session_questions(network, session)
    answered = [ev for ev in data.evaluations if not ev.absent]
    ratings, texts = [], []
    for q in qs:
        values = [ev.answers.get(str(q.number)) for ev in answered]
        if q.kind is QuestionKind.RATING:
            nums = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
            ratings.append(
                {
                    "number": q.number,
                    "question": textfmt.shorten(q.text),
                    "count": len(nums),
                    "average": textfmt.decimal(fmean(nums), lang) if nums else "",
                }
            )
        elif q.kind is QuestionKind.TEXT:
            items = [
                {"name": "" if network.anonymous_digest else _name(network, ev.email), "text": v}
                for ev in answered
                if isinstance(v := ev.answers.get(str(q.number)), str) and v.strip()
            ]
            if network.anonymous_digest:
                # Without names, the order must not give away who wrote what either.
                items.sort(key=lambda i: i["text"].casefold())
            texts.append({"number": q.number, "question": q.text, "answers": items})
    pending = [
        p.name or p.email
        for p in network.participants
        if p.email.lower() not in evaluations and presence.get(p.email.lower()) is not False
    ]
    return _base(network, network.organiser.name) | {
        "session": session_view(network, session),
        "total": len(network.participants),
        "accepted": by_status("ACCEPTED"),
        "declined": by_status("DECLINED"),
        "tentative": by_status("TENTATIVE"),
        "no_answer": [
            p.name or p.email
            for p in network.participants
            if status.get(p.email.lower(), "NEEDS-ACTION")
            not in ("ACCEPTED", "DECLINED", "TENTATIVE")
        ],
        "present": _names(network, [e for e, v in presence.items() if v]),
        "absent": _names(network, [e for e, v in presence.items() if not v]),
        "evaluation_count": len(data.evaluations),
        "ratings": ratings,
        "texts": texts,
        "anonymous": network.anonymous_digest,
        "not_evaluated": pending,
        "roll_call": [
            {"number": i, "name": p.name or p.email, "present": presence.get(p.email.lower())}
            for i, p in enumerate(roll_call(network), start=1)
        ],
    }


def low_acceptance(network: Network, session: Session, partstat: Mapping[str, str]) -> Context:
    status = {e.lower(): s.upper() for e, s in partstat.items()}
    accepted = [p for p in network.participants if status.get(p.email.lower()) == "ACCEPTED"]
    declined = [p for p in network.participants if status.get(p.email.lower()) == "DECLINED"]
    silent = [
        p
        for p in network.participants
        if status.get(p.email.lower()) not in ("ACCEPTED", "DECLINED")
    ]
    return _base(network, network.organiser.name) | {
        "session": session_view(network, session),
        "accepted_count": len(accepted),
        "total": len(network.participants),
        "declined": [p.name or p.email for p in declined],
        "no_answer": [p.name or p.email for p in silent],
    }


def manager_summary(
    network: Network,
    participant: Participant,
    attended: Collection[int],
    shared: Sequence[SharedAnswer],
    now: datetime,
) -> Context:
    """The summary before ``participant``'s growth conversation: ``shared`` is all it shows.

    ``shared`` must already be filtered on the participant's consent; nothing
    else about their evaluations reaches this function.
    """
    held = [s for s in network.active_sessions if s.start <= now]
    went = [s for s in held if s.number in attended]
    titles = {s.number: s.title for s in network.sessions}
    return _base(network, participant.manager_name) | {
        "participant_name": participant.name,
        "held_count": len(held),
        "attended_count": len(went),
        "attended": [session_view(network, s) for s in went],
        "topics": [session_view(network, s) for s in held],
        "shared": [
            {
                "session": titles.get(a.session_number, ""),
                "question": a.question,
                "answer": a.answer,
            }
            for a in sorted(shared, key=lambda a: a.session_number)
        ],
    }


def summary_preview(
    network: Network, participant: Participant, manager_text: str, sends_at: datetime
) -> Context:
    """The participant's copy of the summary their manager will get, with how to hold it back."""
    return _base(network, participant.name) | {
        "manager_name": participant.manager_name,
        "manager_first_name": first_name(participant.manager_name),
        "sends_on": textfmt.long_date(network.local(sends_at), _lang(network)),
        "summary_lines": manager_text.rstrip("\n").split("\n"),
    }


def summary_held(network: Network, participant: Participant, *, already_sent: bool) -> Context:
    """The answer to a participant who held back their manager's summary."""
    return _base(network, participant.name) | {
        "manager_name": participant.manager_name,
        "already_sent": already_sent,
    }


def organiser_preview(
    network: Network | None,
    *,
    organiser_name: str,
    language: str,
    errors: Sequence[str],
    warnings: Sequence[str],
    expires: datetime | None,
) -> Context:
    """The network as leernet understood an organiser's request, to confirm by reply.

    ``network`` is None when the request could not be read at all (only errors).
    ``expires`` is None when there is nothing to confirm (errors).
    """
    lang = "en" if language == "en" else "nl"
    out: Context = {
        "network": _network(network),
        "recipient_name": organiser_name,
        "recipient_first_name": first_name(organiser_name),
        "language": lang,
        "errors": list(errors),
        "warnings": list(warnings),
        "can_start": network is not None and not errors and expires is not None,
        "sessions": [],
        "participants": [],
        "questions": [],
        "expires_on": "",
    }
    if network is None:
        return out
    out["sessions"] = [session_view(network, s) for s in network.sessions]
    out["participants"] = [
        {
            "name": p.name,
            "email": p.email,
            "manager": f"{p.manager_name} <{p.manager_email}>" if p.manager_email else "",
            "growth": textfmt.long_date(p.growth_conversation, lang)
            if p.growth_conversation
            else "",
        }
        for p in network.participants
    ]
    out["questions"] = [
        {"number": q.number, "text": q.text, "shared": q.share_with_manager}
        for q in network.questions
    ]
    if expires is not None:
        out["expires_on"] = textfmt.long_date(network.local(expires), lang)
    return out


def organiser_status(
    network: Network,
    sessions: Sequence[Mapping[str, object]],
    people: Sequence[Mapping[str, object]],
    not_sent: int,
) -> Context:
    """The status of a network by mail: per session and per participant (``report.status``)."""
    return _base(network, network.organiser.name) | {
        "slug": network.slug,
        "sessions": list(sessions),
        "people": list(people),
        "not_sent": not_sent,
    }


def organiser_lines(network: Network, subject: str, lines: Sequence[str]) -> Context:
    """A message for the organiser written out line by line (a change and its outcome)."""
    return _base(network, network.organiser.name) | {"subject": subject, "lines": list(lines)}


def organiser_started(network: Network, invites: int, manager_notes: int) -> Context:
    """The organiser's confirmation that their network started, and what is on its way."""
    return _base(network, network.organiser.name) | {
        "invites": invites,
        "manager_notes": manager_notes,
        "slug": network.slug,
    }


def notice(
    network: Network | None,
    *,
    title: str,
    what_happened: str,
    why: str,
    what_to_do: str,
    details: Sequence[str] = (),
    recipient_name: str = "",
    language: str = "nl",
) -> Context:
    lang = _lang(network) if network is not None else ("en" if language == "en" else "nl")
    name = recipient_name or (network.organiser.name if network is not None else "")
    return {
        "network": _network(network),
        "recipient_name": name,
        "recipient_first_name": first_name(name),
        "language": lang,
        "title": title,
        "what_happened": what_happened,
        "why": why,
        "what_to_do": what_to_do,
        "details": list(details),
    }


def rollcall_recorded(
    network: Network,
    session: Session,
    marked: Mapping[str, bool],
    not_understood: Sequence[str] = (),
) -> Context:
    return _base(network, network.organiser.name) | {
        "session": session_view(network, session),
        "present": _names(network, [e for e, v in marked.items() if v]),
        "absent": _names(network, [e for e, v in marked.items() if not v]),
        "not_understood": list(not_understood),
    }


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
        {x.email: "ACCEPTED" for x in people[:1]},
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
