"""Message kinds and templates: one enum of what leernet sends, each naming its template.

A ``Kind`` is what the outbox stores in ``outbox.kind`` (the values are those
strings, so rows written before this enum read back as members) and what the
planner's steps are (a step's kind is the kind of the messages it queues). A
``Template`` is a file pair in ``leernet/templates/<language>/``; every kind has
one by default (``Kind.EVAL_REQUEST.template``), and the few that show another
text in some cases (the cancel of one session, the organiser's change preview)
pass that template explicitly.
"""

from __future__ import annotations

from enum import StrEnum


class Template(StrEnum):
    """A message template: ``<name>.subject.txt``, ``<name>.txt`` and ``<name>.html``."""

    INVITE = "invite"
    INVITE_UPDATE = "invite_update"
    CANCEL_SERIES = "cancel_series"
    MANAGER_START = "manager_start"
    REMINDER = "reminder"
    LOW_ACCEPTANCE = "low_acceptance"
    EVAL_REQUEST = "eval_request"
    EVAL_REMINDER = "eval_reminder"
    CONFIRMATION = "confirmation"
    ANSWER_AGAIN = "answer_again"
    DIGEST = "digest"
    CLOSING_REFLECTION = "closing_reflection"
    SUMMARY_PREVIEW = "summary_preview"
    SUMMARY_HELD = "summary_held"
    MANAGER_SUMMARY = "manager_summary"
    NOTICE = "notice"
    ROLLCALL_RECORDED = "rollcall_recorded"
    ORGANISER_PREVIEW = "organiser_preview"
    ORGANISER_STARTED = "organiser_started"
    ORGANISER_STATUS = "organiser_status"
    ORGANISER_LINES = "organiser_lines"


class Kind(StrEnum):
    """What a message is; the planner's steps are the kinds they send."""

    # the series: one invite per participant, its updates and cancels, the managers' note
    INVITE = "invite"
    INVITE_UPDATE = "invite-update"
    CANCEL = "cancel"
    MANAGER_START = "manager-start"
    # the planner's steps around each session, and at the end
    REMINDER = "reminder"
    LOW_ACCEPTANCE = "low-acceptance"
    EVAL_REQUEST = "eval-request"
    EVAL_REMINDER = "eval-reminder"
    DIGEST = "digest"
    CLOSING = "closing"
    SUMMARY_PREVIEW = "summary-preview"
    MANAGER_SUMMARY = "manager-summary"
    # answers to a participant's reply (RFC 3834 auto-replied)
    CONFIRMATION = "confirmation"
    ANSWER_AGAIN = "answer-again"
    SUMMARY_HELD = "summary-held"
    # to the organiser
    NOTICE = "notice"
    ROLLCALL_RECORDED = "rollcall-recorded"
    ORGANISER_PREVIEW = "organiser-preview"
    ORGANISER_STARTED = "organiser-started"
    ORGANISER_CHANGED = "organiser-changed"
    ORGANISER_STATUS = "organiser-status"

    @property
    def template(self) -> Template:
        """The template this kind is written with (unless its sender names another)."""
        return _TEMPLATE.get(self) or Template(self.value.replace("-", "_"))


_TEMPLATE = {
    Kind.CANCEL: Template.CANCEL_SERIES,  # one session's cancel: Template.INVITE_UPDATE
    Kind.CLOSING: Template.CLOSING_REFLECTION,
    Kind.ORGANISER_CHANGED: Template.ORGANISER_LINES,
}
