"""Mail from strangers is counted in one digest per network and day, never quoted as the service's words."""

from __future__ import annotations

import email
import re
import shutil
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from leernet.mailer.archive import Archive
from leernet.mailer.disposition import Folders
from leernet.mailer.imap_responses import Fetched
from leernet.messages.factory import Factory
from leernet.organiser.desk import inbox_processor
from leernet.replies import strangers
from leernet.replies.strangers import defuse, moment_after
from leernet.store import open_store
from leernet.store import schema as t
from tests.test_classify import token
from tests.test_process import AFTER_ALL, ORGANISER, process, settings, started_db

__all__ = ["started_db"]  # the fixture, shared with test_process

BAIT = "Uw wachtwoord verloopt https://evil.example/login?u=1 www.evil.example"


def stranger(n: int, senders: int) -> bytes:
    """A stranger's mail to the plain service address (no token, no reference)."""
    return (
        f"From: Leernet Support <x{n % senders}@elders.example>\r\n"
        "To: netwerk@example.org\r\n"
        f"Subject: {BAIT} {n}\r\n"
        f"Message-ID: <s{n}@elders.example>\r\n"
        "\r\nKlik hier.\r\n"
    ).encode()


def forged(n: int, senders: int) -> bytes:
    """Bert's reply token with another sender's From: rejected, names the network."""
    return (
        f"From: spoof{n % senders}@elders.example\r\n"
        f"To: netwerk+{token('bert.claes@example.com')}@example.org\r\n"
        f"Subject: {BAIT} f{n}\r\n"
        f"Message-ID: <f{n}@elders.example>\r\n"
        "\r\n1. 5\r\n"
    ).encode()


async def run(db: Path, raws: list[bytes], *, first_uid: int = 1) -> None:
    """Archive and process ``raws`` as FETCH batches of 100 by a fresh processor (a fresh process)."""
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    processor = inbox_processor(Factory(settings(db)), lambda: AFTER_ALL)
    archive = Archive(engine, "test", processor, lambda: AFTER_ALL, 25 * 1024 * 1024)
    folders = Folders("leernet.processed", "leernet.needs-attention")  # as Dovecot names them
    try:
        await archive.checkpoint.begin(1)
        for start in range(0, len(raws), 100):
            fetched = [
                Fetched(first_uid + start + i, len(raw), raw)
                for i, raw in enumerate(raws[start : start + 100])
            ]
            await archive.store_batch(1, [(m, False) for m in fetched], folders)
    finally:
        await engine.dispose()


async def notices(db: Path) -> list[Any]:
    engine = await open_store(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    t.outbox.c.key,
                    t.outbox.c.recipient,
                    t.outbox.c.next_attempt_at,
                    t.outbox_body.c.raw,
                )
                .join(t.outbox_body, t.outbox_body.c.outbox_id == t.outbox.c.id)
                .where(t.outbox.c.kind == "notice")
                .order_by(t.outbox.c.key)
            )
            return list(rows)
    finally:
        await engine.dispose()


def texts(raw: bytes) -> tuple[str, str]:
    """The plain text and the HTML of a composed notice."""
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None
    assert html is not None
    return str(plain.get_content()), str(html.get_content())


class TestFlood:
    async def test_200_strangers_make_one_notice_per_network(
        self, started_db: Path, tmp_path: Path
    ) -> None:
        """200 unverified mails in one pass queue one digest per network, with the right counts."""
        db = tmp_path / "leernet.db"
        shutil.copy(started_db, db)
        raws = [stranger(n, 30) for n in range(150)] + [forged(n, 10) for n in range(50)]
        await run(db, raws)
        rows = await notices(db)
        assert [r.recipient for r in rows] == [ORGANISER, ORGANISER]
        assert [r.key.split("/")[2] for r in rows] == ["-", "1"]  # no network; the network
        counts = {"-": ("150 mail(s)", "30 afzender(s)"), "1": ("50 mail(s)", "10 afzender(s)")}
        for row in rows:
            plain, html = texts(row.raw)
            for expected in counts[row.key.split("/")[2]]:
                assert expected in plain
            # Goes out at 08:00 in Brussels, not at once.
            assert row.next_attempt_at.replace(tzinfo=UTC) == moment_after(
                AFTER_ALL, "Europe/Brussels"
            )
            for text in (plain, html):
                assert "https://" not in text
                assert "evil.example" not in text
                assert "href" not in text.replace('href="mailto', "")  # no link of theirs
                assert "<a " not in text.split("wachtwoord")[0][-400:]
            for line in plain.splitlines():
                if "wachtwoord" in line:  # their words appear only marked as theirs
                    assert "onderwerp volgens de afzender: «" in line, line
                    assert len(line) < 220
            assert "en nog " in plain  # 10 lines by name, the rest counted

    async def test_work_per_mail_does_not_grow_with_the_flood(
        self, started_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Rewriting the digest quotes at most ten senders, however many mails it counts."""
        calls: list[int] = []
        real = strangers.defuse

        def counting(value: str, limit: int = 80) -> str:
            calls.append(1)
            return real(value, limit)

        monkeypatch.setattr(strangers, "defuse", counting)
        db = tmp_path / "leernet.db"
        shutil.copy(started_db, db)
        await run(db, [stranger(n, 50) for n in range(150)])
        assert len(calls) <= 150 * 2 * strangers.MAX_LINES

    async def test_counts_survive_a_restart(self, started_db: Path, tmp_path: Path) -> None:
        """After a restart the day's digest is rewritten with the earlier mails still counted."""
        db = tmp_path / "leernet.db"
        shutil.copy(started_db, db)
        await run(db, [stranger(n, 3) for n in range(3)])
        await run(db, [stranger(n, 3) for n in range(3, 5)], first_uid=10)
        (row,) = await notices(db)
        plain, _ = texts(row.raw)
        assert "5 mail(s)" in plain
        assert "3 afzender(s)" in plain

    async def test_the_same_mail_is_counted_once(self, started_db: Path, tmp_path: Path) -> None:
        """A mail delivered twice (a duplicate) does not raise the count."""
        db = tmp_path / "leernet.db"
        shutil.copy(started_db, db)
        await run(db, [stranger(1, 3), stranger(1, 3), stranger(2, 3)])
        (row,) = await notices(db)
        assert "2 mail(s)" in texts(row.raw)[0]


class TestDefuse:
    def test_links_and_addresses_are_made_inert(self) -> None:
        """A URL, a bare domain and an address are shown but no client would link them."""
        out = defuse("go https://evil.example/x and www.evil.example or a@evil.example", 200)
        assert (
            out == "go hxxps[:]//evil[.]example/x and www[.]evil[.]example or a[at]evil[.]example"
        )

    def test_control_and_bidi_characters_and_length(self) -> None:
        """Control and bidi characters become spaces, and a long subject is cut."""
        out = defuse("a\u202eb\r\nc" + "x" * 500)
        assert out.startswith("a b c")
        assert len(out) == 80

    def test_the_next_moment_is_8_in_the_zone(self) -> None:
        """Mail before 08:00 is in that morning's digest, after 08:00 in the next morning's."""
        zone = "Europe/Brussels"
        early = moment_after(datetime(2027, 3, 1, 6, 0, tzinfo=UTC), zone)
        late = moment_after(datetime(2027, 3, 1, 8, 0, tzinfo=UTC), zone)
        assert early.astimezone(UTC) == datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
        assert late.astimezone(UTC) == datetime(2027, 3, 2, 7, 0, tzinfo=UTC)


class TestDefuseProperty:
    @given(st.text(max_size=300) | st.sampled_from(["sftp://a.b", "HTTPS://x.y", "a@b.c"]))
    def test_nothing_a_client_would_link_survives(self, value: str) -> None:
        """No scheme, no address and no dotted name survives defusing, and no line break."""
        out = defuse(value, 300)
        assert "://" not in out
        assert "@" not in out
        assert not re.search(r"\w\.\w", out)
        assert "\n" not in out
        assert "\r" not in out


class TestVerifiedNotice:
    async def test_a_delegated_reply_keeps_its_own_notice_with_a_marked_subject(
        self, started_db: Path, tmp_path: Path
    ) -> None:
        """A verified participant's DELEGATED reply gets one notice of its own, its subject marked as theirs."""
        db = tmp_path / "leernet.db"
        shutil.copy(started_db, db)
        disposition, _ = await process(db, "outlook_delegated")
        assert disposition.attention is True
        (row,) = await notices(db)
        assert row.key.startswith("notice/attention/")
        plain = " ".join(texts(row.raw)[0].split())
        assert "onderwerp volgens de afzender: «" in plain
