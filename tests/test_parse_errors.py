"""A reader that fails on a mail sets it aside for a person; it never turns into "answer again"."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from leernet.replies import answers, mailtext
from tests.test_process import CORPUS, ORGANISER, archive_all, process, started_db

__all__ = ["started_db"]  # the fixture, shared with the corpus tests

EVALUATION = "gmail_eval_top_numbered"


def broken(*_: Any, **__: Any) -> Any:
    raise RuntimeError("a reader bug")


@pytest.fixture
def db(started_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "leernet.db"
    shutil.copy(started_db, copy)
    return copy


class TestParserFailure:
    @pytest.mark.parametrize(
        ("module", "name"),
        [(answers._Reader, "read"), (mailtext, "_texts"), (mailtext, "cut_index")],
        ids=["answers", "mail-text", "new-text"],
    )
    async def test_a_failing_reader_sets_the_mail_aside(
        self,
        module: Any,
        name: str,
        db: Path,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """No answer-again mail: nothing recorded, the organiser is told, the error is logged."""
        monkeypatch.setattr(module, name, broken)
        with caplog.at_level(logging.ERROR, logger="leernet.process"):
            disposition, rows = await process(db, EVALUATION)
        assert disposition.attention is True
        assert "a reader bug" in disposition.reason
        assert rows["evaluations"] == []
        assert all(r.kind != "answer-again" for r in rows["queued"])
        assert {r.recipient for r in rows["queued"]} == {ORGANISER}
        (record,) = [r for r in caplog.records if getattr(r, "inbox_id", None) is not None]
        assert record.exc_info is not None

    async def test_the_mail_goes_to_needs_attention(
        self, db: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Through the real archive, the mail whose reader failed is in the attention folder."""
        monkeypatch.setattr(answers._Reader, "read", broken)
        raw = (CORPUS / f"{EVALUATION}.eml").read_bytes()
        outcomes, _, evaluations, queued = await archive_all(db, [raw], batch=True)
        assert [(outcome, folder) for _, outcome, folder in outcomes] == [
            ("evaluation", "attention")
        ]
        assert evaluations == ()
        assert {recipient for _, recipient in queued} == {ORGANISER}
        assert "answer-again" not in {kind for kind, _ in queued}
