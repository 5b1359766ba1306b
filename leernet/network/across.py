"""The network file's rules across fields, read from the file as written.

They run on the TOML as parsed, not on the validated model, so a field error
elsewhere (a bad address, an unknown key) does not hide them: ``leernet
check`` names a missing goal, too many participants and a duplicate address
in the same run as the bad address. A value of the wrong type is left to the
field check, which names it.
"""

from __future__ import annotations

from typing import Any

from leernet.errors import Problem

DEFAULT_MAX_PARTICIPANTS = 15  # as ``FileNetworkHead.max_participants``
NO_GOAL = "is required: say what the network wants to reach"


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def across_fields(raw: dict[str, Any]) -> list[Problem]:
    """The problems across fields in a parsed network file: goal, number and addresses of people."""
    head = _table(raw.get("network"))
    problems: list[Problem] = []
    goal = head.get("goal", "")
    if isinstance(goal, str) and not goal.strip():
        problems.append(Problem("network.goal", NO_GOAL))
    people = raw.get("participants", [])
    if not isinstance(people, list):
        return problems
    limit = head.get("max_participants", DEFAULT_MAX_PARTICIPANTS)
    if isinstance(limit, int) and not isinstance(limit, bool) and len(people) > limit:
        problems.append(
            Problem(
                "participants",
                f"{len(people)} participants is more than max_participants ({limit}); "
                "the seed advises 10 to 15, raise network.max_participants explicitly if you must",
            )
        )
    organiser = _table(raw.get("organiser")).get("email")
    organiser = organiser.strip().lower() if isinstance(organiser, str) else None
    seen: dict[str, int] = {}
    for i, person in enumerate(people, start=1):
        email = _table(person).get("email")
        if not isinstance(email, str) or not email.strip():
            continue
        key = email.strip().lower()
        if key in seen:
            problems.append(
                Problem(
                    f"participants[{i}].email",
                    f"{email.strip()!r} is already participants[{seen[key]}]",
                )
            )
        else:
            seen[key] = i
        if key == organiser:
            problems.append(Problem(f"participants[{i}].email", "is the organiser's address"))
    return problems
