"""The rows of a spreadsheet an organiser attached: .xlsx (first sheet) or .csv, bounded.

Every row keeps the number the organiser sees in Excel, so a problem can name
it. Work is bounded before any parser runs: the file's size, the uncompressed
size of every part of an .xlsx (a zip: a few KB can inflate to gigabytes), the
number of rows and of columns read. Nothing here raises: a file that cannot be
read gives a :class:`Finding` instead of rows.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from leernet.organiser.intake.findings import Finding, Say, error

MAX_FILE_BYTES = 2 * 1024 * 1024  # a list of 500 people is ~50 KB as xlsx, ~40 KB as csv
MAX_UNZIPPED_BYTES = 8 * 1024 * 1024  # all parts of the xlsx together (a list of 500: ~0.3 MB)
MAX_ZIP_ENTRIES = 200
MAX_ROWS = 500  # rows with something in them, header included
MAX_SCANNED_ROWS = 5_000  # empty rows count here, so a sheet of a million blank rows stops early
MAX_COLUMNS = 30

Cell = object  # str, int, float, datetime, date, bool or None, as openpyxl or csv give them


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a sheet, with its number as the organiser sees it."""

    number: int  # as Excel numbers it (1 = the first line of the file)
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Sheet:
    """A sheet's rows as text."""

    rows: tuple[Row, ...]
    problem: Finding | None = None


def read_sheet(filename: str, data: bytes) -> Sheet:
    """The non-empty rows of the first sheet (xlsx) or of the file (csv), or a problem."""
    name = PurePath(filename.replace("\\", "/")).name or "?"
    if len(data) > MAX_FILE_BYTES:
        return Sheet((), error(Say.LIST_TOO_BIG, size=_mb(len(data)), limit=_mb(MAX_FILE_BYTES)))
    suffix = PurePath(name).suffix.lower()
    if suffix in {".xlsx", ".xlsm"} or data.startswith(b"PK\x03\x04"):
        return _xlsx(name, data)
    if suffix in {".csv", ".txt"}:
        return _csv(data)
    return Sheet((), error(Say.LIST_KIND, file=name))


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _xlsx(name: str, data: bytes) -> Sheet:
    unreadable = Sheet((), error(Say.LIST_UNREADABLE, file=name))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return unreadable
    # zipfile never inflates an entry past the size its header declares, so these sums
    # bound what openpyxl can read.
    unzipped = sum(i.file_size for i in infos)
    if len(infos) > MAX_ZIP_ENTRIES or unzipped > MAX_UNZIPPED_BYTES:
        return Sheet((), error(Say.LIST_TOO_BIG, size=_mb(unzipped), limit=_mb(MAX_UNZIPPED_BYTES)))
    # Imported here: openpyxl takes ~0.2 s to import and only organiser mail needs it.
    from openpyxl import load_workbook  # noqa: PLC0415

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it does not know; they do not matter here.
            warnings.simplefilter("ignore")
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                sheet = book.worksheets[0]
                return _bounded(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1)
            finally:
                book.close()
    except Exception:  # openpyxl raises KeyError, ValueError, zip and XML errors on junk
        return unreadable


def _bounded(rows: Iterable[Sequence[object]], *, start: int) -> Sheet:
    out: list[Row] = []
    for number, cells in enumerate(rows, start=start):
        if number - start >= MAX_SCANNED_ROWS:
            break
        values = tuple(_clean(c) for c in tuple(cells)[:MAX_COLUMNS])
        if all(v is None for v in values):
            continue
        if len(out) >= MAX_ROWS:
            return Sheet((), error(Say.LIST_TOO_MANY_ROWS, limit=MAX_ROWS - 1))
        out.append(Row(number, values))
    return Sheet(tuple(out))


def _clean(value: object) -> Cell:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _csv(data: bytes) -> Sheet:
    text = _decode(data)
    lines = text.splitlines()
    first = 0
    delimiter = None
    # Excel writes "sep=;" on the first line when asked to; it is not a row of the list.
    if lines and lines[0].lower().startswith("sep=") and len(lines[0]) == len("sep=;"):
        delimiter = lines[0][4]
        first = 1
    if delimiter is None:
        head = next((line for line in lines if line.strip()), "")
        delimiter = max((";", ",", "\t"), key=head.count)
    body = "\n".join(lines[first:])
    try:
        reader = csv.reader(io.StringIO(body), delimiter=delimiter)
        return _bounded(reader, start=first + 1)
    except csv.Error:
        return Sheet((), error(Say.LIST_UNREADABLE, file="csv"))


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" (UTF-16, tabs)
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Excel on Windows writes "CSV (puntkomma gescheiden)" in Windows-1252.
        return data.decode("cp1252", errors="replace")
