"""Privacy: answers without consent never reach a manager; erase and purge do what they promise."""

from __future__ import annotations

import asyncio
import email
import email.policy
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leernet.cli import main
from leernet.messages.factory import Factory
from leernet.messages.kinds import Kind
from leernet.network.load import parse_network
from leernet.organiser.commands import manager_notes
from leernet.planning.followups import StepMessages
from leernet.planning.steps import Step
from leernet.records import record, registration
from leernet.store import open_store
from tests.reliability.harness import FULL, SECRET, db_query, network_toml, people, settings_for
from tests.reliability.service import (
    PAST_FIRST,
    PAST_T0,
    Clock,
    answers_to,
    evaluation_requests,
    process,
    running_service,
)
from tests.smtpserver import SmtpTestServer

EXAMPLE = Path(__file__).parent.parent.parent / "config" / "network.example.toml"
REGISTERED = datetime(2027, 1, 2, 8, 0, tzinfo=UTC)
AFTER_END = datetime(2027, 7, 1, 8, 0, tzinfo=UTC)


def texts_of(raw: bytes) -> str:
    """Every decoded text part of a message (quoted-printable and base64 undone), and its headers."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = [str(v) for v in msg.values()]
    for part in msg.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                out.append(payload.decode("utf-8", "replace"))
    return "\n".join(out)


# Per participant, per session: (consent answer, absent); consent None = question not answered.
CONSENT = st.sampled_from([True, False, None, "ja"])
EVALUATION = st.tuples(CONSENT, st.booleans())
PLAN = st.lists(
    st.dictionaries(st.integers(1, 6), EVALUATION, max_size=4), min_size=12, max_size=12
)


async def _manager_mail(
    plan: list[dict[int, tuple[object, bool]]],
) -> tuple[list[bytes], dict[str, bool]]:
    """Register the example network, record the planned evaluations, build every manager-bound message."""
    source = EXAMPLE.read_text(encoding="utf-8")
    network = parse_network(source).network
    factory = Factory(settings_for(Path("/nonexistent.db")))
    with tempfile.TemporaryDirectory() as tmp:
        engine = await open_store(f"sqlite+aiosqlite:///{tmp}/privacy.db")
        try:
            async with engine.begin() as conn:
                reg = await registration.register(conn, network, source, SECRET, REGISTERED)
                secrets: dict[str, bool] = {}
                for member, sessions in zip(reg.active_members, plan, strict=False):
                    latest = None
                    for i, (number, (consent, absent)) in enumerate(sorted(sessions.items())):
                        secret = f"GEHEIM{member.id}X{number}"
                        answers: dict[str, object] = {
                            "1": 4,
                            "2": secret,
                            "3": f"PRIVE{member.id}X{number}",
                        }
                        if consent is not None:
                            answers["4"] = consent
                        await record.record_evaluation(
                            conn, participant_id=member.id, session_number=number, absent=absent,
                            answers=answers, received_at=REGISTERED + timedelta(days=30 * number + i),
                            inbox_id=None,
                        )  # fmt: skip
                        says = None if absent or not isinstance(consent, bool) else consent
                        latest = says if says is not None else latest
                        secrets[secret] = says is True
                    for number in sessions:
                        key = f"GEHEIM{member.id}X{number}"
                        secrets[key] = secrets[key] and latest is not False
                step = Step("manager-summary/hr-ovl-2027", Kind.MANAGER_SUMMARY, reg.id, 0,
                            AFTER_END, AFTER_END + timedelta(days=1))  # fmt: skip
                summaries = await StepMessages(factory, conn, reg, step, AFTER_END).build()
                starts = manager_notes(factory, reg, network.participants, REGISTERED)
                dated = [
                    await StepMessages(
                        factory, conn, reg,
                        Step(f"manager-summary/x/{m.email}", Kind.MANAGER_SUMMARY, reg.id, 0,
                             AFTER_END, AFTER_END, email=m.email),
                        AFTER_END,
                    ).build()
                    for m in reg.active_members
                ]  # fmt: skip
        finally:
            await engine.dispose()
    raws = [o.raw for o in (*summaries, *starts, *(o for group in dated for o in group))]
    return raws, secrets


class TestConsent:
    @settings(
        max_examples=60 if FULL else 12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(PLAN)
    def test_no_answer_without_consent_reaches_a_manager(
        self, plan: list[dict[int, tuple[object, bool]]]
    ) -> None:
        """Across every manager-bound message, an answer appears only with a literal yes that was not withdrawn later."""
        raws, secrets = asyncio.run(_manager_mail(plan))
        text = "\n".join(texts_of(raw) for raw in raws)
        assert "PRIVE" not in text  # never shared, whatever the consent
        for secret, may in secrets.items():
            if not may:
                assert secret not in text, secret


def everything_in(db: Path) -> str:
    """Every value of every table, with stored mail decoded, as one searchable text."""
    out: list[str] = []
    tables = [r[0] for r in db_query(db, "SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        for row in db_query(db, f'SELECT * FROM "{table}"'):
            for value in row:
                if isinstance(value, bytes):
                    out.append(
                        texts_of(value)
                        if b"\r\n\r\n" in value
                        else value.decode("utf-8", "replace")
                    )
                else:
                    out.append(str(value))
    return "\n".join(out)


SECRET_TEXT = "Ik neem idee 1 mee."  # what answers_to(request, 1) writes in answer 2


async def _answered_network(tmp: Path) -> dict[str, Any]:
    """A network that ended in 2025: answers from p1 and p2 processed, confirmations sent."""
    toml = network_toml(people(3), first=PAST_FIRST)
    with SmtpTestServer() as smtp:
        async with running_service(tmp, toml=toml, clock=Clock(PAST_T0), smtp_port=smtp.port) as (
            svc, clock, s,
        ):  # fmt: skip
            await svc.send_once()
            requests = await evaluation_requests(svc, clock, year=2025)
            for i, request in enumerate(requests[:2], start=1):
                await process(svc, answers_to(request, i))
            await svc.send_once()
    return {"db": tmp / "leernet.db", "settings": s}


def cli_env(db: Path, **extra: str) -> dict[str, str]:
    return {
        "LEERNET_SECRET": SECRET,
        "LEERNET_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        **{f"LEERNET_{k.upper()}": v for k, v in extra.items()},
    }


class TestErase:
    async def test_erase_removes_answers_raw_mail_and_pending_mail(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """After `leernet erase`, nothing the participant wrote is left in any table, and nothing more goes to them."""
        w = await _answered_network(tmp_path)
        db = w["db"]
        sqlite_now = "2031-01-01 00:00:00"
        with sqlite3.connect(db) as conn:  # one message still waiting for p1
            row_id = conn.execute(
                "INSERT INTO outbox (key, network_id, kind, recipient, message_id, state,"
                " attempts, created_at, next_attempt_at) VALUES ('later/p1', 1, 'reminder',"
                " 'p1@example.com', '<later@x>', 'queued', 0, ?, ?)",
                (sqlite_now, sqlite_now),
            ).lastrowid
            conn.execute("INSERT INTO outbox_body (outbox_id, raw) VALUES (?, X'00')", (row_id,))
        assert SECRET_TEXT in everything_in(db)
        result = await asyncio.to_thread(
            CliRunner().invoke, main, ["erase", "hr-ovl-2027", "--participant", "P1@example.com"],
            env=cli_env(db),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        left = everything_in(db)
        pending = db_query(db, "SELECT state FROM outbox WHERE key = 'later/p1'")
        evaluations = db_query(
            db, "SELECT count(*) FROM evaluations e JOIN participants p ON p.id = e.participant_id"
            " WHERE p.email = 'p1@example.com'",
        )  # fmt: skip
        figure.append(
            f"erase: p1's text left in the database: {SECRET_TEXT in left}; p2's kept: "
            f"{'Ik neem idee 2 mee.' in left}; pending mail {pending}; evaluations {evaluations}"
        )
        assert evaluations == [(0,)]
        assert pending == [("cancelled",)]
        assert "Ik neem idee 2 mee." in left  # someone else's answer stays
        assert SECRET_TEXT not in left


class TestPurge:
    async def test_purge_exports_then_deletes_free_text(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """`leernet purge` refuses within the retention period, then writes the export and leaves no free text."""
        w = await _answered_network(tmp_path)
        db, out = w["db"], tmp_path / "export.json"
        runner = CliRunner()
        kept = await asyncio.to_thread(
            runner.invoke, main, ["purge", "hr-ovl-2027", "--out", str(out)],
            env=cli_env(db, retention_days="36500"),
        )  # fmt: skip
        assert kept.exit_code == 1
        assert "kept until" in " ".join(kept.output.split())
        assert not out.exists()
        done = await asyncio.to_thread(
            runner.invoke, main, ["purge", "hr-ovl-2027", "--out", str(out)],
            env=cli_env(db, retention_days="30"),
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        exported = out.read_text(encoding="utf-8")
        left = everything_in(db)
        figure.append(
            f"purge: refused within retention; export has the answers: {SECRET_TEXT in exported}; "
            f"free text left in the database: {SECRET_TEXT in left or 'Ik neem idee 2' in left}"
        )
        assert SECRET_TEXT in exported
        assert "Ik neem idee" not in left


class TestEraseOnDisk:
    async def test_erased_text_is_gone_from_the_file(self, tmp_path: Path) -> None:
        """After erase and a checkpoint, the participant's words are not in the database file's bytes.

        This holds because SQLite here zeroes freed content (``secure_delete``, on in
        Debian's build); leernet does not set it itself.
        """
        w = await _answered_network(tmp_path)
        db = w["db"]
        result = await asyncio.to_thread(
            CliRunner().invoke, main, ["erase", "hr-ovl-2027", "--participant", "p1@example.com"],
            env=cli_env(db),
        )  # fmt: skip
        assert result.exit_code == 0
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert b"idee 1 mee" not in db.read_bytes()
