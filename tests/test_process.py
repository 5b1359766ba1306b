"""The inbox processor on every corpus mail: what is recorded, what is queued, what is put aside."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from leernet.mailer.archive import Archive
from leernet.mailer.disposition import Folders
from leernet.mailer.imap_responses import Fetched
from leernet.mailer.queue import enqueue
from leernet.messages.factory import Factory
from leernet.network.load import load_network
from leernet.organiser.desk import inbox_processor
from leernet.records import registration
from leernet.replies import processor as process_module
from leernet.settings import Settings
from leernet.store import open_store
from leernet.store import schema as t

ROOT = Path(__file__).parents[1]
CORPUS = ROOT / "tests" / "data" / "replies"
EXAMPLE = ROOT / "config" / "network.example.toml"
SECRET = "test-secret-not-for-production"
STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
AFTER_ALL = datetime(2027, 6, 20, 12, 0, tzinfo=UTC)  # every session has ended
ORGANISER = "an.peeters@example.org"
CASES = sorted(p.stem for p in CORPUS.glob("*.eml"))


def settings(db: Path) -> Settings:
    return Settings(
        _env_file=None,
        service_address="netwerk@example.org",
        secret=SECRET,
        database_url=f"sqlite+aiosqlite:///{db}",
        authserv_id="mx.example.org",
    )


@pytest.fixture(scope="module")
def started_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database in which the example network was started and its invites were sent."""
    db = tmp_path_factory.mktemp("started") / "leernet.db"

    async def build() -> None:
        engine = await open_store(f"sqlite+aiosqlite:///{db}")
        factory = Factory(settings(db))
        network = load_network(EXAMPLE).network
        async with engine.begin() as conn:
            reg = await registration.register(conn, network, EXAMPLE.read_text(), SECRET, STARTED)
            await enqueue(conn, [factory.invite(reg, m, STARTED) for m in reg.members], STARTED)
            await conn.execute(update(t.outbox).values(state="sent", sent_at=STARTED))
        await engine.dispose()

    asyncio.run(build())
    return db


async def process(db: Path, name: str, *, sequence: int = 0) -> tuple[Any, dict[str, list[Any]]]:
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    raw = (CORPUS / f"{name}.eml").read_bytes()
    processor = inbox_processor(Factory(settings(db)), lambda: AFTER_ALL)
    try:
        async with engine.begin() as conn:
            if sequence:
                await conn.execute(update(t.networks).values(sequence=sequence))
            inbox_id = (
                await conn.execute(
                    t.inbox.insert().values(
                        mailbox="test",
                        uidvalidity=1,
                        uid=1,
                        sha256=name,
                        raw=raw,
                        size=len(raw),
                        received_at=AFTER_ALL,
                    )
                )
            ).inserted_primary_key[0]
            disposition = await processor(conn, int(inbox_id), raw)
        async with engine.connect() as conn:
            rows = {
                "rsvps": (await conn.execute(
                    select(t.rsvps.c.session_number, t.rsvps.c.partstat, t.rsvps.c.comment, t.participants.c.email)
                    .join(t.participants, t.participants.c.id == t.rsvps.c.participant_id)
                )).all(),
                "evaluations": (await conn.execute(
                    select(t.evaluations.c.session_number, t.evaluations.c.absent, t.evaluations.c.answers, t.participants.c.email)
                    .join(t.participants, t.participants.c.id == t.evaluations.c.participant_id)
                )).all(),
                "queued": (await conn.execute(
                    select(t.outbox.c.kind, t.outbox.c.recipient).where(t.outbox.c.state == "queued")
                )).all(),
                "bounced": (await conn.execute(
                    select(t.participants.c.email).where(t.participants.c.bounced_at.is_not(None))
                )).all(),
            }  # fmt: skip
    finally:
        await engine.dispose()
    return disposition, rows


def session_of(local: str) -> int:
    network = load_network(EXAMPLE).network
    for s in network.sessions:
        if network.local(s.slot).strftime("%Y-%m-%dT%H:%M") == local:
            return s.number
    raise AssertionError(local)


class TestCorpus:
    @pytest.mark.parametrize("name", CASES)
    async def test_corpus_mail(self, name: str, started_db: Path, tmp_path: Path) -> None:
        """Each client-shaped mail has exactly the effect its sidecar describes, and nothing else."""
        db = tmp_path / "leernet.db"
        shutil.copy(started_db, db)
        expected = json.loads((CORPUS / f"{name}.expected.json").read_text())
        kind = expected.get("classification", "evaluation")
        sequence = int(expected.get("context", {}).get("sequence", 0))
        disposition, rows = await process(db, name, sequence=sequence)
        queued_to = {r.recipient for r in rows["queued"]}

        if kind == "evaluation":
            assert disposition.outcome == "evaluation", disposition.reason
            (row,) = rows["evaluations"]
            assert row.absent is expected["absent"]
            assert row.answers == expected["answers"]
            assert row.session_number == (1 if expected.get("kickoff") else 6)
            assert queued_to == {
                row.email
            }  # one confirmation (or answer-again), to the participant
            assert rows["rsvps"] == []
            return
        assert rows["evaluations"] == []
        if kind == "rsvp" and not expected.get("attention") and not expected.get("stale"):
            assert disposition.attention is False, disposition.reason
            number = 0 if expected["recurrence"] is None else session_of(expected["recurrence"])
            # Apple answers the series and each override in one REPLY: all say the same.
            assert {(r.email, r.partstat) for r in rows["rsvps"]} == {
                (expected["participant"], expected["partstat"])
            }
            (row,) = [r for r in rows["rsvps"] if r.session_number == number]
            if expected.get("comment"):
                assert row.comment == expected["comment"]
            assert queued_to == set()  # an RSVP is not answered
            return
        # Nothing recorded, and nothing ever sent back to the sender.
        assert rows["rsvps"] == []
        sender_gets = queued_to - {ORGANISER}
        assert sender_gets == set(), f"{name} made leernet write to {sender_gets}"
        if kind == "bounce":
            assert {r.email for r in rows["bounced"]} == set(expected["bounced"])
            # The organiser hears of a bounce of our mail; a stranger's flags and tells nobody.
            assert queued_to == ({ORGANISER} if expected["bounced"] else set())
        elif expected.get("attention"):
            assert disposition.attention is True
            assert queued_to == {ORGANISER}  # the organiser is told once
        else:
            assert queued_to == set()


async def archive_all(db: Path, raws: list[bytes], *, batch: bool) -> list[tuple[Any, ...]]:
    """Archive and process ``raws`` as one FETCH batch or one mail at a time; what was recorded."""
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    processor = inbox_processor(Factory(settings(db)), lambda: AFTER_ALL)
    archive = Archive(engine, "test", processor, lambda: AFTER_ALL, 25 * 1024 * 1024)
    folders = Folders("processed", "attention")
    fetched = [Fetched(uid, len(raw), raw) for uid, raw in enumerate(raws, start=1)]
    try:
        await archive.checkpoint.begin(1)
        if batch:
            await archive.store_batch(1, [(m, False) for m in fetched], folders)
        else:
            for m in fetched:
                await archive.store(1, m, folders, too_large=False)
        async with engine.connect() as conn:
            outcomes = (
                await conn.execute(
                    select(t.inbox.c.uid, t.inbox.c.outcome, t.inbox.c.folder).order_by(
                        t.inbox.c.uid
                    )
                )
            ).all()
            rsvps = (
                await conn.execute(
                    select(
                        t.rsvps.c.participant_id, t.rsvps.c.session_number, t.rsvps.c.partstat
                    ).order_by(t.rsvps.c.participant_id, t.rsvps.c.session_number)
                )
            ).all()
            evaluations = (
                await conn.execute(
                    select(t.evaluations.c.participant_id, t.evaluations.c.answers).order_by(
                        t.evaluations.c.id
                    )
                )
            ).all()
            queued = (
                await conn.execute(
                    select(t.outbox.c.kind, t.outbox.c.recipient)
                    .where(t.outbox.c.state == "queued")
                    .order_by(t.outbox.c.kind, t.outbox.c.recipient)
                )
            ).all()
    finally:
        await engine.dispose()
    return [tuple(outcomes), tuple(rsvps), tuple(evaluations), tuple(queued)]


class TestBatch:
    async def test_a_batch_records_what_one_mail_at_a_time_records(
        self, started_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The whole corpus as one FETCH batch (lookups shared) has exactly the effect of the mails one by one."""
        raws = [(CORPUS / f"{name}.eml").read_bytes() for name in CASES]
        one, many = tmp_path / "one.db", tmp_path / "many.db"
        shutil.copyfile(started_db, one)
        shutil.copyfile(started_db, many)
        alone = await archive_all(one, raws, batch=False)

        async def no_fallback(*_: object, **__: object) -> None:
            raise AssertionError("the batch fell back to one mail per transaction")

        monkeypatch.setattr(Archive, "store", no_fallback)
        together = await archive_all(many, raws, batch=True)
        assert together == alone
        assert {o for _, o, _ in alone[0]} >= {"rsvp", "evaluation", "auto-reply"}

    async def test_a_mail_that_cannot_be_read_ahead_costs_only_itself(
        self, started_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A mail whose reading fails is set aside as an error; the rest of its batch is recorded."""
        names = [n for n in CASES if "accept" in n][:3]
        raws = [(CORPUS / f"{name}.eml").read_bytes() for name in names]
        real = process_module.read_message

        def failing(raw: bytes, max_bytes: int) -> Any:
            if raw is raws[1]:
                raise ValueError("a reader bug")
            return real(raw, max_bytes)

        monkeypatch.setattr(process_module, "read_message", failing)
        db = tmp_path / "leernet.db"
        shutil.copyfile(started_db, db)
        outcomes = (await archive_all(db, raws, batch=True))[0]
        assert [(uid, outcome) for uid, outcome, _ in outcomes] == [
            (1, "rsvp"),
            (2, "error"),
            (3, "rsvp"),
        ]
        assert outcomes[1][2] == "attention"
