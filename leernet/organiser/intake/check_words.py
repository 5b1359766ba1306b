"""The errors and warnings of ``leernet check`` in the organiser's words, by the row of their list.

``leernet.network.load`` words its problems for someone editing a TOML file
(``participants[7].email: 'jan@' is already participants[2]``); an organiser
who sent a spreadsheet reads ``rij 9 en rij 4: hetzelfde e-mailadres``. A rule
this module has no words for is passed on as the check wrote it, never lost.
"""

from __future__ import annotations

import re

from leernet.errors import Problem
from leernet.organiser.intake.findings import Finding, Say, error, warning

_PARTICIPANT = re.compile(r"^participants\[(\d+)\]")


def _row(field: str, rows: list[int]) -> int | None:
    found = _PARTICIPANT.match(field)
    if found and rows and 0 < int(found[1]) <= len(rows):
        return rows[int(found[1]) - 1]
    return None


def problem_finding(problem: Problem, rows: list[int]) -> Finding:
    """One error of ``leernet check`` in the organiser's words, by the row of their list."""
    field, message = problem.field, problem.message
    row = _row(field, rows)
    if row is not None:
        again = re.search(r"is already participants\[(\d+)\]", message)
        if again:
            other = _row(f"participants[{again[1]}]", rows)
            return error(Say.EMAIL_DUPLICATE, row, *(() if other is None else (other,)))
        if message == "is the organiser's address":
            return error(Say.EMAIL_IS_ORGANISER, row)
        return error(Say.NETWORK_FILE, row, value=message)
    too_many = re.match(r"(\d+) participants is more than max_participants \((\d+)\)", message)
    if field == "participants" and too_many:
        return error(Say.TOO_MANY_PARTICIPANTS, count=too_many[1], limit=too_many[2])
    if field == "network.goal":
        return error(Say.GOAL_MISSING)
    overlap = re.fullmatch(r"session (\d+)\.start", field)
    earlier = re.fullmatch(r"overlaps session (\d+)", message)
    if overlap and earlier:
        return error(Say.OVERLAP, value=overlap[1], other=earlier[1])
    return error(Say.NETWORK_FILE, value=str(problem))


def warning_finding(text: str, rows: list[int]) -> Finding:
    """One warning of ``leernet check`` in the organiser's words."""
    few = re.match(r"participants: (\d+) participants; the seed advises", text)
    if few:
        return warning(Say.FEW_PARTICIPANTS, count=few[1])
    field = text.split(":", 1)[0]
    row = _row(field, rows)
    manager = re.match(r"participants\[\d+\]: (.*) has no manager", text)
    if row is not None and manager:
        return warning(Say.MANAGER_MISSING, row, name=manager[1])
    if row is not None and field.endswith(".growth_conversation"):
        return warning(Say.GROWTH_BEFORE_END, row)
    past = re.match(r"sessions: session\(s\) (.*) lie in the past", text)
    if past:
        return warning(Say.PAST, value=past[1])
    return warning(Say.NETWORK_FILE, *(() if row is None else (row,)), value=text)
