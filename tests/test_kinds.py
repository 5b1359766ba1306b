"""Message kinds and keys: one enum names every kind and its template; keys are built and read in one place."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from leernet.messages import keys
from leernet.messages.keys import MessageKeyError, Parsed
from leernet.messages.kinds import Kind, Template

TEMPLATES = Path(__file__).parents[1] / "leernet" / "templates"


class TestKinds:
    @pytest.mark.parametrize("kind", list(Kind))
    def test_every_kind_has_its_template_in_both_languages(self, kind: Kind) -> None:
        """Every kind names a template that exists in Dutch and English: subject, text and HTML."""
        for language in ("nl", "en"):
            for part in (".subject.txt", ".txt", ".html"):
                assert (TEMPLATES / language / f"{kind.template}{part}").is_file()

    def test_every_template_file_is_a_template_member(self) -> None:
        """No template file lies about that the enum does not know (nor the other way round)."""
        names = {p.name.split(".")[0] for p in (TEMPLATES / "nl").iterdir()}
        assert {t.value for t in Template} == names - {"_base", "_macros"}

    def test_stored_kinds_read_back_as_members(self) -> None:
        """The values are what the outbox stored before the enum: old rows keep their kind."""
        assert Kind("eval-request") is Kind.EVAL_REQUEST
        assert Kind("manager-summary").template is Template.MANAGER_SUMMARY
        assert Kind.CLOSING.template is Template.CLOSING_REFLECTION


class TestKeys:
    @pytest.mark.parametrize(
        ("key", "parsed"),
        [
            (keys.invite(Kind.INVITE, "hr-ovl", "bert@x.be", 2), Parsed(Kind.INVITE, "hr-ovl")),
            (keys.cancel("hr-ovl", "bert@x.be", 3, 4), Parsed(Kind.CANCEL, "hr-ovl")),
            (keys.cancel("hr-ovl", "bert@x.be", 3, None), Parsed(Kind.CANCEL, "hr-ovl")),
            (keys.manager_start("hr-ovl", "Carla@X.be"), Parsed(Kind.MANAGER_START, "hr-ovl")),
            (keys.session_step(Kind.REMINDER, "hr-ovl", 3, 2), Parsed(Kind.REMINDER, "hr-ovl", 3)),
            (keys.session_step(Kind.DIGEST, "hr-ovl", 5), Parsed(Kind.DIGEST, "hr-ovl", 5)),
            (
                keys.recipient(keys.session_step(Kind.EVAL_REQUEST, "hr-ovl", 2), "Bert@x.be"),
                Parsed(Kind.EVAL_REQUEST, "hr-ovl", 2),
            ),
            (keys.closing("hr-ovl"), Parsed(Kind.CLOSING, "hr-ovl")),
            (keys.closing_summary("hr-ovl"), Parsed(Kind.MANAGER_SUMMARY, "hr-ovl")),
            (
                keys.growth_summary("hr-ovl", "bert@x.be", date(2027, 5, 4)),
                Parsed(Kind.MANAGER_SUMMARY, "hr-ovl"),
            ),
            (
                keys.answer(Kind.CONFIRMATION, "hr-ovl", 2, "bert@x.be", 77),
                Parsed(Kind.CONFIRMATION, "hr-ovl", 2),
            ),
            (keys.notice("message", 77), Parsed(Kind.NOTICE)),
            (keys.rollcall_recorded(9), Parsed(Kind.ROLLCALL_RECORDED)),
            (keys.organiser_preview(4), Parsed(Kind.ORGANISER_PREVIEW)),
            (keys.organiser_started("hr-ovl"), Parsed(Kind.ORGANISER_STARTED, "hr-ovl")),
            (keys.organiser_status("hr-ovl", 8), Parsed(Kind.ORGANISER_STATUS, "hr-ovl")),
        ],
    )
    def test_every_shape_reads_back(self, key: str, parsed: Parsed) -> None:
        """What a key was built from reads back from it: its kind, network and session."""
        assert keys.parse(key) == parsed

    def test_a_moved_sessions_reminders_get_a_round_of_their_own(self) -> None:
        """A reminder after a move has another key than the one before it; an evaluation request has not."""
        assert keys.session_step(Kind.REMINDER, "n", 2, 3) != keys.session_step(
            Kind.REMINDER, "n", 2
        )
        assert keys.session_step(Kind.EVAL_REQUEST, "n", 2, 3) == keys.session_step(
            Kind.EVAL_REQUEST, "n", 2
        )

    def test_a_summary_and_its_preview_find_each_other(self) -> None:
        """The preview of a summary is keyed from it, and the summary is found from the preview."""
        summary = keys.growth_summary("hr-ovl", "bert@x.be", date(2027, 5, 4))
        preview = keys.preview_of(summary)
        assert keys.parse(preview).kind is Kind.SUMMARY_PREVIEW
        assert keys.summary_of(preview) == summary
        assert keys.summary_of(summary) == summary

    @pytest.mark.parametrize(
        "foreign", ["", "hello", "nonsense/hr-ovl/2", "eval-request/hr-ovl/two", "digest"]
    )
    def test_a_foreign_key_is_refused(self, foreign: str) -> None:
        """A string that is not one of our keys is refused with a typed error, and read as nothing."""
        with pytest.raises(MessageKeyError):
            keys.parse(foreign)
        assert keys.read(foreign) is None
