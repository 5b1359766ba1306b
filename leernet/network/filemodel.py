"""The shape of the network file (TOML), as pydantic models that name every bad field.

Only the syntax and single-field rules live here; rules across fields are in
``leernet.network.across`` (goal, people) and ``leernet.network.load`` (the
sessions and the series).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


_MAX_ADDRESS = 254  # RFC 5321 4.5.3.1 path limit, less the brackets


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > _MAX_ADDRESS or not _EMAIL_RE.match(value):
        msg = f"{value!r} is not an email address"
        raise ValueError(msg)
    return value


def _line(value: str) -> str:
    # A CR, LF or NUL in a value would end up in a header or an iCalendar line.
    if _CONTROL_RE.search(value):
        msg = "may not contain line breaks or control characters"
        raise ValueError(msg)
    return value.strip()


def _text(value: str) -> str:
    # Multi-line text (the goal) may have line breaks, but no other control characters.
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value):
        msg = "may not contain control characters"
        raise ValueError(msg)
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _url(value: str) -> str:
    value = _line(value)
    if value and not re.match(r"^https?://[^\s<>\"]+$", value):
        msg = f"{value!r} is not an http(s) address"
        raise ValueError(msg)
    return value


Email = Annotated[str, AfterValidator(_email)]
OptionalEmail = Annotated[str, AfterValidator(lambda v: _email(v) if v.strip() else "")]
Line = Annotated[str, AfterValidator(_line)]
Text = Annotated[str, AfterValidator(_text)]
Url = Annotated[str, AfterValidator(_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class FileNetworkHead(_Strict):
    """``[network]``: name, slug, goal, language, zone, place and link."""

    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: Annotated[Line, Field(min_length=1, max_length=200)]
    goal: Text = ""  # required: ``leernet.network.across`` says so beside the other rules
    language: Literal["nl", "en"] = "nl"
    timezone: str = "Europe/Brussels"
    location: Line = ""
    online_url: Url = ""
    max_participants: Annotated[int, Field(ge=1, le=500)] = 15
    anonymous_digest: bool = True


class FileOrganiser(_Strict):
    """``[organiser]``: who runs the network and gets its notices."""

    name: Annotated[Line, Field(min_length=1)]
    email: Email


class FileSchedule(_Strict):
    """``[schedule]``: the weekly rule the sessions follow."""

    first: datetime
    every_weeks: Annotated[int, Field(ge=1, le=52)] = 4
    count: Annotated[int, Field(ge=1, le=52)]
    minutes: Annotated[int, Field(ge=15, le=24 * 60)] | None = None


class FileSession(_Strict):
    """One ``[[sessions]]`` entry."""

    number: Annotated[int, Field(ge=1, le=52)]
    kind: Literal["kickoff", "session", "closing"] = "session"
    title: Line = ""
    work_form: Line = ""
    speaker: Line = ""
    start: datetime | None = None
    minutes: Annotated[int, Field(ge=15, le=24 * 60)] | None = None
    location: Line = ""
    online_url: Url = ""
    cancelled: bool = False


class FileParticipant(_Strict):
    """One ``[[participants]]`` entry."""

    name: Annotated[Line, Field(min_length=1, max_length=200)]
    email: Email
    manager_name: Line = ""
    manager_email: OptionalEmail = ""
    growth_conversation: date | None = None


class FileFollowups(_Strict):
    """``[followups]``: when reminders, evaluation rounds and summaries go out."""

    reminder_days_before: Annotated[float, Field(ge=0, le=60)] = 2
    evaluation_hours_after: Annotated[float, Field(ge=0, le=24 * 14)] = 1
    evaluation_reminder_days: Annotated[float, Field(gt=0, le=60)] = 3
    manager_summary_days_before: Annotated[float, Field(ge=0, le=120)] = 7
    summary_preview_days: Annotated[float, Field(ge=1, le=14)] = 3


class FileQuestion(_Strict):
    """One evaluation question."""

    text: Annotated[Line, Field(min_length=1, max_length=500)]
    kind: Literal["rating", "text", "yes_no", "consent"] = "text"
    share_with_manager: bool = False


class FileEvaluation(_Strict):
    """``[evaluation]``: the questions, and which a manager may read."""

    questions: list[FileQuestion] = []


class FileNetwork(_Strict):
    """The whole network file."""

    network: FileNetworkHead
    organiser: FileOrganiser
    schedule: FileSchedule | None = None
    sessions: list[FileSession] = []
    participants: list[FileParticipant] = []
    followups: FileFollowups = FileFollowups()
    evaluation: FileEvaluation | None = None


def field_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's ``('participants', 17, 'email')`` -> ``participants[18].email`` (1-based, as people count)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        elif part.startswith(("function-after", "constrained")):
            continue
        else:
            out += f".{part}" if out else part
    return out
