"""The read side of the store: effective answers per session, evaluations, and what managers see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from leernet.network.load import parse_network
from leernet.records import facts, record, registration, sharing
from leernet.records.facts import Evaluation
from leernet.store import open_store
from leernet.store import schema as t

EXAMPLE = Path(__file__).parent.parent / "config" / "network.example.toml"
SOURCE = EXAMPLE.read_text(encoding="utf-8")
NETWORK = parse_network(SOURCE).network
SECRET = "test-secret-not-for-production"
NOW = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path):
    engine = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}")
    async with engine.begin() as conn:
        reg = await registration.register(conn, NETWORK, SOURCE, SECRET, NOW)
    yield engine, reg
    await engine.dispose()


async def rsvp(conn, pid, session, partstat, *, at, sequence=0, comment=""):
    outcome = await record.record_rsvp(
        conn,
        participant_id=pid,
        session_number=session,
        partstat=partstat,
        comment=comment,
        sequence=sequence,
        dtstamp=at,
        received_at=at,
        inbox_id=None,
    )
    assert outcome.recorded


async def evaluate(conn, pid, session, answers, *, absent=False, at=NOW):
    await record.record_evaluation(
        conn,
        participant_id=pid,
        session_number=session,
        absent=absent,
        answers=answers,
        received_at=at,
        inbox_id=None,
    )


class TestAttendance:
    async def test_no_reply_needs_action(self, store):
        """Someone who never answered shows as NEEDS-ACTION, with no presence known."""
        engine, reg = store
        async with engine.begin() as conn:
            att = await facts.attendance(conn, reg.id)
        assert att.rsvp(reg.members[0].id, 1) == "NEEDS-ACTION"
        assert att.comment(reg.members[0].id, 1) == ""
        assert att.present(reg.members[0].id, 1) is None

    async def test_later_instance_reply_beats_series(self, store):
        """Accepting the series, then declining session 3, means declined for 3 only."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await rsvp(conn, bert, 0, "ACCEPTED", at=NOW)
            await rsvp(conn, bert, 3, "DECLINED", at=NOW + timedelta(days=1), comment="Ziek")
            att = await facts.attendance(conn, reg.id)
        assert [att.rsvp(bert, n) for n in range(1, 7)] == [
            "ACCEPTED", "ACCEPTED", "DECLINED", "ACCEPTED", "ACCEPTED", "ACCEPTED",
        ]  # fmt: skip
        assert att.comment(bert, 3) == "Ziek"

    async def test_later_series_reply_beats_instance(self, store):
        """Declining session 3, then later declining the whole series, means declined everywhere."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await rsvp(conn, bert, 3, "ACCEPTED", at=NOW)
            await rsvp(conn, bert, 0, "DECLINED", at=NOW + timedelta(days=1))
            att = await facts.attendance(conn, reg.id)
        assert {att.rsvp(bert, n) for n in range(1, 7)} == {"DECLINED"}

    async def test_replies_before_a_move_stop_counting(self, store):
        """When session 4 moves, earlier answers stop counting for it, but not for the others."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await rsvp(conn, bert, 0, "ACCEPTED", at=NOW)
            await rsvp(conn, bert, 4, "TENTATIVE", at=NOW)
            await conn.execute(
                update(t.sessions)
                .where(t.sessions.c.network_id == reg.id, t.sessions.c.number == 4)
                .values(moved_sequence=1)
            )
            att = await facts.attendance(conn, reg.id)
            assert att.rsvp(bert, 4) == "NEEDS-ACTION"
            assert att.rsvp(bert, 5) == "ACCEPTED"
            await rsvp(conn, bert, 4, "ACCEPTED", at=NOW + timedelta(days=1), sequence=1)
            att = await facts.attendance(conn, reg.id)
        assert att.rsvp(bert, 4) == "ACCEPTED"

    async def test_presence_is_read(self, store):
        """A roll call shows up as present or absent for that session."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await record.record_presence(
                conn,
                participant_id=bert,
                session_number=2,
                present=False,
                source="rollcall",
                now=NOW,
            )
            att = await facts.attendance(conn, reg.id)
        assert (att.present(bert, 2), att.present(bert, 3)) == (False, None)


class TestEvaluations:
    async def test_only_current_rows(self, store):
        """Only the latest evaluation of a session counts, looked up by session or participant."""
        engine, reg = store
        bert, sofie = reg.members[0].id, reg.members[1].id
        async with engine.begin() as conn:
            await evaluate(conn, bert, 1, {"1": 2})
            await evaluate(conn, bert, 1, {"1": 5}, at=NOW + timedelta(hours=1))
            await evaluate(conn, bert, 2, {}, absent=True)
            await evaluate(conn, sofie, 1, {"1": 4})
            evs = await facts.evaluations(conn, reg.id)
        assert evs.get(bert, 1).answers == {"1": 5}
        assert evs.get(sofie, 2) is None
        assert [e.participant_id for e in evs.for_session(1)] == [bert, sofie]
        assert [(e.session_number, e.absent) for e in evs.for_participant(bert)] == [
            (1, False),
            (2, True),
        ]

    async def test_summary_counts(self, store):
        """A session summary counts answers, presence, evaluations and the average rating."""
        engine, reg = store
        ids = [m.id for m in reg.active_members]
        a, b, c, d = ids[:4]
        async with engine.begin() as conn:
            await rsvp(conn, a, 0, "ACCEPTED", at=NOW)
            await rsvp(conn, b, 2, "DECLINED", at=NOW)
            await rsvp(conn, c, 2, "TENTATIVE", at=NOW)
            await evaluate(conn, a, 2, {"1": 4, "2": "Veel geleerd", "3": ""})
            await evaluate(conn, d, 2, {"1": 5, "3": "Meer pauzes"})
            await evaluate(conn, b, 2, {"1": 1}, absent=True)
            att = await facts.attendance(conn, reg.id)
            evs = await facts.evaluations(conn, reg.id)
        s = facts.summarise(reg.network, ids, att, evs, 2)
        assert (s.accepted, s.declined, s.tentative, s.no_answer) == (1, 1, 1, len(ids) - 3)
        assert (s.present, s.absent, s.evaluations) == (2, 1, 3)
        assert s.average_rating == 4.5
        assert s.free_text == {2: ("Veel geleerd",), 3: ("Meer pauzes",)}
        assert set(s.not_evaluated) == set(ids) - {a, b, d}


def ev(session, answers, *, eid=1, minutes=0, absent=False, pid=7):
    return Evaluation(eid, pid, session, absent, answers, NOW + timedelta(minutes=minutes))


class TestAverageRating:
    def test_only_valid_ratings_count(self):
        """Booleans, numbers outside 1-5 and absent participants do not move the average."""
        questions = facts.questions_of(NETWORK, 2)
        evs = [
            ev(2, {"1": 2}),
            ev(2, {"1": 4}),
            ev(2, {"1": True}),
            ev(2, {"1": 9}),
            ev(2, {"1": 1}, absent=True),
        ]
        assert facts.average_rating(evs, questions) == 3

    def test_no_ratings_no_average(self):
        """Without ratings there is no average (not zero)."""
        assert facts.average_rating([], facts.questions_of(NETWORK, 2)) is None


class TestSharedAnswers:
    def test_consent_shares_only_the_marked_question(self):
        """With consent, the manager reads question 2 and nothing else."""
        shared = sharing.shared_answers(
            NETWORK, [ev(2, {"1": 5, "2": "Meer overleg", "3": "Koffie", "4": True})]
        )
        assert [(s.session_number, s.question_number, s.answer) for s in shared] == [
            (2, 2, "Meer overleg")
        ]
        assert shared[0].session_title == "Werkbaar werk meten"
        assert shared[0].question_text == "Wat neem je mee naar je eigen praktijk?"

    def test_no_consent_shares_nothing(self):
        """Without a yes to the consent question, nothing is shared ("ja" as text is not a yes)."""
        for consent in (False, "ja", 1, None):
            answers = {"2": "Geheim"} | ({} if consent is None else {"4": consent})
            assert sharing.shared_answers(NETWORK, [ev(2, answers)]) == []

    def test_consent_of_another_session_does_not_carry_over(self):
        """A yes in session 2 does not open session 3's answers."""
        shared = sharing.shared_answers(
            NETWORK,
            [
                ev(2, {"2": "A", "4": True}, eid=1),
                ev(3, {"2": "B"}, eid=2, minutes=1),
            ],
        )
        assert [s.answer for s in shared] == ["A"]

    def test_later_withdrawal_hides_everything(self):
        """A later no withdraws consent for every earlier session too."""
        shared = sharing.shared_answers(
            NETWORK,
            [
                ev(2, {"2": "A", "4": True}, eid=1),
                ev(3, {"2": "B", "4": False}, eid=2, minutes=1),
                ev(4, {}, eid=3, minutes=2, absent=True),
            ],
        )
        assert shared == []

    def test_closing_takeaway_is_shared(self):
        """The closing session's takeaway (question 6) is shared with consent, aftercare is not."""
        shared = sharing.shared_answers(
            NETWORK, [ev(6, {"2": "A", "4": True, "5": "Ja, graag", "6": "Alles"})]
        )
        assert [(s.question_number, s.answer) for s in shared] == [(2, "A"), (6, "Alles")]

    def test_mixing_participants_is_refused(self):
        """Evaluations of two people can never be mixed into one manager's summary."""
        with pytest.raises(ValueError, match="one participant"):
            sharing.shared_answers(NETWORK, [ev(2, {}, pid=1), ev(3, {}, pid=2)])


_values = st.one_of(
    st.booleans(),
    st.integers(min_value=0, max_value=6),
    st.sampled_from(["", "ja", "nee", "yes", "geheim", "true"]),
)
_evaluation = st.tuples(
    st.integers(min_value=1, max_value=7),  # 7: a session no longer in the network
    st.booleans(),
    st.dictionaries(st.sampled_from([str(n) for n in range(1, 8)]), _values, max_size=7),
    st.integers(min_value=0, max_value=50),
)


class TestSharedAnswersProperties:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(_evaluation, max_size=8))
    def test_never_without_consent_and_withdrawal_wins(self, raw):
        """Whatever people answer, no answer reaches a manager without a yes in that evaluation,
        a later no hides everything, and every consented shared answer does reach them.
        """
        evs = [
            ev(n, answers, eid=i, minutes=m, absent=a) for i, (n, a, answers, m) in enumerate(raw)
        ]
        shared = sharing.shared_answers(NETWORK, evs)

        statements = [e for e in evs if not e.absent and isinstance(e.answers.get("4"), bool)]
        latest = max(statements, key=lambda e: (e.received_at, e.id), default=None)
        if latest is not None and latest.answers["4"] is False:
            assert shared == []
            return

        def consented(e):
            return not e.absent and e.answers.get("4") is True and e.session_number <= 6

        expected = sorted(
            (
                (e.session_number, q, e.answers[str(q)])
                for e in evs
                if consented(e)
                for q in ((2, 6) if e.session_number == 6 else (2,))
                if e.answers.get(str(q)) not in (None, "")
            ),
            key=repr,
        )
        got = sorted(((s.session_number, s.question_number, s.answer) for s in shared), key=repr)
        assert got == expected
        for s in shared:
            source = [e for e in evs if e.session_number == s.session_number and consented(e)]
            assert any(e.answers.get(str(s.question_number)) == s.answer for e in source)
