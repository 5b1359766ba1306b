"""The planner: the pure plan (steps, due, expired, next wake-up) and the SQL pass with its marks."""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import delete, func, select

from leernet.messages import keys
from leernet.messages.factory import Factory
from leernet.messages.kinds import Kind
from leernet.network.load import parse_network
from leernet.network.model import Followups
from leernet.planning.followups import step_builder
from leernet.planning.planner import candidate_steps, planner_pass
from leernet.planning.steps import (
    LOOK_BACK,
    GrowthRow,
    SessionRow,
    Step,
    growth_step,
    growth_steps,
    plan,
    session_steps,
)
from leernet.records import networks, registration
from leernet.settings import Settings
from leernet.store import open_store
from leernet.store import schema as t
from tests.test_lifecycle import NETWORK

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

SECRET = "test-secret-not-for-production"
DEFAULTS = Followups(2, 1, 3, 7)
START = datetime(2027, 3, 11, 8, 30, tzinfo=UTC)  # 09:30 in Brussels
END = START + timedelta(minutes=150)
SOURCE = NETWORK.replace("SESSION3", "")
REGISTERED = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
# Session 1 of SOURCE: 2027-01-14 09:30 Brussels = 08:30 UTC, 150 minutes.
S1_START = datetime(2027, 1, 14, 8, 30, tzinfo=UTC)
S1_END = S1_START + timedelta(minutes=150)


def row(*, moved: int = 0, last: bool = False, followups: Followups = DEFAULTS) -> SessionRow:
    return SessionRow(7, "hr-ovl-2027", 3, "session", START, END, moved, followups, last)


def by_kind(steps: list[Step]) -> dict[Kind, Step]:
    """The steps of one (not last) session by kind: each kind occurs once."""
    return {s.kind: s for s in steps}


class TestSessionSteps:
    def test_timings_follow_the_followups(self) -> None:
        """Reminder two days before, request an hour after, its reminder three days later, the digest after six."""
        steps = by_kind(session_steps(row()))
        assert set(steps) == {
            Kind.REMINDER,
            Kind.LOW_ACCEPTANCE,
            Kind.EVAL_REQUEST,
            Kind.EVAL_REMINDER,
            Kind.DIGEST,
        }
        request = END + timedelta(hours=1)
        expected = {
            Kind.REMINDER: (START - timedelta(days=2), START),
            Kind.LOW_ACCEPTANCE: (START - timedelta(days=2), START),
            Kind.EVAL_REQUEST: (request, request + timedelta(days=7)),
            Kind.EVAL_REMINDER: (request + timedelta(days=3), request + timedelta(days=10)),
            Kind.DIGEST: (request + timedelta(days=6), request + timedelta(days=20)),
        }
        assert {k: (s.due, s.not_after) for k, s in steps.items()} == expected

    def test_keys_are_deterministic_and_name_the_session(self) -> None:
        """The same session always gives the same keys, e.g. eval-request/<network>/<session>."""
        keys = [s.key for s in session_steps(row())]
        assert keys == [s.key for s in session_steps(row())]
        assert "eval-request/hr-ovl-2027/3" in keys
        assert "digest/hr-ovl-2027/3" in keys

    def test_a_moved_session_gets_a_new_reminder_key_only(self) -> None:
        """After a move the reminder rounds have new keys; the evaluation round keeps its key."""
        before = {s.kind: s.key for s in session_steps(row())}
        after = {s.kind: s.key for s in session_steps(row(moved=2))}
        assert after[Kind.REMINDER] == "reminder/hr-ovl-2027/3/v2"
        assert after[Kind.LOW_ACCEPTANCE] == "low-acceptance/hr-ovl-2027/3/v2"
        for kind in (Kind.EVAL_REQUEST, Kind.EVAL_REMINDER, Kind.DIGEST):
            assert after[kind] == before[kind]

    def test_the_last_session_closes_the_network(self) -> None:
        """Only the last session adds the closing reflection and the summaries without a date:
        the reflection and the summaries' preview at its digest, the summaries three days later.
        """
        assert len(session_steps(row())) == 5
        steps = session_steps(row(last=True))
        digest = next(s for s in steps if s.kind is Kind.DIGEST)
        closing = {s.kind: s for s in steps if s.kind not in digest_and_before}
        assert [s.key for s in closing.values()] == [
            "closing/hr-ovl-2027",
            "summary-preview/hr-ovl-2027/closing",
            "manager-summary/hr-ovl-2027/closing",
        ]
        assert closing[Kind.CLOSING].due == digest.due
        assert closing[Kind.SUMMARY_PREVIEW].due == digest.due
        assert closing[Kind.MANAGER_SUMMARY].due == digest.due + timedelta(days=3)
        assert closing[Kind.SUMMARY_PREVIEW].not_after <= closing[Kind.MANAGER_SUMMARY].due


digest_and_before = {
    Kind.REMINDER,
    Kind.LOW_ACCEPTANCE,
    Kind.EVAL_REQUEST,
    Kind.EVAL_REMINDER,
    Kind.DIGEST,
}


class TestGrowthStep:
    def growth(self, day: date, days_before: float = 7) -> Step:
        followups = Followups(2, 1, 3, days_before)
        return growth_step(
            GrowthRow(7, "hr-ovl-2027", "bert.claes@example.com", day, "Europe/Brussels", followups)
        )

    def test_due_a_week_before_at_nine_local(self) -> None:
        """The summary is due at 09:00 Brussels time, manager_summary_days_before days before the date."""
        step = self.growth(date(2027, 6, 15))
        assert step.kind is Kind.MANAGER_SUMMARY
        assert step.due == datetime(2027, 6, 8, 7, 0, tzinfo=UTC)  # 09:00 CEST
        assert step.not_after == datetime(2027, 6, 15, 21, 59, tzinfo=UTC)
        assert step.key == "manager-summary/hr-ovl-2027/bert.claes@example.com/2027-06-15"
        assert step.email == "bert.claes@example.com"

    def test_the_participant_sees_it_three_days_before_the_manager(self) -> None:
        """The preview goes to the participant summary_preview_days before the summary itself."""
        followups = Followups(2, 1, 3, 7, 3)
        row_ = GrowthRow(
            7,
            "hr-ovl-2027",
            "bert.claes@example.com",
            date(2027, 6, 15),
            "Europe/Brussels",
            followups,
        )
        preview, summary = growth_steps(row_)
        assert preview.kind is Kind.SUMMARY_PREVIEW
        assert preview.key == "summary-preview/hr-ovl-2027/bert.claes@example.com/2027-06-15"
        assert keys.summary_of(preview.key) == summary.key
        assert preview.due == summary.due - timedelta(days=3)
        assert preview.email == summary.email == "bert.claes@example.com"

    def test_on_the_day_itself(self) -> None:
        """With zero days before, the summary is due the morning of the conversation."""
        step = self.growth(date(2027, 1, 20), days_before=0)
        assert step.due == datetime(2027, 1, 20, 8, 0, tzinfo=UTC)  # 09:00 CET
        assert step.due < step.not_after


class TestPlan:
    def steps(self) -> list[Step]:
        return session_steps(row())

    def test_nothing_due_before_the_first_moment(self) -> None:
        """Three days before the session nothing is due; the planner wakes at the reminder."""
        result = plan(self.steps(), set(), START - timedelta(days=3))
        assert result.due == ()
        assert result.expired == ()
        assert result.next_due == START - timedelta(days=2)

    def test_due_at_exactly_its_moment_and_sorted(self) -> None:
        """At the reminder moment both reminder rounds are due, in key order."""
        result = plan(self.steps(), set(), START - timedelta(days=2))
        assert [s.kind for s in result.due] == [Kind.LOW_ACCEPTANCE, Kind.REMINDER]
        assert result.next_due == END + timedelta(hours=1)

    def test_done_steps_are_left_alone(self) -> None:
        """A marked step is neither due nor expired, however late it is."""
        steps = self.steps()
        late = END + timedelta(days=60)
        result = plan(steps, {s.key for s in steps}, late)
        assert result == plan([], set(), late)

    def test_steps_whose_moment_passed_are_expired(self) -> None:
        """After an outage past the session, the reminder is expired while the request is still due."""
        result = plan(self.steps(), set(), END + timedelta(hours=2))
        assert {s.kind for s in result.expired} == {Kind.REMINDER, Kind.LOW_ACCEPTANCE}
        assert [s.kind for s in result.due] == [Kind.EVAL_REQUEST]

    def test_not_after_is_inclusive(self) -> None:
        """At the very not-after moment a step is still sent; a second later it is skipped."""
        result = plan(self.steps(), set(), START)
        assert Kind.REMINDER in {s.kind for s in result.due}
        result = plan(self.steps(), set(), START + timedelta(seconds=1))
        assert Kind.REMINDER in {s.kind for s in result.expired}


# -- the SQL pass ------------------------------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}")
    yield engine
    await engine.dispose()


def builder() -> Any:
    return step_builder(Factory(Settings(_env_file=None, secret=SECRET)))  # type: ignore[call-arg]


async def register(engine: AsyncEngine, source: str = SOURCE) -> int:
    async with engine.begin() as conn:
        reg = await registration.register(
            conn, parse_network(source).network, source, SECRET, REGISTERED
        )
    return reg.id


async def outbox_keys(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(t.outbox.c.key).order_by(t.outbox.c.id))).scalars())


async def marks(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.plan_marks.c.key, t.plan_marks.c.outcome))
        return {r.key: r.outcome for r in rows}


class TestPlannerPass:
    async def test_a_due_step_is_queued_and_marked(self, engine: AsyncEngine) -> None:
        """At the reminder moment four reminders are queued and the step is marked queued."""
        await register(engine)
        result = await planner_pass(engine, builder(), S1_START - timedelta(days=2))
        keys = await outbox_keys(engine)
        assert [k for k in keys if k.startswith("reminder/")] == [
            "reminder/hr-ovl-2027/1/bert.claes@example.com",
            "reminder/hr-ovl-2027/1/sofie.maes@example.com",
            "reminder/hr-ovl-2027/1/jan.peeters@example.be",
            "reminder/hr-ovl-2027/1/els.wouters@example.net",
        ]
        assert (await marks(engine))["reminder/hr-ovl-2027/1"] == "queued"
        assert result.queued == 5  # four reminders and the organiser's low-acceptance warning
        assert result.next_due == S1_END + timedelta(hours=1)

    async def test_a_second_pass_queues_nothing(self, engine: AsyncEngine) -> None:
        """Passes at the same instant, or later, never queue a step twice."""
        await register(engine)
        moment = S1_START - timedelta(days=2)
        await planner_pass(engine, builder(), moment)
        before = await outbox_keys(engine)
        again = await planner_pass(engine, builder(), moment)
        later = await planner_pass(engine, builder(), moment + timedelta(hours=5))
        assert (again.queued, again.steps, later.queued) == (0, 0, 0)
        assert await outbox_keys(engine) == before

    async def test_lost_marks_still_queue_nothing_twice(self, engine: AsyncEngine) -> None:
        """Even with the marks gone, the outbox's unique key keeps every message single."""
        await register(engine)
        moment = S1_START - timedelta(days=2)
        await planner_pass(engine, builder(), moment)
        before = await outbox_keys(engine)
        async with engine.begin() as conn:
            await conn.execute(delete(t.plan_marks))
        again = await planner_pass(engine, builder(), moment)
        assert again.queued == 0
        assert await outbox_keys(engine) == before

    async def test_expired_steps_are_marked_skipped_and_logged(
        self, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Waking up after session 1, its reminders are skipped (and logged), never queued late."""
        await register(engine)
        with caplog.at_level(logging.WARNING, logger="leernet.planner"):
            result = await planner_pass(engine, builder(), S1_END + timedelta(hours=2))
        got = await marks(engine)
        assert got["reminder/hr-ovl-2027/1"] == "skipped"
        assert got["low-acceptance/hr-ovl-2027/1"] == "skipped"
        assert got["eval-request/hr-ovl-2027/1"] == "queued"
        assert not [k for k in await outbox_keys(engine) if k.startswith("reminder/")]
        assert result.skipped == 2
        skipped = sorted(
            getattr(r, "key", "")
            for r in caplog.records
            if getattr(r, "event", "") == "step-skipped"
        )
        assert skipped == ["low-acceptance/hr-ovl-2027/1", "reminder/hr-ovl-2027/1"]

    async def test_a_clock_set_back_queues_nothing(self, engine: AsyncEngine) -> None:
        """A pass at an earlier time after a later one finds nothing new to do."""
        await register(engine)
        await planner_pass(engine, builder(), S1_END + timedelta(hours=2))
        before = await outbox_keys(engine)
        back = await planner_pass(engine, builder(), S1_START - timedelta(days=2))
        assert back.queued == 0
        assert await outbox_keys(engine) == before

    async def test_a_slow_evaluation_round_still_gets_its_digest(self, engine: AsyncEngine) -> None:
        """With evaluation_reminder_days = 30 the digest is still sent, 60 days after the session."""
        source = SOURCE + "\n[followups]\nevaluation_reminder_days = 30\n"
        await register(engine, source)
        digest_at = S1_END + timedelta(hours=1, days=60)
        await planner_pass(engine, builder(), digest_at)
        assert "digest/hr-ovl-2027/1" in await outbox_keys(engine)


def finished(slug: str, year: int) -> str:
    """The example network as a different one, years ago: long finished."""
    return (
        SOURCE.replace('slug = "hr-ovl-2027"', f'slug = "{slug}"')
        .replace("first = 2027-01-14", f"first = {year}-01-14")
        .replace("growth_conversation = 2027-03-01", f"growth_conversation = {year}-03-01")
    )


class TestPlannerCost:
    async def test_finished_networks_are_never_loaded(
        self, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With 200 finished networks in the store, a pass reads and loads only the running one."""
        for i in range(200):
            await register(engine, finished(f"old-{i:03d}", 2020 + i % 5))
        running = await register(engine)
        loads: list[int] = []
        real = networks.get_by_id

        async def counting(conn: Any, network_id: int) -> Any:
            loads.append(network_id)
            return await real(conn, network_id)

        monkeypatch.setattr(networks, "get_by_id", counting)
        moment = S1_START - timedelta(days=2)
        async with engine.connect() as conn:
            steps = await candidate_steps(conn, moment)
        assert {s.network_id for s in steps} == {running}
        started = time.perf_counter()
        await planner_pass(engine, builder(), moment)
        took = time.perf_counter() - started
        assert set(loads) == {running}
        assert len(loads) == 2  # one load per due step: the reminder round and the warning
        loads.clear()
        await planner_pass(engine, builder(), moment)
        assert loads == []  # marked steps are skipped without loading anything
        assert took < 2.0
        async with engine.connect() as conn:
            assert (
                await conn.execute(select(func.count()).select_from(t.plan_marks))
            ).scalar() == 2

    def test_look_back_covers_every_default_step(self) -> None:
        """With the default timings every step's not-after lies within the planner's look-back."""
        steps = session_steps(row(last=True))
        assert max(s.not_after for s in steps) - END <= LOOK_BACK
