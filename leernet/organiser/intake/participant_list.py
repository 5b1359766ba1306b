"""An organiser's participant list (.xlsx or .csv) -> participants, each with the row it came from.

Headers may be Dutch, English or French, in any case, with or without accents:
``Naam``/``Name``/``Nom``, ``E-mail``/``Courriel``, ``Leidinggevende``/``Manager``/
``Responsable``, ``E-mail leidinggevende``/``Manager email``/``Courriel du
responsable``, ``Groeigesprek``/``Growth conversation``/``Entretien``, and an
optional ``Taal``/``Language``/``Langue``. First and last name in two columns are
joined. The header need not be the first row (a title above it is skipped).

Every problem names the organiser's row (:mod:`leernet.organiser.intake.findings`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import TypeAdapter, ValidationError

from leernet.network.filemodel import Email
from leernet.organiser.intake.findings import Finding, Say, error, has_errors, warning
from leernet.organiser.intake.sheet import Cell, Row, read_sheet

HEADER_SEARCH_ROWS = 10  # a title or an empty line above the header is common
_EMAIL = TypeAdapter(Email)


_FIRST_SERIAL, _LAST_SERIAL = 20_000, 80_000  # Excel day numbers 1954 .. 2119


class Column(StrEnum):
    """A column of the participant list, whatever its header says."""

    NAME = "name"
    FIRST = "first"
    LAST = "last"
    EMAIL = "email"
    MANAGER = "manager"
    MANAGER_EMAIL = "manager_email"
    GROWTH = "growth"
    LANGUAGE = "language"


@dataclass(frozen=True, slots=True)
class Listed:
    """One participant as the list gives it; ``row`` is the organiser's row number."""

    row: int
    name: str
    email: str
    manager_name: str = ""
    manager_email: str = ""
    growth_conversation: date | None = None
    language: str = ""  # "nl", "en", "fr" or "" when the list has no language column


@dataclass(frozen=True, slots=True)
class ParticipantList:
    """A participant list as read, with the row each person came from."""

    participants: tuple[Listed, ...]  # only rows without errors
    findings: tuple[Finding, ...]
    columns: tuple[Column, ...] = ()

    def row_of(self, email: str) -> int | None:
        """The row of the participant with this address."""
        wanted = email.lower()
        return next((p.row for p in self.participants if p.email.lower() == wanted), None)


_MANAGER_WORDS = {"leidinggevende", "manager", "responsable", "chef", "leidinggevenden"}
_EMAIL_WORDS = {"email", "mail", "courriel", "emailadres", "mailadres"}
_GROWTH_WORDS = {"groeigesprek", "growth", "entretien", "ontwikkelgesprek", "functioneringsgesprek"}
_LANGUAGE_WORDS = {"taal", "language", "langue"}
_FIRST_WORDS = {"voornaam", "first", "firstname", "prenom", "given"}
_LAST_WORDS = {"achternaam", "familienaam", "last", "lastname", "surname", "family"}
_NAME_WORDS = {"naam", "name", "nom", "deelnemer", "participant", "volledige", "full"}
_LANGUAGES = {
    "nl": "nl", "nederlands": "nl", "dutch": "nl", "neerlandais": "nl", "vlaams": "nl",
    "en": "en", "engels": "en", "english": "en", "anglais": "en",
    "fr": "fr", "frans": "fr", "french": "fr", "francais": "fr",
}  # fmt: skip


def words(header: str) -> set[str]:
    """``"E-mail Leidinggevende"`` -> ``{"email", "leidinggevende"}`` (case and accents ignored)."""
    plain = unicodedata.normalize("NFKD", header)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    plain = re.sub(r"\be[\s_.-]*mail", "email", plain)
    return set(re.findall(r"[a-z]+", plain))


def column_of(header: str) -> Column | None:
    """The column a header names (Dutch or English), or None."""
    w = words(header)
    manager = bool(w & _MANAGER_WORDS)
    mail = bool(w & _EMAIL_WORDS) or any(x.startswith("email") for x in w)
    if w & _GROWTH_WORDS:
        return Column.GROWTH
    if manager and mail:
        return Column.MANAGER_EMAIL
    if manager:
        return Column.MANAGER
    if mail:
        return Column.EMAIL
    if w & _LANGUAGE_WORDS:
        return Column.LANGUAGE
    if w & _FIRST_WORDS:
        return Column.FIRST
    if w & _LAST_WORDS or {"nom", "famille"} <= w:
        return Column.LAST
    if w & _NAME_WORDS:
        return Column.NAME
    return None


def read_participant_list(filename: str, data: bytes) -> ParticipantList:
    """Read a participant list; never raises: every problem is a finding naming its row."""
    sheet = read_sheet(filename, data)
    if sheet.problem is not None:
        return ParticipantList((), (sheet.problem,))
    return from_rows(sheet.rows)


def from_rows(rows: tuple[Row, ...]) -> ParticipantList:
    """Read the rows of a sheet into participants and findings."""
    found = _header(rows)
    if found is None:
        return ParticipantList((), (error(Say.LIST_NO_HEADER),))
    header_at, columns, unused = found
    findings: list[Finding] = [warning(Say.LIST_COLUMN_UNUSED, column=c) for c in unused]
    people: list[Listed] = []
    first_row_of: dict[str, int] = {}
    for row in rows[header_at + 1 :]:
        listed, problems = _participant(row, columns)
        findings.extend(problems)
        if listed is None:
            continue
        key = listed.email.lower()
        if key in first_row_of:
            findings.append(error(Say.EMAIL_DUPLICATE, row.number, first_row_of[key]))
            continue
        first_row_of[key] = row.number
        if not has_errors(problems):
            people.append(listed)
    if not people and not findings:
        findings.append(error(Say.LIST_EMPTY))
    return ParticipantList(tuple(people), tuple(findings), tuple(sorted(set(columns.values()))))


def _header(rows: tuple[Row, ...]) -> tuple[int, dict[int, Column], list[str]] | None:
    for at, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        columns: dict[int, Column] = {}
        unused: list[str] = []
        for i, cell in enumerate(row.cells):
            if cell is None:
                continue
            column = column_of(str(cell))
            # "Nom" next to "Prénom" is the family name; the first of two alike columns wins.
            if column is Column.NAME and any(c is Column.FIRST for c in columns.values()):
                column = Column.LAST
            if column is None or column in columns.values():
                unused.append(str(cell)[:60])
                continue
            columns[i] = column
        if Column.FIRST in columns.values() and Column.NAME in columns.values():
            columns = {i: Column.LAST if c is Column.NAME else c for i, c in columns.items()}
        has_name = {Column.NAME, Column.FIRST, Column.LAST} & set(columns.values())
        if has_name and Column.EMAIL in columns.values():
            return at, columns, unused
    return None


def _participant(row: Row, columns: dict[int, Column]) -> tuple[Listed | None, list[Finding]]:
    values: dict[Column, Cell] = {
        c: row.cells[i] if i < len(row.cells) else None for i, c in columns.items()
    }
    text = {c: _text(v) for c, v in values.items()}
    problems: list[Finding] = []
    name = text.get(Column.NAME, "") or " ".join(
        t for t in (text.get(Column.FIRST, ""), text.get(Column.LAST, "")) if t
    )
    name = re.sub(r"\s+", " ", name)
    if not name:
        problems.append(error(Say.NAME_MISSING, row.number))
    email = bare_address(text.get(Column.EMAIL, ""))
    if not email:
        problems.append(error(Say.EMAIL_MISSING, row.number))
    elif not _valid(email):
        problems.append(error(Say.EMAIL_INVALID, row.number, value=email[:80]))
        email = ""
    manager_email = bare_address(text.get(Column.MANAGER_EMAIL, ""))
    if manager_email and not _valid(manager_email):
        problems.append(error(Say.MANAGER_EMAIL_INVALID, row.number, value=manager_email[:80]))
    growth: date | None = None
    raw_growth = values.get(Column.GROWTH)
    if raw_growth is not None:
        growth = as_date(raw_growth)
        if growth is None:
            problems.append(error(Say.DATE_INVALID, row.number, value=_text(raw_growth)[:40]))
    language = ""
    if text.get(Column.LANGUAGE):
        language = _LANGUAGES.get(text[Column.LANGUAGE].lower(), "")
        if not language:
            problems.append(
                warning(Say.LANGUAGE_UNKNOWN, row.number, value=text[Column.LANGUAGE][:20])
            )
    if not email:
        return None, problems
    listed = Listed(
        row.number,
        name[:200],
        email,
        text.get(Column.MANAGER, "")[:200],
        manager_email if manager_email and _valid(manager_email) else "",
        growth,
        language,
    )
    return listed, problems


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]+", " ", str(value)).strip()


def bare_address(value: str) -> str:
    """``Jan Peeters <jan@example.com>`` or ``mailto:jan@example.com`` (Outlook's copy-paste) -> the address."""
    found = re.fullmatch(r"[^<>]*<\s*([^<>\s]+)\s*>\s*", value)
    if found:
        value = found[1]
    if value.lower().startswith("mailto:"):
        value = value[7:]
    return value.strip()


def _valid(email: str) -> bool:
    try:
        _EMAIL.validate_python(email)
    except ValidationError:
        return False
    return True


_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 on Windows (with its 1900 leap-year bug)


def as_date(value: Cell) -> date | None:
    """A growth-conversation date as Excel or a person writes it; None when it is none."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _serial(float(value))
    text = str(value).strip()
    if re.fullmatch(r"\d{5}(\.0+)?", text):
        return _serial(float(text))
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?", text)
    if iso:
        return _make(int(iso[1]), int(iso[2]), int(iso[3]))
    # Flemish and French order, day first: 15/06/2027, 15-06-2027, 15.06.2027.
    dmy = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
    if dmy:
        return _make(int(dmy[3]), int(dmy[2]), int(dmy[1]))
    return None


def _serial(number: float) -> date | None:
    if (
        not _FIRST_SERIAL <= number <= _LAST_SERIAL
    ):  # 1954 .. 2119: anything else is not a meeting date
        return None
    return _EXCEL_EPOCH + timedelta(days=int(number))


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
