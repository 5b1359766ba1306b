"""The messages of each planned step: reminders, evaluation requests, digests, the closing, summaries.

``build_step`` is the planner's ``StepBuilder``: it reads what the store knows
(attendance, evaluations) and composes every message of one due step. Manager
summaries take their answers only from ``sharing.shared_answers`` (consent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from icalendar.enums import PARTSTAT
from sqlalchemy.ext.asyncio import AsyncConnection

from leernet.mailer.queue import Outgoing
from leernet.messages import keys, manager_views, organiser_views, views
from leernet.messages.factory import Factory, participant_of
from leernet.messages.kinds import Kind, Template
from leernet.network.model import Person, QuestionKind, SessionKind
from leernet.planning.planner import StepBuilder
from leernet.planning.steps import Step
from leernet.records import facts, networks, record, sent_mail, sharing, summaries
from leernet.records.networks import Member, Registered

log = logging.getLogger("leernet.followups")

# The least time a participant had to read the preview of their manager's summary (an
# outage can delay the preview): with less, the summary shares no answers.
_NOTICE = timedelta(days=1)


def _answer_text(value: object, language: str) -> str:
    if isinstance(value, bool):
        return ("ja" if value else "nee") if language == "nl" else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value} van 5" if language == "nl" else f"{value} out of 5"
    return str(value)


class StepMessages:
    """Builds the messages of one step for one registered network."""

    def __init__(
        self, factory: Factory, conn: AsyncConnection, reg: Registered, step: Step, now: datetime
    ) -> None:
        self.f, self.conn, self.reg, self.step, self.now = factory, conn, reg, step, now
        self.net = reg.network

    def _key(self, email: str) -> str:
        return keys.recipient(self.step.key, email)

    def _reachable(self) -> list[Member]:
        # A bounced address gets nothing more until the organiser fixes it.
        return [m for m in self.reg.active_members if not m.bounced]

    async def build(self) -> list[Outgoing]:
        """The messages of this step."""
        kind = self.step.kind
        if kind is Kind.SUMMARY_PREVIEW:
            return await self.summary_previews()
        if kind is Kind.MANAGER_SUMMARY:
            return await self.manager_summaries()
        if kind is Kind.CLOSING:
            return await self.closing()
        session = self.net.session(self.step.session_number)
        if session.cancelled:
            return []
        att = await facts.attendance(self.conn, self.reg.id)
        if kind is Kind.REMINDER:
            return [
                self._to(m, views.reminder(self.net, participant_of(self.net, m), session))
                for m in self._reachable()
                if att.rsvp(m.id, session.number) != PARTSTAT.DECLINED
            ]
        if kind is Kind.LOW_ACCEPTANCE:
            return self.low_acceptance(att)
        evals = await facts.evaluations(self.conn, self.reg.id)
        if kind is Kind.EVAL_REQUEST:
            return [
                self._to(
                    m,
                    views.eval_request(self.net, participant_of(self.net, m), session),
                    expects_reply=True,
                )
                for m in self._reachable()
                if att.rsvp(m.id, session.number) != PARTSTAT.DECLINED
            ]
        if kind is Kind.EVAL_REMINDER:
            # Only a request that went out can be reminded of: after an outage that skipped
            # the request, or for someone added since, "nog even" would make no sense.
            asked = await self._requested(session.number)
            return [
                self._to(
                    m,
                    views.eval_request(self.net, participant_of(self.net, m), session),
                    expects_reply=True,
                )
                for m in self._reachable()
                if m.email in asked
                and att.rsvp(m.id, session.number) != PARTSTAT.DECLINED
                and evals.get(m.id, session.number) is None
            ]
        await record.save_rollcall_order(
            self.conn,
            digest_key=self.step.key,
            network_id=self.reg.id,
            emails=[p.email for p in views.roll_call(self.net)],
        )
        return [self.digest(att, evals)]

    async def _requested(self, number: int) -> set[str]:
        """The participants whose evaluation request for session ``number`` was sent."""
        step = keys.session_step(Kind.EVAL_REQUEST, self.net.slug, number)
        email_of = {keys.recipient(step, m.email): m.email for m in self.reg.active_members}
        return {email_of[k] for k in await sent_mail.sent_keys(self.conn, list(email_of))}

    def _to(
        self, m: Member, context: dict[str, object], *, expects_reply: bool = False
    ) -> Outgoing:
        return self.f.to_participant(
            self.reg,
            m,
            key=self._key(m.email),
            kind=self.step.kind,
            context=context,
            now=self.now,
            not_after=self.step.not_after,
            expects_reply=expects_reply,
        )

    def _organiser(self, context: dict[str, object], *, token: bool = False) -> Outgoing:
        org = self.net.organiser
        return self.f.to_person(
            self.net,
            self.reg.id,
            Person(org.name, org.email),
            key=self.step.key,
            kind=self.step.kind,
            context=context,
            now=self.now,
            not_after=self.step.not_after,
            token=self.f.organiser_token(self.net) if token else None,
        )

    def low_acceptance(self, att: facts.Attendance) -> list[Outgoing]:
        """The warning to the organiser when fewer than half accepted."""
        session = self.net.session(self.step.session_number)
        members = self.reg.active_members
        status = {m.email: att.rsvp(m.id, session.number) for m in members}
        accepted = sum(1 for s in status.values() if s == PARTSTAT.ACCEPTED)
        if not members or accepted * 2 >= len(members):
            return []
        return [self._organiser(organiser_views.low_acceptance(self.net, session, status))]

    def digest(self, att: facts.Attendance, evals: facts.Evaluations) -> Outgoing:
        """The organiser's digest of the session."""
        n = self.step.session_number
        members = self.reg.active_members
        data = views.DigestData(
            session_number=n,
            partstat={m.email: att.rsvp(m.id, n) for m in members},
            presence={m.email: p for m in members if (p := att.present(m.id, n)) is not None},
            evaluations=tuple(
                views.Evaluation(m.email, e.absent, dict(e.answers))
                for m in members
                if (e := evals.get(m.id, n)) is not None
            ),
        )
        return self._organiser(organiser_views.digest(self.net, data), token=True)

    async def closing(self) -> list[Outgoing]:
        """The closing reflection to each participant, and the closing's manager summaries."""
        evals = await facts.evaluations(self.conn, self.reg.id)
        kickoff = next((s for s in self.net.sessions if s.kind is SessionKind.KICKOFF), None)
        out = []
        for m in self._reachable():
            goals = ""
            takeaways: list[views.Takeaway] = []
            for e in evals.for_participant(m.id):
                qs = facts.questions_of(self.net, e.session_number)
                texts = {q.number: q for q in qs}
                if kickoff is not None and e.session_number == kickoff.number:
                    goal_q = [q for q in qs if q.number > len(self.net.questions)]
                    goals = "\n".join(
                        str(e.answers[str(q.number)])
                        for q in goal_q
                        if e.answers.get(str(q.number))
                    )
                take = next(
                    (
                        q
                        for q in texts.values()
                        if q.share_with_manager and q.kind is QuestionKind.TEXT
                    ),
                    None,
                )
                value = e.answers.get(str(take.number)) if take else None
                if isinstance(value, str) and value.strip():
                    takeaways.append(views.Takeaway(e.session_number, value))
            context = views.closing_reflection(
                self.net, participant_of(self.net, m), goals, takeaways
            )
            out.append(self._to(m, context))
        return out

    def _summarised(self) -> list[Member]:
        """The participants this summary step (or its preview) is about."""
        members = [m for m in self.reg.active_members if m.manager_email]
        if self.step.email:
            return [m for m in members if m.email == self.step.email]
        # Without a date the summary follows the closing; with one, the date's own step sends it.
        return [m for m in members if participant_of(self.net, m).growth_conversation is None]

    def _summary_key(self, m: Member) -> str:
        """The outbox key of the manager summary about ``m`` (growth steps hold one person)."""
        key = keys.summary_of(self.step.key)
        return key if self.step.email else f"{key}/{m.email}"

    async def summary_previews(self) -> list[Outgoing]:
        """Each participant sees exactly what their manager will get, and may hold it back."""
        members = self._summarised()
        if not members:
            return []
        att = await facts.attendance(self.conn, self.reg.id)
        evals = await facts.evaluations(self.conn, self.reg.id)
        out = []
        for m in members:
            attended = [
                s.number
                for s in self.net.active_sessions
                if s.end <= self.now and _attended(att, m.id, s.number)
            ]
            shared = [
                {"session": a.session_number, "question": a.question_text, "answer": text}
                for a in sharing.shared_answers(
                    self.net, evals.for_participant(m.id), evals.superseded_of(m.id)
                )
                if (text := _answer_text(a.answer, self.net.language))
            ]
            summary = self.f.renderer.render(
                Template.MANAGER_SUMMARY,
                self.net.language,
                self._summary_context(m, attended, shared, self.now),
            )
            key = self.step.key if self.step.email else self._key(m.email)
            await summaries.save_summary_preview(
                self.conn,
                summary_key=self._summary_key(m),
                preview_key=key,
                participant_id=m.id,
                attended=attended,
                shared=shared,
                shown_at=self.now,
            )
            context = manager_views.summary_preview(
                self.net,
                participant_of(self.net, m),
                summary.text,
                self.step.due + timedelta(days=self.net.followups.summary_preview_days),
            )
            out.append(
                self.f.to_participant(
                    self.reg,
                    m,
                    key=key,
                    kind=self.step.kind,
                    template=Template.SUMMARY_PREVIEW,
                    context=context,
                    now=self.now,
                    not_after=self.step.not_after,
                    expects_reply=True,
                )
            )
        return out

    def _summary_context(
        self,
        m: Member,
        attended: Sequence[int],
        shared: Sequence[Mapping[str, object]],
        now: datetime,
    ) -> dict[str, object]:
        answers = [
            views.SharedAnswer(int(str(a["session"])), str(a["question"]), str(a["answer"]))
            for a in shared
        ]
        return manager_views.manager_summary(
            self.net, participant_of(self.net, m), attended, answers, now
        )

    async def manager_summaries(self) -> list[Outgoing]:
        """The summaries as their previews showed them; none where the participant held it back.

        Without a preview that went out at least a day before (``_NOTICE``), the summary
        shows no answers at all; an answer whose sharing the participant withdrew since
        the preview is left out.
        """
        members = self._summarised()
        if not members:
            return []
        previews = await summaries.summary_previews(
            self.conn, [self._summary_key(m) for m in members]
        )
        att = await facts.attendance(self.conn, self.reg.id)
        evals = await facts.evaluations(self.conn, self.reg.id)
        out = []
        for m in members:
            preview = previews.get(self._summary_key(m))
            if preview is not None and preview.held:
                log.info(
                    "manager summary held back by the participant",
                    extra={"event": "summary-held", "key": self._summary_key(m)},
                )
                continue
            sent_at = preview.sent_at if preview is not None else None
            if preview is not None and sent_at is not None and sent_at <= self.now - _NOTICE:
                allowed = {
                    (a.session_number, a.question_text, _answer_text(a.answer, self.net.language))
                    for a in sharing.shared_answers(
                        self.net, evals.for_participant(m.id), evals.superseded_of(m.id)
                    )
                }
                shared = [
                    a
                    for a in preview.shared
                    if (a["session"], a["question"], a["answer"]) in allowed
                ]
                context = self._summary_context(m, preview.attended, shared, preview.shown_at)
            else:
                attended = [
                    s.number
                    for s in self.net.active_sessions
                    if s.end <= self.now and _attended(att, m.id, s.number)
                ]
                context = self._summary_context(m, attended, [], self.now)
            out.append(
                self.f.to_person(
                    self.net,
                    self.reg.id,
                    Person(m.manager_name, m.manager_email),
                    key=self._summary_key(m),
                    kind=Kind.MANAGER_SUMMARY,
                    context=context,
                    now=self.now,
                    not_after=self.step.not_after,
                )
            )
        return out


def _attended(att: facts.Attendance, pid: int, number: int) -> bool:
    present = att.present(pid, number)
    if present is not None:
        return present
    # Without an evaluation or roll call, an accepted invite is the best evidence there is.
    return att.rsvp(pid, number) == PARTSTAT.ACCEPTED


def step_builder(factory: Factory) -> StepBuilder:
    """The planner's ``StepBuilder`` bound to ``factory``."""

    async def build(conn: AsyncConnection, step: Step, now: datetime) -> Sequence[Outgoing]:
        reg = await networks.get_by_id(conn, step.network_id)
        if reg is None:
            return []
        return await StepMessages(factory, conn, reg, step, now).build()

    return build
