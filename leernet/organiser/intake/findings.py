"""What the readers of an organiser's mail found, in words the organiser reads (nl/en).

A :class:`Finding` is a value: what (:class:`Say`), where (the rows of their
participant list, as their spreadsheet numbers them) and the facts to fill in.
The wording lives here, one line per kind and language, so a preview can say
``rij 7: "jan@" is geen e-mailadres`` or ``row 7: "jan@" is not an email address``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """How much a finding matters: an error stops the start, a warning does not."""

    ERROR = "error"  # nothing is registered until it is fixed
    WARNING = "warning"  # worth knowing; the network can start


class Say(StrEnum):
    # the participant list as a file
    """Every finding the intake can report, worded in ``_WORDS``."""

    LIST_TOO_BIG = "list_too_big"
    LIST_TOO_MANY_ROWS = "list_too_many_rows"
    LIST_UNREADABLE = "list_unreadable"
    LIST_KIND = "list_kind"
    LIST_NO_HEADER = "list_no_header"
    LIST_EMPTY = "list_empty"
    LIST_COLUMN_UNUSED = "list_column_unused"
    # one row of the list
    NAME_MISSING = "name_missing"
    EMAIL_MISSING = "email_missing"
    EMAIL_INVALID = "email_invalid"
    EMAIL_DUPLICATE = "email_duplicate"
    EMAIL_IS_ORGANISER = "email_is_organiser"
    MANAGER_EMAIL_INVALID = "manager_email_invalid"
    MANAGER_MISSING = "manager_missing"
    DATE_INVALID = "date_invalid"
    GROWTH_BEFORE_END = "growth_before_end"
    LANGUAGE_UNKNOWN = "language_unknown"
    LANGUAGE_OTHER = "language_other"
    # the meeting series
    CALENDAR_MISSING = "calendar_missing"
    CALENDAR_UNREADABLE = "calendar_unreadable"
    CALENDAR_TOO_BIG = "calendar_too_big"
    SERIES_NOT_RECURRING = "series_not_recurring"
    SERIES_OPEN_ENDED = "series_open_ended"
    SERIES_TOO_LONG = "series_too_long"
    SERIES_RULE = "series_rule"
    SERIES_ALL_DAY = "series_all_day"
    SERIES_TIMEZONE = "series_timezone"
    SERIES_DURATION = "series_duration"
    SERIES_OVERRIDE_UNKNOWN = "series_override_unknown"
    SERIES_GROWS = "series_grows"
    # the network as a whole
    GOAL_MISSING = "goal_missing"
    TITLE_MISSING = "title_missing"
    TOO_MANY_PARTICIPANTS = "too_many_participants"
    FEW_PARTICIPANTS = "few_participants"
    OVERLAP = "overlap"
    PAST = "past"
    SLUG_TAKEN = "slug_taken"
    SLUG_EXHAUSTED = "slug_exhausted"
    ORGANISER_REPLACED = "organiser_replaced"
    CALENDAR_IGNORED = "calendar_ignored"
    NETWORK_FILE = "network_file"  # a rule of `leernet check` this module has no words for


_TEXT: dict[Say, tuple[str, str]] = {
    Say.LIST_TOO_BIG: (
        "de deelnemerslijst is te groot ({size}); stuur een lijst van hoogstens {limit}",
        "the participant list is too large ({size}); send one of at most {limit}",
    ),
    Say.LIST_TOO_MANY_ROWS: (
        "de deelnemerslijst heeft meer dan {limit} rijen",
        "the participant list has more than {limit} rows",
    ),
    Say.LIST_UNREADABLE: (
        "de deelnemerslijst {file} kan ik niet lezen; bewaar ze als .xlsx of .csv en stuur opnieuw",
        "I cannot read the participant list {file}; save it as .xlsx or .csv and send it again",
    ),
    Say.LIST_KIND: (
        "{file} is geen .xlsx of .csv; bewaar de deelnemerslijst in een van die vormen",
        "{file} is not an .xlsx or .csv file; save the participant list in one of those",
    ),
    Say.LIST_NO_HEADER: (
        "ik vind geen kolommen 'naam' en 'e-mail' in de eerste rijen van de deelnemerslijst",
        "I find no 'name' and 'email' columns in the first rows of the participant list",
    ),
    Say.LIST_EMPTY: (
        "de deelnemerslijst bevat geen deelnemers",
        "the participant list has no participants",
    ),
    Say.LIST_COLUMN_UNUSED: (
        'de kolom "{column}" gebruik ik niet',
        'I do not use the column "{column}"',
    ),
    Say.NAME_MISSING: ("de naam ontbreekt", "the name is missing"),
    Say.EMAIL_MISSING: ("het e-mailadres ontbreekt", "the email address is missing"),
    Say.EMAIL_INVALID: ('"{value}" is geen e-mailadres', '"{value}" is not an email address'),
    Say.EMAIL_DUPLICATE: ("hetzelfde e-mailadres", "the same email address"),
    Say.EMAIL_IS_ORGANISER: (
        "dat is je eigen adres; jij bent de organisator",
        "that is your own address; you are the organiser",
    ),
    Say.MANAGER_EMAIL_INVALID: (
        'het adres van de leidinggevende, "{value}", is geen e-mailadres',
        'the manager\'s address, "{value}", is not an email address',
    ),
    Say.MANAGER_MISSING: (
        "{name} heeft geen leidinggevende; die krijgt dus geen bericht of samenvatting",
        "{name} has no manager, so no manager note or summary",
    ),
    Say.DATE_INVALID: (
        '"{value}" is geen datum (schrijf bv. 15/06/2027)',
        '"{value}" is not a date (write e.g. 15/06/2027)',
    ),
    Say.GROWTH_BEFORE_END: (
        "het groeigesprek valt voor de laatste sessie; de samenvatting gaat over de sessies tot dan",
        "the growth conversation is before the last session; the summary covers the sessions until then",
    ),
    Say.LANGUAGE_UNKNOWN: (
        '"{value}" is geen taal die ik ken',
        '"{value}" is not a language I know',
    ),
    Say.LANGUAGE_OTHER: (
        "taal {value}: alle berichten van dit netwerk zijn in het Nederlands",
        "language {value}: every message of this network is in English",
    ),
    Say.CALENDAR_MISSING: (
        "ik vind geen reeks vergaderingen en geen netwerkbestand (.toml) in je mail",
        "I find no meeting series and no network file (.toml) in your mail",
    ),
    Say.CALENDAR_UNREADABLE: (
        "de uitnodiging kan ik niet lezen ({detail})",
        "I cannot read the invitation ({detail})",
    ),
    Say.CALENDAR_TOO_BIG: (
        "de uitnodiging is te groot om een reeks vergaderingen te zijn",
        "the invitation is too large to be a meeting series",
    ),
    Say.SERIES_NOT_RECURRING: (
        "de uitnodiging is een losse vergadering; maak een reeks (terugkerende vergadering)",
        "the invitation is a single meeting; make it a series (recurring meeting)",
    ),
    Say.SERIES_OPEN_ENDED: (
        "de reeks heeft geen einde; kies een einddatum of een aantal keer",
        "the series has no end; choose an end date or a number of occurrences",
    ),
    Say.SERIES_TOO_LONG: (
        "de reeks heeft meer dan {limit} sessies",
        "the series has more than {limit} sessions",
    ),
    Say.SERIES_RULE: (
        "dit herhaalpatroon ken ik niet ({detail}); kies dagelijks, wekelijks of maandelijks",
        "I do not know this repeat pattern ({detail}); choose daily, weekly or monthly",
    ),
    Say.SERIES_ALL_DAY: (
        "de reeks duurt de hele dag; geef een begin- en einduur",
        "the series is all-day; give a start and end time",
    ),
    Say.SERIES_TIMEZONE: (
        'de tijdzone "{value}" ken ik niet',
        'I do not know the time zone "{value}"',
    ),
    Say.SERIES_DURATION: (
        "een sessie moet tussen 15 minuten en 24 uur duren",
        "a session must last between 15 minutes and 24 hours",
    ),
    Say.SERIES_OVERRIDE_UNKNOWN: (
        "een verplaatste sessie ({value}) hoort bij geen datum van de reeks; ik laat ze weg",
        "a moved session ({value}) belongs to no date of the series; I leave it out",
    ),
    Say.SERIES_GROWS: (
        "de reeks krijgt er een sessie bij ({value}); dat kan niet meer nu de uitnodigingen verstuurd zijn",
        "the series gets an extra session ({value}); that is no longer possible now the invitations are out",
    ),
    Say.GOAL_MISSING: (
        "het doel ontbreekt: schrijf in de beschrijving een regel 'Doel: ...'",
        "the goal is missing: write a line 'Goal: ...' in the description",
    ),
    Say.TITLE_MISSING: (
        "de reeks heeft geen onderwerp; dat wordt de naam van het netwerk",
        "the series has no subject; it becomes the network's name",
    ),
    Say.TOO_MANY_PARTICIPANTS: (
        "{count} deelnemers is meer dan {limit}; een lerend netwerk werkt best met 10 tot 15",
        "{count} participants is more than {limit}; a learning network works best with 10 to 15",
    ),
    Say.FEW_PARTICIPANTS: (
        "{count} deelnemers; een lerend netwerk werkt best met 10 tot 15",
        "{count} participants; a learning network works best with 10 to 15",
    ),
    Say.OVERLAP: (
        "sessie {value} overlapt met sessie {other}",
        "session {value} overlaps session {other}",
    ),
    Say.PAST: ("sessie(s) {value} liggen in het verleden", "session(s) {value} lie in the past"),
    Say.SLUG_TAKEN: (
        'de korte naam "{value}" is al in gebruik; ik gebruik "{other}"',
        'the short name "{value}" is already in use; I use "{other}"',
    ),
    Say.SLUG_EXHAUSTED: (
        'de korte naam "{value}" is al vele keren in gebruik; geef het netwerk een andere naam',
        'the short name "{value}" is in use many times over; give the network another name',
    ),
    Say.ORGANISER_REPLACED: (
        "jij bent de organisator ({other}), niet {value}",
        "you are the organiser ({other}), not {value}",
    ),
    Say.CALENDAR_IGNORED: (
        "je stuurde een netwerkbestand én een uitnodiging; ik gebruik het netwerkbestand",
        "you sent a network file and an invitation; I use the network file",
    ),
    Say.NETWORK_FILE: ("{value}", "{value}"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing found: what, how bad, which rows of the list (as the spreadsheet numbers them)."""

    say: Say
    level: Level = Level.ERROR
    rows: tuple[int, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()

    def fact(self, key: str) -> str:
        """The value of one fact of the finding, as text."""
        return dict(self.facts).get(key, "")

    def text(self, language: str) -> str:
        """The finding in the organiser's language, its rows first: ``rij 12 en rij 3: ...``."""
        nl, en = _TEXT[self.say]
        template = nl if language == "nl" else en
        values = {"value": "", "other": "", "name": "", "detail": "", "file": ""}
        values |= dict(self.facts)
        body = template.format(**values)
        if not self.rows:
            return body
        word, joiner = ("rij", " en ") if language == "nl" else ("row", " and ")
        return joiner.join(f"{word} {r}" for r in self.rows) + f": {body}"


def error(say: Say, *rows: int, **facts: object) -> Finding:
    """An error on these rows."""
    return Finding(say, Level.ERROR, rows, tuple((k, str(v)) for k, v in facts.items()))


def warning(say: Say, *rows: int, **facts: object) -> Finding:
    """A warning on these rows."""
    return Finding(say, Level.WARNING, rows, tuple((k, str(v)) for k, v in facts.items()))


def has_errors(findings: tuple[Finding, ...] | list[Finding]) -> bool:
    """Whether any finding is an error."""
    return any(f.level is Level.ERROR for f in findings)
