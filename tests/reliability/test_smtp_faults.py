"""SMTP server faults through the daemon's sender: deferred and delivered later, or failed and told once."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from leernet.organiser.report import status
from tests.reliability.harness import ORGANISER, SLUG
from tests.reliability.service import outbox_rows, running_service
from tests.smtpserver import SmtpTestServer, closed_port

if TYPE_CHECKING:
    from pathlib import Path

    from leernet.daemon import Service
    from tests.reliability.service import Clock

VICTIM = "p1@example.com"


async def drain_until_quiet(service: Service, clock: Clock, rounds: int = 12) -> None:
    """Drain, move the clock past every backoff, until nothing is queued or deferred."""
    for _ in range(rounds):
        await service.send_once()
        rows = await outbox_rows(service.engine)
        if not any(r.state in {"queued", "deferred", "sending"} for r in rows):
            return
        clock.advance(minutes=61)


def copies(server: SmtpTestServer) -> Counter[str]:
    return Counter(r.message_id for r in server.received)


async def _fault_then_delivered(tmp: Path, fault: str, code: int | None, figure: list[str]) -> None:
    with SmtpTestServer() as server:
        async with running_service(tmp, smtp_port=server.port) as (service, clock, _):
            if fault == "connect":
                server.fail_connect(code or 421)
            elif fault == "rcpt":
                server.fail_rcpt(code or 452, recipient=VICTIM)
            elif fault == "data":
                server.fail_data(code or 451)
            else:
                server.drop_in_data()
            first = await service.send_once()
            assert first.deferred >= 1
            await drain_until_quiet(service, clock)
            rows = await outbox_rows(service.engine)
    states = Counter(r.state for r in rows)
    got = copies(server)
    figure.append(
        f"{fault} {code or 'drop'}: first drain {first}; final rows {dict(states)}; "
        f"{sum(1 for r in rows if got[r.message_id] == 1)}/{len(rows)} delivered exactly once"
    )
    assert states == Counter({"sent": len(rows)})
    assert all(got[r.message_id] == 1 for r in rows)
    assert not [r for r in rows if r.kind == "notice"]


class TestTemporaryFailures:
    async def test_421_at_connect_is_deferred_then_delivered(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """A 421 greeting defers the messages; they are all delivered once later."""
        await _fault_then_delivered(tmp_path, "connect", 421, figure)

    async def test_451_after_data_is_deferred_then_delivered(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """A 451 after the data defers that message; it is delivered once later."""
        await _fault_then_delivered(tmp_path, "data", 451, figure)

    async def test_452_on_rcpt_is_deferred_then_delivered(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """A 452 (insufficient storage) on RCPT defers; the message is delivered once later."""
        await _fault_then_delivered(tmp_path, "rcpt", 452, figure)

    async def test_552_on_rcpt_is_deferred_then_delivered(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """A 552 on RCPT is temporary (RFC 5321 4.5.3.1.10); the message is delivered once later."""
        await _fault_then_delivered(tmp_path, "rcpt", 552, figure)

    async def test_connection_dropped_mid_data_is_deferred_then_delivered(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """A connection cut in the middle of DATA defers the message; it is delivered later."""
        await _fault_then_delivered(tmp_path, "drop", None, figure)


class TestFinalFailures:
    async def test_550_fails_and_the_organiser_is_told_once(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """A 550 on RCPT fails that message at once; the organiser gets exactly one notice."""
        with SmtpTestServer() as server:
            async with running_service(tmp_path, smtp_port=server.port) as (service, clock, _):
                server.fail_rcpt(550, recipient=VICTIM, times=50)
                await drain_until_quiet(service, clock)
                await drain_until_quiet(service, clock)
                rows = await outbox_rows(service.engine)
        failed = [r for r in rows if r.state == "failed"]
        notices = [r for r in rows if r.kind == "notice"]
        got = copies(server)
        figure.append(
            f"550 on RCPT: {len(failed)} failed ({failed[0].last_error if failed else '-'}), "
            f"{len(notices)} notice(s) to the organiser, attempts {[r.attempts for r in failed]}"
        )
        assert [(r.recipient, r.attempts) for r in failed] == [(VICTIM, 1)]
        assert [n.recipient for n in notices] == [ORGANISER]
        assert got[notices[0].message_id] == 1
        assert all(r.state == "sent" for r in rows if r not in failed)

    async def test_server_down_beyond_give_up_fails_and_is_reported(
        self, tmp_path: Path, figure: list[str]
    ) -> None:
        """With the server down for longer than the give-up period, every message fails once and the organiser is told once, not once per message."""
        port = closed_port()
        async with running_service(
            tmp_path, smtp_port=port, smtp_timeout=1, send_give_up_hours=6
        ) as (service, clock, _):
            drains = 0
            for _ in range(10):
                await service.send_once()
                drains += 1
                clock.advance(minutes=61)
            rows = await outbox_rows(service.engine)
            again = await outbox_rows(service.engine)
            async with service.engine.connect() as conn:
                report = await status(conn, SLUG)
        first = [r for r in rows if r.kind != "notice"]
        notices = [r for r in rows if r.kind == "notice"]
        figure.append(
            f"server down {drains} h with give-up 6 h: {Counter(r.state for r in first)}; "
            f"{len(notices)} failure notice(s) queued for the organiser"
        )
        assert all(r.state == "failed" and "gave up" in r.last_error for r in first)
        assert len(first) == 4
        assert len(notices) == 1  # one a day per network; `leernet status` lists all four
        assert {n.recipient for n in notices} == {ORGANISER}
        assert sorted(n.recipient for n in report.not_sent) == sorted(r.recipient for r in first)
        assert len(again) == len(rows)
