"""Outlook meeting responses that arrive as a TNEF winmail.dat or only as an "Accepted:" subject."""

from __future__ import annotations

import email
import shutil
import struct
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from leernet.replies import tnef
from leernet.replies.classify import Outcome, classify
from leernet.store import open_store
from leernet.store import schema as t
from tests.test_classify import BERT, BERT_TO, CTX
from tests.test_process import ORGANISER, process, started_db
from tests.tnefdata import LVL_MESSAGE, SIGNATURE, attribute, outlook_mail, winmail

__all__ = ["started_db"]  # the fixture, shared with test_process


class TestMessageClass:
    def test_the_message_class_is_read(self) -> None:
        """The message class of an Outlook-shaped winmail.dat is read through tnefparse."""
        assert tnef.message_class(winmail("IPM.Schedule.Meeting.Resp.Tent")) == (
            "IPM.Schedule.Meeting.Resp.Tent"
        )

    def test_not_tnef_is_an_error(self) -> None:
        """Bytes without the TNEF signature raise ValueError (the caller sets the mail aside)."""
        with pytest.raises(ValueError, match="signature"):
            tnef.message_class(b"PK\x03\x04 not tnef")

    def test_work_is_bounded_by_attributes_not_size(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A winmail.dat of 100,000 tiny attributes is read only up to a fixed number of them."""
        made: list[int] = []
        real = tnef.TNEFObject

        def counting(data: memoryview) -> object:
            made.append(len(data))
            return real(data)

        monkeypatch.setattr(tnef, "TNEFObject", counting)
        filler = attribute(0x00010006, b"\x00", LVL_MESSAGE) * 100_000
        data = struct.pack("<IH", SIGNATURE, 1) + filler
        assert tnef.message_class(data) == ""
        assert len(made) <= 64


class TestArbitraryBytes:
    @given(st.binary(max_size=2000))
    def test_any_winmail_dat_is_read_or_set_aside(self, tail: bytes) -> None:
        """Whatever follows the TNEF signature, the reader returns or the mail is set aside; it never raises."""
        data = struct.pack("<IH", SIGNATURE, 1) + tail
        raw = outlook_mail(
            sender=BERT, to=BERT_TO, subject="RE: x", message_class="", body="1. 4", data=data
        )
        c = classify(raw, CTX)
        assert c.outcome in (Outcome.EVALUATION, Outcome.AUTO_REPLY), c.reason
        assert "could not be classified" not in c.reason


def mail(subject: str, message_class: str | None, body: str = "") -> bytes:
    return outlook_mail(
        sender=BERT, to=BERT_TO, subject=subject, message_class=message_class, body=body
    )


class TestClassify:
    @pytest.mark.parametrize(
        "subject",
        [
            "Accepted: Lerend netwerk werkbaar werk",
            "Geaccepteerd: Lerend netwerk werkbaar werk",
            "Aanvaard: Lerend netwerk werkbaar werk",
            "Geweigerd: Lerend netwerk werkbaar werk",
            "Afgewezen: Lerend netwerk werkbaar werk",
            "Voorlopig: Lerend netwerk werkbaar werk",
            "Tentative: Lerend netwerk werkbaar werk",
            "Zugesagt: Lerend netwerk werkbaar werk",
            "Abgelehnt: Lerend netwerk werkbaar werk",
            "Refusé: Lerend netwerk werkbaar werk",
            "Provisoire: Lerend netwerk werkbaar werk",
            "Accepté : Lerend netwerk werkbaar werk",
            "Abgesagt: Lerend netwerk werkbaar werk",
            "Mit Vorbehalt: Lerend netwerk werkbaar werk",
        ],
    )
    def test_a_response_subject_without_calendar_is_set_aside(self, subject: str) -> None:
        """A verified mail whose subject is a meeting response, without a calendar part, is never answered."""
        c = classify(mail(subject, None, "1. 4"), CTX)
        assert c.outcome == Outcome.AUTO_REPLY, c.reason
        assert c.attention is True
        assert c.answer_to_service is False

    def test_a_tnef_response_names_what_was_answered(self) -> None:
        """A winmail.dat meeting response is set aside, and the reason says it was declined."""
        c = classify(mail("RE: iets", "IPM.Schedule.Meeting.Resp.Neg"), CTX)
        assert c.outcome == Outcome.AUTO_REPLY
        assert "declined" in c.reason
        assert c.attention is True
        assert c.answer_to_service is False

    def test_an_unreadable_winmail_dat_is_set_aside(self) -> None:
        """A winmail.dat that cannot be read is set aside, never taken for an evaluation."""
        raw = mail("RE: Evaluatie", "IPM.Note", "1. 4").replace(b"eJ8+IisaAQ", b"AAAAAAAAAA")
        c = classify(raw, CTX)
        assert c.outcome == Outcome.AUTO_REPLY, c.reason
        assert "cannot be read" in c.reason
        assert c.answer_to_service is False

    def test_an_ordinary_outlook_mail_in_tnef_stays_an_evaluation(self) -> None:
        """An Outlook reply whose winmail.dat is an IPM.Note is still read as an evaluation."""
        c = classify(mail("RE: Evaluatie", "IPM.Note", "1. 4"), CTX)
        assert c.outcome == Outcome.EVALUATION, c.reason
        assert c.answer_to_service is True

    def test_a_strangers_tnef_response_is_not_verified(self) -> None:
        """A meeting response without a token from a stranger stays an unknown mail set aside."""
        raw = outlook_mail(
            sender="x@elders.be",
            to="netwerk@example.org",
            subject="Accepted: Lerend netwerk",
            message_class="IPM.Schedule.Meeting.Resp.Pos",
        )
        c = classify(raw, CTX)
        assert c.outcome == Outcome.UNKNOWN
        assert c.attention is True


class TestProcess:
    @pytest.mark.parametrize(
        ("name", "words"),
        [
            ("outlook_tnef_accept", "Bert Claes beantwoordde de uitnodiging (komt)"),
            ("outlook_tnef_decline_en", "Sofie Maes beantwoordde de uitnodiging (komt niet)"),
        ],
    )
    async def test_the_organiser_reads_the_answer_and_nobody_is_answered(
        self, name: str, words: str, started_db: Path, tmp_path: Path
    ) -> None:
        """A verified TNEF response records nothing, answers nobody, and tells the organiser once what it said."""
        db = tmp_path / "leernet.db"
        shutil.copy(started_db, db)
        disposition, rows = await process(db, name)
        assert disposition.attention is True
        assert rows["rsvps"] == []
        assert rows["evaluations"] == []
        assert [(r.kind, r.recipient) for r in rows["queued"]] == [("notice", ORGANISER)]
        engine = await open_store(f"sqlite+aiosqlite:///{db}")
        try:
            async with engine.connect() as conn:
                raw = (
                    await conn.execute(
                        select(t.outbox_body.c.raw)
                        .join(t.outbox, t.outbox.c.id == t.outbox_body.c.outbox_id)
                        .where(t.outbox.c.kind == "notice")
                    )
                ).scalar_one()
        finally:
            await engine.dispose()
        msg = email.message_from_bytes(raw, policy=default)
        assert isinstance(msg, EmailMessage)
        plain = msg.get_body(("plain",))
        assert plain is not None
        assert words in " ".join(str(plain.get_content()).split())
