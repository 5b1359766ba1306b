"""Templates -> the subject, text and HTML of one message.

Each kind of message has three templates per language::

    <lang>/<kind>.subject.txt    one line
    <lang>/<kind>.txt            the text/plain part
    <lang>/<kind>.html           the text/html part (may extend <lang>/_base.html)

The package carries Dutch and English; an organisation may override any single
file from its own directory (``Settings.templates_dir``), the rest still comes
from the package. Templates only show values: contexts are built by
``leernet.messages.views`` from plain strings, numbers and lists of dicts.
``StrictUndefined`` makes a misspelt name an error instead of a silent blank,
and every Jinja2 error becomes a ``TemplateError`` that names the template.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import jinja2

from leernet.errors import TemplateError
from leernet.mailer.compose import Rendered
from leernet.messages.kinds import Template
from leernet.network.model import LANGUAGES

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

KINDS: tuple[str, ...] = (
    "invite",
    "invite_update",
    "cancel_series",
    "manager_start",
    "reminder",
    "eval_request",
    "eval_reminder",
    "confirmation",
    "answer_again",
    "closing_reflection",
    "digest",
    "low_acceptance",
    "manager_summary",
    "summary_preview",
    "summary_held",
    "organiser_preview",
    "organiser_started",
    "organiser_lines",
    "organiser_status",
    "notice",
    "rollcall_recorded",
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# A header line ends at CR or LF (RFC 5322 2.2); NUL and the other controls, plus the
# Unicode line separators some clients also break on, have no place in a subject.
_SUBJECT_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_SPACES = re.compile(r" {2,}")
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def clean_subject(raw: str) -> str:
    """One line: every line break or control character becomes a space (no header injection)."""
    return _SPACES.sub(" ", _SUBJECT_BREAKS.sub(" ", raw)).strip()


class Renderer:
    """Renders every kind from the package templates, overridden file by file from a directory.

    Templates are compiled once and cached by their environment (``auto_reload``
    is off: a long-running daemon does not stat the files on every message).
    """

    def __init__(self, templates_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if templates_dir is not None:
            loaders.append(jinja2.FileSystemLoader(templates_dir))
        loaders.append(jinja2.PackageLoader("leernet", "templates"))
        loader = jinja2.ChoiceLoader(loaders)
        common: dict[str, object] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "auto_reload": False,
            "keep_trailing_newline": True,
            "trim_blocks": True,
            "lstrip_blocks": True,
        }
        self._text = jinja2.Environment(autoescape=False, **common)  # type: ignore[arg-type]  # noqa: S701 - text/plain, never HTML
        self._html = jinja2.Environment(autoescape=True, **common)  # type: ignore[arg-type]

    def render(
        self, kind: Template | str, language: str, context: Mapping[str, object]
    ) -> Rendered:
        """The subject, text and HTML of ``kind`` in ``language``; raises ``TemplateError``."""
        if not _NAME.match(kind) or language not in LANGUAGES:
            raise TemplateError(f"unknown message kind or language: {kind!r}, {language!r}")
        subject = self._one(self._text, f"{language}/{kind}.subject.txt", context)
        text = self._one(self._text, f"{language}/{kind}.txt", context)
        html = self._one(self._html, f"{language}/{kind}.html", context)
        # Optional blocks leave blank lines behind; one empty line between paragraphs is enough.
        text = _BLANK_RUNS.sub("\n\n", text).strip() + "\n"
        # NUL is not allowed anywhere in a message body (RFC 5322 2.3 excludes it from text).
        return Rendered(
            subject=clean_subject(subject),
            text=text.replace("\x00", ""),
            html=html.replace("\x00", ""),
        )

    def check_all(
        self, language: str, contexts: Mapping[str, Mapping[str, object]]
    ) -> list[TemplateError]:
        """Render every kind with its sample context; the errors found (empty: all fine).

        ``leernet check`` runs this so a broken override shows up before anything is sent.
        """
        errors: list[TemplateError] = []
        for kind in KINDS:
            context = contexts.get(kind)
            if context is None:
                errors.append(TemplateError("no sample context to check with", template=kind))
                continue
            try:
                self.render(kind, language, context)
            except TemplateError as exc:
                errors.append(exc)
        return errors

    @staticmethod
    def _one(env: jinja2.Environment, name: str, context: Mapping[str, object]) -> str:
        try:
            return env.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            missing = exc.name if isinstance(exc.name, str) else name
            raise TemplateError(f"template not found: {missing}", template=name) from exc
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or exc.name or name}, line {exc.lineno}"
            raise TemplateError(f"syntax error in {where}: {exc.message}", template=name) from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"undefined value: {exc.message}", template=name) from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(str(exc), template=name) from exc
        except (TypeError, ValueError, AttributeError, LookupError) as exc:
            # An override may call a filter on the wrong type; it is still the template's fault.
            raise TemplateError(f"{type(exc).__name__}: {exc}", template=name) from exc
