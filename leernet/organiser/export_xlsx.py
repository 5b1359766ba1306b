"""The export of ``leernet export`` as an Excel workbook for the organiser: attendance and evaluations.

Two sheets with the same facts as the JSON export and the CSV (the answers the
organiser may read; nothing more): one row per participant and session in
each. Text cells are written as text, never as formulas: a participant's
answer that starts with ``=`` stays an answer (OWASP "CSV injection", which
openpyxl would otherwise write as a formula). Pure: data in, bytes out.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet.worksheet import Worksheet

from leernet.records.facts import questions_of
from leernet.records.networks import Registered

_TITLES = {
    "nl": ("Aanwezigheid", "Evaluaties"),
    "en": ("Attendance", "Evaluations"),
}
_ATTENDANCE = ["participant", "name", "session", "date", "title", "rsvp", "comment", "present"]
_EVALUATIONS = ["participant", "name", "session", "date", "title", "absent"]


def export_xlsx(data: dict[str, Any], reg: Registered) -> bytes:
    """``data`` as :func:`leernet.organiser.report.export` returns it, as .xlsx bytes."""
    net = reg.network
    lang = net.language
    names = {m.email: m.name for m in reg.members}
    sessions = {s.number: s for s in net.sessions}

    def when(number: int) -> str:
        session = sessions.get(number)
        return net.local(session.start).strftime("%Y-%m-%d %H:%M") if session else ""

    def title(number: int) -> str:
        session = sessions.get(number)
        return session.title if session else ""

    book = Workbook()
    attendance = book.active
    assert attendance is not None  # a new workbook has one sheet
    attendance.title = _TITLES[lang][0]
    _row(attendance, _ATTENDANCE)
    for r in data["attendance"]:
        p, n = r["participant"], r["session"]
        _row(
            attendance,
            [p, names.get(p, ""), n, when(n), title(n), r["rsvp"], r["comment"], r["present"]],
        )
    evaluations = book.create_sheet(_TITLES[lang][1])
    width = max((len(questions_of(net, n)) for n in sessions), default=0)
    _row(evaluations, _EVALUATIONS + [f"q{i}" for i in range(1, width + 1)])
    for e in data["evaluations"]:
        p, n = e["participant"], e["session"]
        answers = e["answers"]
        cells = [p, names.get(p, ""), n, when(n), title(n), e["absent"]]
        _row(evaluations, cells + [answers.get(str(i)) for i in range(1, width + 1)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _row(sheet: Worksheet, values: list[Any]) -> None:
    # openpyxl refuses control characters in a cell; a reply may carry them.
    sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"  # text stays text: "=HYPERLINK(...)" is an answer, not a formula
