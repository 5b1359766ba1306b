"""An organiser's series and list (or network file) -> the network file ``leernet start`` reads.

The result is the TOML source plus the network as :func:`leernet.network.load.parse_network`
loads it, so every rule and warning of ``leernet check`` applies unchanged and
it can be registered exactly as ``leernet start`` does. What the mail does
not say comes from the seed: the language (the organiser's mail, else Dutch),
the evaluation questions, a kick-off first and a closing last. Problems that
concern a participant are told by the row of the organiser's list.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import tomli_w

from leernet.errors import NetworkFileError, Problem
from leernet.network.load import Loaded, parse_network
from leernet.network.model import Network, Person, language
from leernet.organiser.intake.check_words import problem_finding, warning_finding
from leernet.organiser.intake.findings import Finding, Level, Say, error, has_errors, warning
from leernet.organiser.intake.participant_list import ParticipantList, read_participant_list
from leernet.organiser.intake.remember import stamp
from leernet.organiser.intake.request import OrganiserRequest
from leernet.organiser.intake.series import MeetingSeries, read_series

MAX_SLUG_TRIES = 100

Taken = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Intake:
    """What the organiser sent, as a network file; ``loaded`` is None while there are errors."""

    source: str  # the TOML text, as `leernet start` would read it from a file
    loaded: Loaded | None
    findings: tuple[Finding, ...]
    language: str
    series_uid: str = ""  # the organiser's own UID, to find the network on later changes
    draft: Network | None = (
        None  # for the preview only: what could be read, rows with errors left out
    )

    @property
    def ok(self) -> bool:
        """Whether the network can be started as read."""
        return self.loaded is not None and not has_errors(self.findings)

    def texts(self, level: Level) -> list[str]:
        """The findings of this level in words."""
        return [f.text(self.language) for f in self.findings if f.level is level]


def from_request(request: OrganiserRequest, *, taken: Taken, now: datetime) -> Intake:
    """The route the mail asks for: a network file if one is attached, else the meeting series."""
    organiser = Person(request.sender_name or request.sender, request.sender)
    people = _first_list(request)
    if request.network_files:
        text = request.network_files[0].data.decode("utf-8", errors="replace")
        done = from_network_file(text, people, organiser=organiser, taken=taken, now=now)
        if request.calendars:
            extra = (warning(Say.CALENDAR_IGNORED),)
            return Intake(
                done.source, done.loaded, done.findings + extra, done.language, draft=done.draft
            )
        return done
    language = language_of(request.language)
    if not request.calendars:
        return Intake("", None, (error(Say.CALENDAR_MISSING),), language)
    read = read_series(request.calendars[0])
    if read.series is None:
        listed = people.findings if people is not None else ()
        return Intake("", None, read.findings + listed, language)
    language = language_of(request.language or read.series.language)
    done = from_series(
        read.series, people, organiser=organiser, language=language, taken=taken, now=now
    )
    findings = read.findings + done.findings
    return Intake(done.source, done.loaded, findings, language, done.series_uid, done.draft)


def language_of(hint: str) -> str:
    """The network's language: English when the organiser writes English, else Dutch (the default)."""
    return language(hint)


def _first_list(request: OrganiserRequest) -> ParticipantList | None:
    if not request.lists:
        return None
    first = request.lists[0]
    return read_participant_list(first.filename, first.data)


def from_series(
    series: MeetingSeries,
    people: ParticipantList | None,
    *,
    organiser: Person,
    language: str,
    taken: Taken,
    now: datetime,
) -> Intake:
    """The network file made from a meeting series and a participant list."""
    findings: list[Finding] = list(people.findings) if people else []
    local = _local_of(series)
    slug = unique_slug(f"{slugify(series.summary)}-{local(series.first):%Y-%m-%d}", taken)
    if slug is None:
        return Intake(
            "",
            None,
            (*findings, error(Say.SLUG_EXHAUSTED, value=slugify(series.summary))),
            language,
        )
    network: dict[str, Any] = {
        "slug": slug,
        "name": series.summary or ("Lerend netwerk" if language == "nl" else "Learning network"),
        "goal": series.goal,
        "language": language,
        "timezone": series.timezone,
    }
    if not series.summary:
        findings.append(warning(Say.TITLE_MISSING))
    if series.location:
        network["location"] = series.location
    if series.online_url:
        network["online_url"] = series.online_url
    data: dict[str, Any] = {
        "network": network,
        "organiser": {"name": organiser.name or organiser.email, "email": organiser.email},
    }
    if series.every_weeks is not None:
        data["schedule"] = {
            "first": local(series.first),
            "every_weeks": series.every_weeks,
            "count": len(series.occurrences),
            "minutes": series.minutes,
        }
    data["sessions"] = _sessions(series, local, with_times=series.every_weeks is None)
    rows = _add_participants(data, people)
    _language_rows(people, language, findings)
    # The series' UID and RECURRENCE-IDs ride along as comments: later updates find it by them.
    source = stamp(tomli_w.dumps(data), series)
    return _check(source, rows, findings, language, now=now, uid=series.uid)


def _local_of(series: MeetingSeries) -> Callable[[datetime], datetime]:
    zone = ZoneInfo(series.timezone)
    return lambda moment: moment.astimezone(zone).replace(tzinfo=None)


def _sessions(
    series: MeetingSeries, local: Callable[[datetime], datetime], *, with_times: bool
) -> list[dict[str, Any]]:
    active = [o.index for o in series.occurrences if not o.cancelled]
    kinds = {active[0]: "kickoff", active[-1]: "closing"} if len(active) > 1 else {}
    out: list[dict[str, Any]] = []
    for o in series.occurrences:
        entry: dict[str, Any] = {"number": o.index}
        if o.index in kinds:
            entry["kind"] = kinds[o.index]
        if with_times or o.moved:
            entry["start"] = local(o.start)
        if with_times or o.minutes != series.minutes:
            entry["minutes"] = o.minutes
        if o.location:
            entry["location"] = o.location
        if o.cancelled:
            entry["cancelled"] = True
        if len(entry) > 1:
            out.append(entry)
    return out


def _add_participants(data: dict[str, Any], people: ParticipantList | None) -> list[int]:
    """Put the list's participants in the file; the row of each, in file order."""
    if people is None:
        return []
    entries: list[dict[str, Any]] = []
    for p in people.participants:
        entry: dict[str, Any] = {"name": p.name, "email": p.email}
        if p.manager_name:
            entry["manager_name"] = p.manager_name
        if p.manager_email:
            entry["manager_email"] = p.manager_email
        if p.growth_conversation is not None:
            entry["growth_conversation"] = p.growth_conversation
        entries.append(entry)
    data["participants"] = entries
    return [p.row for p in people.participants]


def _language_rows(people: ParticipantList | None, language: str, out: list[Finding]) -> None:
    # Messages of one network are in one language; say so for rows that asked another.
    if people is None:
        return
    for other in ("nl", "en", "fr"):
        rows = tuple(p.row for p in people.participants if p.language == other != language)
        if rows:
            out.append(warning(Say.LANGUAGE_OTHER, *rows, value=other))


def from_network_file(
    text: str,
    people: ParticipantList | None,
    *,
    organiser: Person,
    taken: Taken,
    now: datetime,
) -> Intake:
    """A network file attached by the organiser; a list with it replaces its participants."""
    findings: list[Finding] = list(people.findings) if people else []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem = Problem("", f"not valid TOML: {exc}")
        return Intake("", None, (error(Say.NETWORK_FILE, value=str(problem)),), "nl")
    head = data["network"] if isinstance(data.get("network"), dict) else {}
    language = language_of(str(head.get("language", "nl")))
    wanted = str(head.get("slug", ""))
    if wanted and taken(wanted):
        free = unique_slug(wanted, taken)
        if free is None:
            return Intake("", None, (*findings, error(Say.SLUG_EXHAUSTED, value=wanted)), language)
        head["slug"] = free
        findings.append(warning(Say.SLUG_TAKEN, value=wanted, other=free))
    written = data["organiser"] if isinstance(data.get("organiser"), dict) else {}
    if str(written.get("email", "")).strip().lower() not in {"", organiser.email}:
        findings.append(
            warning(Say.ORGANISER_REPLACED, value=written["email"], other=organiser.email)
        )
    # Whoever confirms the preview organises the network: digests never go elsewhere.
    data["organiser"] = {
        "name": written.get("name") or organiser.name or organiser.email,
        "email": organiser.email,
    }
    rows = _add_participants(data, people) if people is not None else []
    _language_rows(people, language, findings)
    source = tomli_w.dumps(data)
    return _check(source, rows, findings, language, now=now, uid="")


def with_list(source: str, people: ParticipantList, *, now: datetime) -> Intake:
    """A registered network's file with the participants of a list sent again (joins and leaves)."""
    data = tomllib.loads(source)
    language = language_of(str(data.get("network", {}).get("language", "nl")))
    findings = list(people.findings)
    rows = _add_participants(data, people)
    _language_rows(people, language, findings)
    return _check(tomli_w.dumps(data), rows, findings, language, now=now, uid="")


def _check(
    source: str, rows: list[int], findings: list[Finding], language: str, *, now: datetime, uid: str
) -> Intake:
    try:
        loaded = parse_network(source, now=now, source="organiser mail")
    except NetworkFileError as exc:
        findings.extend(problem_finding(p, rows) for p in exc.problems)
        return Intake(source, None, tuple(findings), language, uid)
    findings.extend(warning_finding(w, rows) for w in loaded.warnings)
    if has_errors(findings):
        return Intake(source, None, tuple(findings), language, uid, loaded.network)
    return Intake(source, loaded, tuple(findings), language, uid, loaded.network)


def slugify(name: str) -> str:
    """``"Lerend netwerk: Welzijn & Zorg"`` -> ``"lerend-netwerk-welzijn-zorg"`` (at most 40 characters)."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:40].strip("-")
    return slug or "netwerk"


def unique_slug(stem: str, taken: Taken) -> str | None:
    """``stem``, or ``stem-2``, ``stem-3``... when that is taken (the caller says which are)."""
    for n in range(1, MAX_SLUG_TRIES + 1):
        candidate = stem if n == 1 else f"{stem[:58]}-{n}"
        if not taken(candidate):
            return candidate
    return None
