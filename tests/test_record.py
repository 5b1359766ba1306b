"""The write side of the store: replies, evaluations, presence, bounces, erasure and purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select, update

from leernet.mailer.queue import Outgoing, enqueue
from leernet.network.load import parse_network
from leernet.records import erasure, networks, record, registration
from leernet.store import open_store
from leernet.store import schema as t

EXAMPLE = Path(__file__).parent.parent / "config" / "network.example.toml"
SECRET = "test-secret-not-for-production"
NOW = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path):
    engine = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'leernet.db'}")
    source = EXAMPLE.read_text(encoding="utf-8")
    async with engine.begin() as conn:
        reg = await registration.register(conn, parse_network(source).network, source, SECRET, NOW)
    yield engine, reg
    await engine.dispose()


async def rsvp(conn, pid, session, partstat, *, sequence=0, dtstamp=NOW, moved=0, comment=""):
    return await record.record_rsvp(
        conn,
        participant_id=pid,
        session_number=session,
        partstat=partstat,
        comment=comment,
        sequence=sequence,
        dtstamp=dtstamp,
        received_at=NOW + timedelta(hours=1),
        inbox_id=None,
        moved_sequence=moved,
    )


async def stored(conn, pid):
    rows = await conn.execute(
        select(t.rsvps.c.session_number, t.rsvps.c.partstat)
        .where(t.rsvps.c.participant_id == pid)
        .order_by(t.rsvps.c.session_number)
    )
    return [tuple(r) for r in rows]


async def inbox_row(conn, n, *, network_id=None, participant_id=None):
    result = await conn.execute(
        t.inbox.insert().values(
            mailbox="netwerk@example.org/INBOX",
            uidvalidity=1,
            uid=n,
            sha256=f"{n:064d}",
            raw=b"From: someone\r\n\r\nhello",
            size=24,
            received_at=NOW,
            network_id=network_id,
            participant_id=participant_id,
        )
    )
    return result.inserted_primary_key[0]


async def outbox_row(conn, key, recipient, state, network_id):
    result = await conn.execute(
        t.outbox.insert().values(
            key=key,
            network_id=network_id,
            kind="reminder",
            recipient=recipient,
            message_id=f"<leernet.{key}@example.org>",
            state=state,
            created_at=NOW,
            next_attempt_at=NOW,
        )
    )
    row_id = result.inserted_primary_key[0]
    await conn.execute(t.outbox_body.insert().values(outbox_id=row_id, raw=b"x"))


class TestRecordRsvp:
    async def test_first_reply_is_stored_upper_case(self, store):
        """A first REPLY is stored, its PARTSTAT in upper case and its COMMENT kept."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            outcome = await rsvp(conn, bert, 2, "accepted", comment="Ik kom iets later")
            row = (await conn.execute(select(t.rsvps))).one()
        assert outcome == record.RsvpOutcome(recorded=True, reason="")
        assert (row.partstat, row.comment) == ("ACCEPTED", "Ik kom iets later")

    async def test_lower_sequence_is_stale(self, store):
        """A REPLY answering an older SEQUENCE does not overwrite the newer answer."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await rsvp(conn, bert, 2, "DECLINED", sequence=1)
            outcome = await rsvp(conn, bert, 2, "ACCEPTED", sequence=0, dtstamp=NOW + timedelta(1))
            assert await stored(conn, bert) == [(2, "DECLINED")]
        assert outcome == record.RsvpOutcome(
            recorded=False,
            reason="stale: SEQUENCE 0 < 1",
            not_recorded=record.NotRecorded.STALE,
        )

    async def test_same_sequence_older_dtstamp_is_stale(self, store):
        """At the same SEQUENCE, a REPLY with an older DTSTAMP loses."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await rsvp(conn, bert, 2, "DECLINED", dtstamp=NOW)
            outcome = await rsvp(conn, bert, 2, "ACCEPTED", dtstamp=NOW - timedelta(minutes=5))
            assert await stored(conn, bert) == [(2, "DECLINED")]
        assert not outcome.recorded
        assert outcome.reason.startswith("stale: DTSTAMP")

    async def test_newer_reply_replaces(self, store):
        """A participant who changes their mind later is believed."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await rsvp(conn, bert, 2, "DECLINED", dtstamp=NOW)
            outcome = await rsvp(conn, bert, 2, "TENTATIVE", dtstamp=NOW + timedelta(minutes=5))
            assert await stored(conn, bert) == [(2, "TENTATIVE")]
        assert outcome.recorded

    async def test_reply_to_version_before_move_does_not_count(self, store):
        """A REPLY to the invite before session 4 moved does not count for session 4."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            outcome = await rsvp(conn, bert, 4, "ACCEPTED", sequence=1, moved=2)
            assert await stored(conn, bert) == []
        assert not outcome.recorded
        assert outcome.reason == "stale: answers SEQUENCE 1, before session 4 moved at SEQUENCE 2"

    async def test_series_reply_keeps_instance_reply(self, store):
        """Accepting the whole series does not erase a decline of one session."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await rsvp(conn, bert, 3, "DECLINED")
            await rsvp(conn, bert, 0, "ACCEPTED", dtstamp=NOW + timedelta(hours=1))
            assert await stored(conn, bert) == [(0, "ACCEPTED"), (3, "DECLINED")]

    async def test_unknown_partstat_is_not_recorded(self, store):
        """A PARTSTAT leernet does not use (DELEGATED) is reported, not stored."""
        engine, reg = store
        async with engine.begin() as conn:
            outcome = await rsvp(conn, reg.members[0].id, 2, "DELEGATED")
            assert await stored(conn, reg.members[0].id) == []
        assert outcome == record.RsvpOutcome(
            recorded=False,
            reason="PARTSTAT DELEGATED is not used",
            not_recorded=record.NotRecorded.UNUSED_PARTSTAT,
        )


class TestRecordEvaluation:
    async def test_history_kept_and_latest_current(self, store):
        """A second evaluation of a session replaces the first, which stays as history."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            first = await record.record_evaluation(
                conn,
                participant_id=bert,
                session_number=1,
                absent=False,
                answers={"1": 3, "2": "eerste"},
                received_at=NOW,
                inbox_id=None,
            )
            second = await record.record_evaluation(
                conn,
                participant_id=bert,
                session_number=1,
                absent=False,
                answers={"1": 5, "2": "tweede", "4": True},
                received_at=NOW + timedelta(hours=1),
                inbox_id=None,
            )
            rows = (
                await conn.execute(
                    select(
                        t.evaluations.c.id, t.evaluations.c.current, t.evaluations.c.answers
                    ).order_by(t.evaluations.c.id)
                )
            ).all()
        assert [(r.id, r.current) for r in rows] == [(first, False), (second, True)]
        assert rows[1].answers == {"1": 5, "2": "tweede", "4": True}

    async def test_evaluation_sets_presence(self, store):
        """Answering 'afwezig' marks someone absent; answering the questions marks them present."""
        engine, reg = store
        bert, sofie = reg.members[0].id, reg.members[1].id
        async with engine.begin() as conn:
            for pid, absent in ((bert, True), (sofie, False)):
                await record.record_evaluation(
                    conn,
                    participant_id=pid,
                    session_number=2,
                    absent=absent,
                    answers={},
                    received_at=NOW,
                    inbox_id=None,
                )
            rows = (
                await conn.execute(
                    select(
                        t.presence.c.participant_id, t.presence.c.present, t.presence.c.source
                    ).order_by(t.presence.c.participant_id)
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            (bert, False, "evaluation"),
            (sofie, True, "evaluation"),
        ]


class TestRecordPresence:
    async def test_latest_statement_wins(self, store):
        """The latest statement on presence wins, from a roll call or from an evaluation."""
        engine, reg = store
        bert = reg.members[0].id

        async def current(conn):
            return tuple(
                (await conn.execute(select(t.presence.c.present, t.presence.c.source))).one()
            )

        async with engine.begin() as conn:
            await record.record_presence(
                conn,
                participant_id=bert,
                session_number=2,
                present=True,
                source="rollcall",
                now=NOW,
            )
            assert await current(conn) == (True, "rollcall")
            await record.record_presence(
                conn,
                participant_id=bert,
                session_number=2,
                present=False,
                source="rollcall",
                now=NOW,
            )
            assert await current(conn) == (False, "rollcall")
            await record.record_evaluation(
                conn,
                participant_id=bert,
                session_number=2,
                absent=False,
                answers={"1": 4},
                received_at=NOW + timedelta(hours=2),
                inbox_id=None,
            )
            assert await current(conn) == (True, "evaluation")

    async def test_unknown_source_is_refused(self, store):
        """Presence comes from an evaluation or a roll call, nothing else."""
        engine, reg = store
        async with engine.begin() as conn:
            with pytest.raises(ValueError, match="presence source"):
                await record.record_presence(
                    conn,
                    participant_id=reg.members[0].id,
                    session_number=1,
                    present=True,
                    source="guess",
                    now=NOW,
                )


class TestFlagBounce:
    async def test_only_that_participant_is_flagged(self, store):
        """A verified bounce flags the one participant it names, with its reason, and nobody else."""
        engine, reg = store
        async with engine.begin() as conn:
            flagged = await record.flag_bounce(
                conn, participant_id=reg.members[0].id, reason="550 5.1.1 user unknown", now=NOW
            )
            reloaded = await networks.get(conn, reg.slug)
            reason = (
                await conn.execute(
                    select(t.participants.c.bounce_reason).where(
                        t.participants.c.id == reg.members[0].id
                    )
                )
            ).scalar()
        assert flagged is True
        assert [m.email for m in reloaded.members if m.bounced] == ["bert.claes@example.com"]
        assert reason == "550 5.1.1 user unknown"

    async def test_clear_lifts_the_flag(self, store):
        """Clearing a flagged participant makes them reachable again; clearing twice is a no-op."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await record.flag_bounce(conn, participant_id=bert, reason="x", now=NOW)
            assert await record.clear_bounce(conn, participant_id=bert) is True
            assert await record.clear_bounce(conn, participant_id=bert) is False
            reloaded = await networks.get(conn, reg.slug)
        assert not any(m.bounced for m in reloaded.members)

    async def test_purged_network_is_left_alone(self, store):
        """A network whose data was purged is no longer flagged."""
        engine, reg = store
        async with engine.begin() as conn:
            await conn.execute(update(t.networks).values(purged_at=NOW))
            flagged = await record.flag_bounce(
                conn, participant_id=reg.members[0].id, reason="x", now=NOW
            )
        assert flagged is False


class TestErase:
    async def test_erase_removes_what_they_sent(self, store):
        """Erasing Bert deletes his answers, empties his raw mail and cancels his queued mail."""
        engine, reg = store
        bert, sofie = reg.members[0], reg.members[1]
        async with engine.begin() as conn:
            for pid in (bert.id, sofie.id):
                await rsvp(conn, pid, 0, "ACCEPTED")
                await record.record_evaluation(
                    conn,
                    participant_id=pid,
                    session_number=1,
                    absent=False,
                    answers={"2": "tekst"},
                    received_at=NOW,
                    inbox_id=None,
                )
            await inbox_row(conn, 1, network_id=reg.id, participant_id=bert.id)
            await inbox_row(conn, 2, network_id=reg.id, participant_id=sofie.id)
            await outbox_row(conn, "a", bert.email, "queued", reg.id)
            await outbox_row(conn, "b", bert.email, "deferred", reg.id)
            await outbox_row(conn, "c", bert.email, "sent", reg.id)
            await outbox_row(conn, "d", sofie.email, "queued", reg.id)

            erased = await erasure.erase_participant(conn, reg.id, "Bert.Claes@example.com")

            left = {
                table.name: sorted(
                    (await conn.execute(select(table.c.participant_id))).scalars().all()
                )
                for table in (t.rsvps, t.evaluations, t.presence)
            }
            raws = dict((await conn.execute(select(t.inbox.c.participant_id, t.inbox.c.raw))).all())
            states = dict((await conn.execute(select(t.outbox.c.key, t.outbox.c.state))).all())
            bodies = dict(
                (
                    await conn.execute(
                        select(t.outbox.c.key, t.outbox_body.c.raw).select_from(
                            t.outbox.join(t.outbox_body)
                        )
                    )
                ).all()
            )
        assert erased == bert.id
        assert left == {"rsvps": [sofie.id], "evaluations": [sofie.id], "presence": [sofie.id]}
        assert raws[bert.id] is None
        assert raws[sofie.id] is not None
        assert states == {"a": "cancelled", "b": "cancelled", "c": "sent", "d": "queued"}
        assert bodies == {"a": b"", "b": b"", "c": b"", "d": b"x"}  # mail to Sofie keeps its bytes

    async def test_every_notice_quoting_their_mail_is_blanked_in_bounded_statements(self, store):
        """Bert sent 600 mails, each quoted in a notice to the organiser: erasing him blanks all 600, and no statement carries more than 500 values."""
        engine, reg = store
        bert = reg.members[0]
        notices = []
        async with engine.begin() as conn:
            for n in range(600):
                inbox_id = await inbox_row(conn, n + 1, network_id=reg.id, participant_id=bert.id)
                notices.append(
                    Outgoing(
                        key=f"notice/message/{inbox_id}/{reg.network.organiser.email}",
                        kind="notice",
                        recipient=reg.network.organiser.email,
                        message_id=f"<leernet.n{n}@example.org>",
                        raw=b"Bert schreef: mijn geheim",
                        network_id=reg.id,
                        about_inbox_id=inbox_id,
                    )
                )
            await enqueue(conn, notices, NOW)
        widest = []

        def count(conn, cursor, statement, parameters, context, executemany):
            widest.append(len(parameters) if isinstance(parameters, (list, tuple, dict)) else 0)

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            async with engine.begin() as conn:
                await erasure.erase_participant(conn, reg.id, bert.email)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        async with engine.connect() as conn:
            bodies = (await conn.execute(select(t.outbox_body.c.raw))).scalars().all()
        assert len(bodies) == 600
        assert set(bodies) == {b""}
        assert max(widest) <= 500

    async def test_unknown_address_erases_nothing(self, store):
        """Erasing an address that is not in the network says so (None)."""
        engine, reg = store
        async with engine.begin() as conn:
            assert await erasure.erase_participant(conn, reg.id, "nobody@example.com") is None


class TestPurge:
    async def test_purge_keeps_numbers_only(self, store):
        """Purging a network blanks free text and raw mail but keeps ratings and yes/no."""
        engine, reg = store
        bert = reg.members[0].id
        async with engine.begin() as conn:
            await rsvp(conn, bert, 0, "ACCEPTED", comment="Tot dan!")
            await record.record_evaluation(
                conn,
                participant_id=bert,
                session_number=1,
                absent=False,
                answers={"1": 4, "2": "mijn geheim", "3": "", "4": True},
                received_at=NOW,
                inbox_id=None,
            )
            await inbox_row(conn, 1, network_id=reg.id, participant_id=bert)
            await outbox_row(conn, "confirmation/x", reg.members[0].email, "sent", reg.id)
            await erasure.purge_network(conn, reg.id, NOW)
            sent_bytes = (await conn.execute(select(t.outbox_body.c.raw))).scalar()
            answers = (await conn.execute(select(t.evaluations.c.answers))).scalar()
            comment = (await conn.execute(select(t.rsvps.c.comment))).scalar()
            raw = (await conn.execute(select(t.inbox.c.raw))).scalar()
            purged = (await conn.execute(select(t.networks.c.purged_at))).scalar()
        assert answers == {"1": 4, "2": "", "3": "", "4": True}
        assert comment == ""
        assert raw is None
        assert sent_bytes == b""
        assert purged == NOW
