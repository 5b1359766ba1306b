"""A mail the service died on is set aside at the next start, before anything else, never retried for ever."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from leernet.mailer.imap import ImapSession
from leernet.mailer.inflight import InFlight
from tests.dovecot import ImapAccount, append, messages, uids
from tests.reliability.harness import daemon_env, db_query, kill9, run_cli, wait_until

if TYPE_CHECKING:
    from pathlib import Path

ATTENTION = "leernet.needs-attention"  # Dovecot maildir's hierarchy delimiter is "."
PROCESSED = "leernet.processed"
ADMIN = "beheer@example.org"

# ``leernet run --once`` whose processor hangs on one mail: test code around the real CLI
# (the hang stands for a parser loop, a regex or a VTIMEZONE expansion a person ends with
# kill -9; the production code has no hook for it). It sleeps, so no CPU budget ends it.
_HANGING_RUN = """
import time
from leernet.replies import processor
original = processor.Processor.__call__
async def hanging(self, conn, inbox_id, raw):
    if b"HANG-HERE" in raw:
        while True:
            time.sleep(1)
    return await original(self, conn, inbox_id, raw)
processor.Processor.__call__ = hanging
from leernet.cli import main
main(["run", "--once"])
"""


def stranger_mail(n: int, body: str = "") -> bytes:
    return (
        f"From: Onbekende {n} <onbekend{n}@example.net>\r\nTo: netwerk@example.org\r\n"
        f"Subject: Vraag {n}\r\nMessage-ID: <vraag-{n}@example.net>\r\n"
        f"Date: Thu, 14 Jan 2027 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body or f'Tekst {n}.'}\r\n"
    ).encode()


def _env(db: Path, account: ImapAccount) -> dict[str, str]:
    return daemon_env(
        db,
        imap_port=account.port,
        imap_user=account.user,
        imap_password=account.password,
        admin_address=ADMIN,
        smtp_port=9,  # nothing listens: notices stay queued, which is all the test reads
        smtp_timeout=1,
    )


async def _uidvalidity(account: ImapAccount) -> int:
    session = await ImapSession.open(account.settings())
    try:
        return await session.select("INBOX")
    finally:
        await session.logout()


def _in_hand(path: Path, uid: int) -> bool:
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return False
    return any(line.split()[:1] == [b"S"] and line.split()[2:3] == [b"%d" % uid] for line in lines)


@pytest.mark.dovecot
class TestCrashDuringAMail:
    def test_the_mail_a_killed_run_hung_on_is_set_aside_first_and_the_rest_processed(
        self, tmp_path: Path, dovecot: ImapAccount, figure: list[str]
    ) -> None:
        """After kill -9 during one mail, the next ``run --once`` sets that mail aside unprocessed before any other, tells the admin, and processes the rest."""
        db = tmp_path / "leernet.db"
        env = _env(db, dovecot)
        raws = [stranger_mail(1), stranger_mail(2), stranger_mail(3, "HANG-HERE"), stranger_mail(4)]
        asyncio.run(append(dovecot, *raws))
        log = tmp_path / "leernet.db.inflight"
        with (tmp_path / "hung.log").open("wb") as out:
            hung = subprocess.Popen(
                [sys.executable, "-c", _HANGING_RUN], cwd=tmp_path, env=env, stdout=out, stderr=out
            )
        try:
            assert wait_until(lambda: _in_hand(log, 3) or hung.poll() is not None, 60)
            assert hung.poll() is None, (tmp_path / "hung.log").read_text()
            kill9(hung)
        finally:
            kill9(hung)
            hung.wait(30)
        # The batch was one transaction: nothing of it is in the store, all four wait in INBOX.
        assert db_query(db, "SELECT count(*) FROM inbox") == [(0,)]
        assert len(asyncio.run(uids(dovecot))) == 4

        again = run_cli(tmp_path, env, "run", "--once", timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        stored = db_query(db, "SELECT id, uid, outcome, folder, raw FROM inbox ORDER BY id")
        # Set aside first (the lowest row id), unprocessed, kept byte for byte.
        first = stored[0]
        assert (first[1], first[2], first[3], bytes(first[4])) == (
            3,
            "interrupted",
            ATTENTION,
            raws[2],
        )
        rest = {row[1]: row[2] for row in stored[1:]}
        assert sorted(rest) == [1, 2, 4]
        assert "interrupted" not in rest.values()
        assert all(outcome for outcome in rest.values())  # the processor ran on each of them
        # A person is told, and nothing is left in flight.
        notices = db_query(db, "SELECT recipient, key FROM outbox WHERE kind = 'notice'")
        # Sent to the plain service address, it is a stranger's: counted in the admin's digest.
        assert any(r == ADMIN and k.startswith("notice/strangers/-/") for r, k in notices)
        assert not log.exists()
        assert asyncio.run(uids(dovecot)) == []
        assert raws[2] in asyncio.run(messages(dovecot, ATTENTION))
        figure.append(f"killed during mail 3 of 4; next start: {len(stored)} archived, 1 set aside")

    def test_a_crash_record_is_trusted_only_for_the_same_mail(
        self, tmp_path: Path, dovecot: ImapAccount
    ) -> None:
        """A crash record whose UIDVALIDITY or digest does not match the mail now at that UID sets nothing aside."""
        db = tmp_path / "leernet.db"
        env = _env(db, dovecot)
        raws = [stranger_mail(1), stranger_mail(2)]
        asyncio.run(append(dovecot, *raws))
        first, second = asyncio.run(uids(dovecot))
        uidvalidity = asyncio.run(_uidvalidity(dovecot))
        inflight = InFlight.for_store(f"sqlite+aiosqlite:///{db}")
        assert inflight.path == tmp_path / "leernet.db.inflight"
        inflight.started(uidvalidity, first, hashlib.sha256(b"another mail").hexdigest())
        inflight.started(uidvalidity + 1, second, hashlib.sha256(raws[1]).hexdigest())
        inflight.close()
        done = run_cli(tmp_path, env, "run", "--once", timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        outcomes = [row[0] for row in db_query(db, "SELECT outcome FROM inbox ORDER BY uid")]
        assert len(outcomes) == 2
        assert "interrupted" not in outcomes
        assert not (tmp_path / "leernet.db.inflight").exists()
