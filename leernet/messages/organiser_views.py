"""The contexts of the organiser's mail: digest, low acceptance, previews, status, notices, roll call."""

from __future__ import annotations

from statistics import fmean
from typing import TYPE_CHECKING

from icalendar.enums import PARTSTAT

from leernet.messages import textfmt
from leernet.messages.views import (
    Context,
    DigestData,
    base_context,
    first_name,
    name_of,
    names_of,
    network_context,
    roll_call,
    session_questions,
    session_view,
)
from leernet.network.model import Network, QuestionKind, Session
from leernet.network.model import language as as_language

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime


def digest(network: Network, data: DigestData) -> Context:
    """The context of the organiser's digest after a session (names only when not anonymous)."""
    lang = network.language
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
            if status.get(p.email.lower(), PARTSTAT.NEEDS_ACTION) == wanted
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
                {"name": "" if network.anonymous_digest else name_of(network, ev.email), "text": v}
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
    return base_context(network, network.organiser.name) | {
        "session": session_view(network, session),
        "total": len(network.participants),
        "accepted": by_status(PARTSTAT.ACCEPTED),
        "declined": by_status(PARTSTAT.DECLINED),
        "tentative": by_status(PARTSTAT.TENTATIVE),
        "no_answer": [
            p.name or p.email
            for p in network.participants
            if status.get(p.email.lower(), PARTSTAT.NEEDS_ACTION)
            not in (PARTSTAT.ACCEPTED, PARTSTAT.DECLINED, PARTSTAT.TENTATIVE)
        ],
        "present": names_of(network, [e for e, v in presence.items() if v]),
        "absent": names_of(network, [e for e, v in presence.items() if not v]),
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
    """The context of the warning that few accepted a session."""
    status = {e.lower(): s.upper() for e, s in partstat.items()}
    accepted = [p for p in network.participants if status.get(p.email.lower()) == PARTSTAT.ACCEPTED]
    declined = [p for p in network.participants if status.get(p.email.lower()) == PARTSTAT.DECLINED]
    silent = [
        p
        for p in network.participants
        if status.get(p.email.lower()) not in (PARTSTAT.ACCEPTED, PARTSTAT.DECLINED)
    ]
    return base_context(network, network.organiser.name) | {
        "session": session_view(network, session),
        "accepted_count": len(accepted),
        "total": len(network.participants),
        "declined": [p.name or p.email for p in declined],
        "no_answer": [p.name or p.email for p in silent],
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
    lang = as_language(language)
    out: Context = {
        "network": network_context(network),
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
    return base_context(network, network.organiser.name) | {
        "slug": network.slug,
        "sessions": list(sessions),
        "people": list(people),
        "not_sent": not_sent,
    }


def organiser_lines(network: Network, subject: str, lines: Sequence[str]) -> Context:
    """A message for the organiser written out line by line (a change and its outcome)."""
    return base_context(network, network.organiser.name) | {
        "subject": subject,
        "lines": list(lines),
    }


def organiser_started(network: Network, invites: int, manager_notes: int) -> Context:
    """The organiser's confirmation that their network started, and what is on its way."""
    return base_context(network, network.organiser.name) | {
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
    """The context of a notice to the organiser."""
    lang = network.language if network is not None else as_language(language)
    name = recipient_name or (network.organiser.name if network is not None else "")
    return {
        "network": network_context(network),
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
    """The context of the confirmation of a roll call."""
    return base_context(network, network.organiser.name) | {
        "session": session_view(network, session),
        "present": names_of(network, [e for e, v in marked.items() if v]),
        "absent": names_of(network, [e for e, v in marked.items() if not v]),
        "not_understood": list(not_understood),
    }
