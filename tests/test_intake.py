"""Intake: an organiser's series and list become the network file `leernet start` reads, checked as `leernet check` does."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from leernet.network.changes import Changes
from leernet.network.load import parse_network
from leernet.network.model import Network, Person, SessionKind
from leernet.organiser.intake.findings import Level, Say
from leernet.organiser.intake.network_file import (
    Intake,
    from_network_file,
    from_request,
    from_series,
    slugify,
)
from leernet.organiser.intake.participant_list import read_participant_list
from leernet.organiser.intake.preview_text import change_preview, start_preview
from leernet.organiser.intake.request import read_request
from leernet.organiser.intake.series import MeetingSeries, read_series
from leernet.organiser.intake.series_change import read_change

CORPUS = Path(__file__).parent / "data" / "organiser"
EXAMPLE = Path(__file__).parents[1] / "config" / "network.example.toml"
NOW = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
AN = Person("An Peeters", "an.peeters@example.com")
MAILS = sorted(CORPUS.glob("*_series_with_list.eml"))


def free(_slug: str) -> bool:
    return False


def outlook_series() -> MeetingSeries:
    request = read_request((CORPUS / "outlook_series_with_list.eml").read_bytes())
    series = read_series(request.calendars[0]).series
    assert series is not None
    return series


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    ws = book.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


HEADER = ["Naam", "E-mail", "Leidinggevende", "E-mail leidinggevende", "Groeigesprek"]
GOOD = [
    [f"Deelnemer {i}", f"d{i}@example.com", "Els Wouters", "els@example.com", 46553]
    for i in range(1, 12)
]


@pytest.mark.parametrize("path", MAILS, ids=[p.stem for p in MAILS])
def test_corpus_mail_becomes_a_valid_network_with_the_series_sessions(path: Path) -> None:
    """Every client's request gives a network whose sessions are the series' occurrences, moved and cancelled ones included."""
    request = read_request(path.read_bytes())
    intake = from_request(request, taken=free, now=NOW)
    assert intake.ok, intake.texts(Level.ERROR)
    assert intake.loaded is not None
    network = intake.loaded.network
    series = read_series(request.calendars[0]).series
    assert series is not None
    assert intake.series_uid == series.uid
    assert [(s.number, s.start, s.minutes, s.cancelled) for s in network.sessions] == [
        (o.index, o.start, o.minutes, o.cancelled) for o in series.occurrences
    ]
    # A weekly series keeps the organiser's own RECURRENCE-IDs as leernet's slots.
    assert [s.slot for s in network.sessions] == [o.recurrence_id for o in series.occurrences]
    assert network.session(1).kind is SessionKind.KICKOFF
    assert network.session(6).kind is SessionKind.CLOSING
    assert len(network.participants) == 12
    assert network.organiser.email == "an.peeters@example.com"
    assert network.slug.endswith("-2027-02-11")
    # The source is what `leernet start` reads: parsing it again gives the same network.
    assert parse_network(intake.source).network == network


def test_language_follows_the_organisers_mail() -> None:
    """Thunderbird's Content-Language: en-GB gives an English network; Outlook's nl-BE a Dutch one."""
    english = from_request(
        read_request((CORPUS / "thunderbird_series_with_list.eml").read_bytes()),
        taken=free,
        now=NOW,
    )
    dutch = from_request(
        read_request((CORPUS / "outlook_series_with_list.eml").read_bytes()), taken=free, now=NOW
    )
    assert (english.language, dutch.language) == ("en", "nl")
    assert english.loaded is not None
    assert english.loaded.network.session(1).title.startswith("Kick-off")


def test_a_list_with_errors_is_told_by_row_and_nothing_is_loaded() -> None:
    """A bad address, a duplicate, the organiser's own address and a bad date are each named by their row."""
    rows = [
        ["Deelnemers lerend netwerk"],
        HEADER,
        *GOOD[:5],
        ["Jan Verbruggen", "jan@", "", "", ""],  # row 8
        ["An Peeters", "an.peeters@example.com", "", "", ""],  # row 9
        ["Deelnemer 2 opnieuw", "D2@example.com", "", "", ""],  # row 10, same as row 4
        ["Lien Aerts", "lien@example.com", "Els Wouters", "els@", "volgende maand"],  # row 11
    ]
    people = read_participant_list("deelnemers.xlsx", xlsx(rows))
    intake = from_series(outlook_series(), people, organiser=AN, language="nl", taken=free, now=NOW)
    assert not intake.ok
    assert intake.loaded is None
    errors = intake.texts(Level.ERROR)
    assert errors == [
        'rij 8: "jan@" is geen e-mailadres',
        "rij 10 en rij 4: hetzelfde e-mailadres",
        'rij 11: het adres van de leidinggevende, "els@", is geen e-mailadres',
        'rij 11: "volgende maand" is geen datum (schrijf bv. 15/06/2027)',
        "rij 9: dat is je eigen adres; jij bent de organisator",
    ]


def test_the_corrected_list_gives_a_valid_network() -> None:
    """The same series with a corrected list is valid: sessions equal the series, participants in list order."""
    people = read_participant_list("deelnemers.xlsx", xlsx([HEADER, *GOOD]))
    series = outlook_series()
    intake = from_series(series, people, organiser=AN, language="nl", taken=free, now=NOW)
    assert intake.ok
    assert intake.loaded is not None
    network = intake.loaded.network
    assert [p.email for p in network.participants] == [f"d{i}@example.com" for i in range(1, 12)]
    assert network.participants[0].growth_conversation == date(2027, 6, 15)
    moved = network.session(5)
    assert (moved.start, moved.slot) == (
        series.occurrences[4].start,
        series.occurrences[4].recurrence_id,
    )
    assert network.session(3).cancelled
    assert intake.texts(Level.WARNING) == []


def test_row_named_warnings_from_the_check() -> None:
    """Few participants and a missing manager are warned about in the organiser's words."""
    people = read_participant_list(
        "l.csv", b"Naam;E-mail;Groeigesprek\nBert;bert@example.com;01/03/2027\n"
    )
    intake = from_series(outlook_series(), people, organiser=AN, language="nl", taken=free, now=NOW)
    assert intake.ok
    assert intake.texts(Level.WARNING) == [
        "1 deelnemers; een lerend netwerk werkt best met 10 tot 15",
        "rij 2: Bert heeft geen leidinggevende; die krijgt dus geen bericht of samenvatting",
        "rij 2: het groeigesprek valt voor de laatste sessie; de samenvatting gaat over de sessies tot dan",
    ]


def test_a_taken_slug_gets_a_number() -> None:
    """The slug is the name plus the first date; when that is taken, -2, -3 ... follow."""
    taken = {"lerend-netwerk-werkbaar-werk-2027-02-11", "lerend-netwerk-werkbaar-werk-2027-02-11-2"}
    intake = from_series(
        outlook_series(), None, organiser=AN, language="nl", taken=taken.__contains__, now=NOW
    )
    assert intake.loaded is not None
    assert intake.loaded.network.slug == "lerend-netwerk-werkbaar-werk-2027-02-11-3"


def test_slugify() -> None:
    """Accents go, punctuation becomes a dash, and an empty name still gives a slug."""
    assert slugify("Lerend netwerk: Welzijn & Zorg (Gent)") == "lerend-netwerk-welzijn-zorg-gent"
    assert slugify("Éénheid") == "eenheid"
    assert slugify("!!!") == "netwerk"


def test_a_series_without_goal_says_where_to_write_it() -> None:
    """No description: the check's 'goal is required' becomes a hint to write 'Doel:' in the description."""
    data = (
        b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:g-1\r\nSUMMARY:Netwerk\r\n"
        b"DTSTART;TZID=Europe/Brussels:20270211T093000\r\nDURATION:PT2H\r\n"
        b"RRULE:FREQ=MONTHLY;COUNT=4;BYDAY=2TH\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    series = read_series(data).series
    assert series is not None
    intake = from_series(series, None, organiser=AN, language="nl", taken=free, now=NOW)
    assert intake.texts(Level.ERROR) == [
        "het doel ontbreekt: schrijf in de beschrijving een regel 'Doel: ...'"
    ]


def test_a_monthly_series_becomes_sessions_with_their_own_dates() -> None:
    """A rule leernet's schedule cannot say (second Thursday) becomes one start per session, equal to the series."""
    data = (
        b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:m-1\r\nSUMMARY:Netwerk\r\n"
        b"DESCRIPTION:Doel: samen leren.\r\n"
        b"DTSTART;TZID=Europe/Brussels:20270211T093000\r\nDURATION:PT2H\r\n"
        b"RRULE:FREQ=MONTHLY;COUNT=4;BYDAY=2TH\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    series = read_series(data).series
    assert series is not None
    intake = from_series(series, None, organiser=AN, language="nl", taken=free, now=NOW)
    assert intake.loaded is not None
    assert [s.start for s in intake.loaded.network.sessions] == [
        o.start for o in series.occurrences
    ]
    assert "[schedule]" not in intake.source


def test_an_override_onto_another_session_is_an_overlap() -> None:
    """Moving session 2 onto the time of session 1 is the check's overlap, in words."""
    data = (
        b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:o-1\r\nSUMMARY:Netwerk\r\n"
        b"DESCRIPTION:Doel: samen leren.\r\nDTSTART;TZID=Europe/Brussels:20270211T093000\r\n"
        b"DURATION:PT2H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:o-1\r\nRECURRENCE-ID;TZID=Europe/Brussels:20270218T093000\r\n"
        b"DTSTART;TZID=Europe/Brussels:20270211T100000\r\nDURATION:PT2H\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n"
    )
    series = read_series(data).series
    assert series is not None
    intake = from_series(series, None, organiser=AN, language="en", taken=free, now=NOW)
    assert intake.texts(Level.ERROR) == ["session 2 overlaps session 1"]


class TestNetworkFile:
    def test_a_list_replaces_the_files_participants_and_the_sender_organises(self) -> None:
        """The example network file with an attached list: the list's people, the sender as organiser."""
        people = read_participant_list("deelnemers.xlsx", xlsx([HEADER, *GOOD]))
        intake = from_network_file(
            EXAMPLE.read_text(encoding="utf-8"), people, organiser=AN, taken=free, now=NOW
        )
        assert intake.ok, intake.texts(Level.ERROR)
        assert intake.loaded is not None
        network = intake.loaded.network
        assert len(network.participants) == 11
        assert network.organiser.email == "an.peeters@example.com"
        assert [f.say for f in intake.findings] == [Say.ORGANISER_REPLACED]

    def test_a_taken_slug_in_the_file_is_replaced_with_a_warning(self) -> None:
        """A file whose slug is already registered gets the next free one, and the organiser is told."""
        text = EXAMPLE.read_text(encoding="utf-8")
        slug = parse_network(text).network.slug
        intake = from_network_file(text, None, organiser=AN, taken={slug}.__contains__, now=NOW)
        assert intake.loaded is not None
        assert intake.loaded.network.slug == f"{slug}-2"
        assert Say.SLUG_TAKEN in [f.say for f in intake.findings]

    def test_bad_toml_is_an_error_not_an_exception(self) -> None:
        """A file that is not TOML gives one error finding."""
        intake = from_network_file("[network\n", None, organiser=AN, taken=free, now=NOW)
        assert not intake.ok
        assert intake.texts(Level.ERROR)[0].startswith("not valid TOML")


def test_a_mail_without_series_or_file() -> None:
    """A mail with only a list says that the series or the network file is missing."""
    raw = b"From: An <an.peeters@example.com>\r\nSubject: hoi\r\n\r\nHallo\r\n"
    intake = from_request(read_request(raw), taken=free, now=NOW)
    assert [f.say for f in intake.findings] == [Say.CALENDAR_MISSING]


@pytest.mark.node
@pytest.mark.parametrize("path", MAILS, ids=[p.stem for p in MAILS])
def test_participants_invite_shows_the_organisers_series_in_icaljs(path: Path) -> None:
    """ical.js (Thunderbird's parser) expands a participant's invite to exactly the sessions it expands the organiser's own series to."""
    from tests.icaljs import expand_with_icaljs  # noqa: PLC0415
    from tests.test_invite import request_for  # noqa: PLC0415

    request = read_request(path.read_bytes())
    intake = from_request(request, taken=free, now=NOW)
    assert intake.loaded is not None
    network = intake.loaded.network
    theirs = expand_with_icaljs(request.calendars[0])
    ours = expand_with_icaljs(request_for(network, network.participants[0]))
    assert [(o["start"], o["end"]) for o in ours] == [(o["start"], o["end"]) for o in theirs]
    assert len(ours) == 5  # six occurrences, one cancelled


class TestPreview:
    def test_a_valid_request_previews_everything_and_asks_for_start(self) -> None:
        """The preview shows sessions in local time (moved and cancelled ones), participants with managers and dates, the questions, and asks START."""
        request = read_request((CORPUS / "outlook_series_with_list.eml").read_bytes())
        preview = start_preview(
            from_request(request, taken=free, now=NOW), organiser_name="An Peeters"
        )
        assert preview.ok
        assert (
            preview.subject
            == "Voorbeeld: Lerend netwerk werkbaar werk – antwoord START om te beginnen"
        )
        text = preview.text
        assert text.startswith("Dag An,\n")
        assert "1. donderdag 11 februari 2027, 9.30 – 12.00 uur – Startmoment" in text
        assert "3. donderdag 11 maart 2027: gaat niet door" in text
        assert "5. vrijdag 9 april 2027, 13.30 – 16.00 uur (verplaatst) – Sessie 5" in text
        assert "6. donderdag 22 april 2027, 9.30 – 12.00 uur – Afsluitende sessie" in text
        assert (
            "- Bert Claes <bert.claes@example.com> · leidinggevende: Els Wouters "
            "<els.wouters@example.com> · groeigesprek: dinsdag 15 juni 2027"
        ) in text
        assert "2. Wat neem je mee naar je eigen praktijk?" in text
        assert "Antwoord op deze mail met START" in text

    def test_a_list_with_errors_previews_what_to_fix_and_no_start(self) -> None:
        """With errors the preview lists them by row, shows the sessions still, and does not offer START."""
        people = read_participant_list(
            "l.xlsx", xlsx([HEADER, *GOOD[:10], ["Jan", "jan@", "", "", ""]])
        )
        intake = from_series(
            outlook_series(), people, organiser=AN, language="nl", taken=free, now=NOW
        )
        preview = start_preview(intake, organiser_name="An Peeters")
        assert not preview.ok
        assert preview.subject == "Nog aan te passen: Lerend netwerk werkbaar werk"
        assert '- rij 12: "jan@" is geen e-mailadres' in preview.lines
        assert "START" not in preview.text
        assert (
            preview.lines[-1]
            == "Er is niets geregistreerd en niemand kreeg een bericht. Pas aan en stuur opnieuw."
        )
        assert any(line.startswith("4. donderdag 25 maart 2027") for line in preview.lines)

    def test_english_preview(self) -> None:
        """An English organiser's preview is in English, times with a colon."""
        request = read_request((CORPUS / "thunderbird_series_with_list.eml").read_bytes())
        preview = start_preview(
            from_request(request, taken=free, now=NOW), organiser_name="An Peeters"
        )
        assert preview.subject.startswith("Preview: Learning network sustainable work")
        assert "5. Friday 9 April 2027, 13:30–16:00 (moved) – Session 5" in preview.lines

    def test_a_moved_occurrence_is_said_in_words(self) -> None:
        """An update that moves session 4 says where it goes and how many participants are told."""
        network = from_request(
            read_request((CORPUS / "outlook_series_with_list.eml").read_bytes()),
            taken=free,
            now=NOW,
        ).loaded
        assert network is not None
        update = read_request((CORPUS / "outlook_update_moved.eml").read_bytes())
        change = read_change(outlook_series(), update.calendars[0])
        preview = change_preview(change, network.network, organiser_name="An Peeters")
        assert preview.ok
        assert "- Sessie 4 verhuist naar vrijdag 26 maart 2027, 14.00 – 16.30 uur" in preview.lines
        assert "12 deelnemers krijgen een aangepaste uitnodiging." in preview.lines

    def test_a_cancelled_series_says_everyone_is_told(self) -> None:
        """A CANCEL of the whole series is previewed as the end of the network for every participant."""
        request = read_request((CORPUS / "google_series_with_list.eml").read_bytes())
        loaded = from_request(request, taken=free, now=NOW).loaded
        series = read_series(request.calendars[0]).series
        assert loaded is not None
        assert series is not None
        cancel = read_request((CORPUS / "google_cancel_series.eml").read_bytes())
        preview = change_preview(
            read_change(series, cancel.calendars[0]), loaded.network, organiser_name="An"
        )
        assert (
            "- Het hele netwerk wordt geschrapt; alle 12 deelnemers krijgen een annulering."
            in preview.lines
        )


def test_a_list_sent_again_gives_joins_leaves_and_changes() -> None:
    """A new list for a running network: one joins, one leaves, one gets another manager; the file with it is valid."""
    from leernet.organiser.intake.list_change import compare_list, list_change_lines  # noqa: PLC0415
    from leernet.organiser.intake.network_file import with_list  # noqa: PLC0415

    request = read_request((CORPUS / "outlook_series_with_list.eml").read_bytes())
    started = from_request(request, taken=free, now=NOW)
    assert started.loaded is not None
    network = started.loaded.network
    rows: list[list[object]] = [HEADER]
    for p in network.participants:
        if p.email == "kobe.jacobs@example.com":
            continue
        manager = (
            ("Inge Mertens", "inge.mertens@example.com")
            if p.name == "Bert Claes"
            else (p.manager_name, p.manager_email)
        )
        rows.append([p.name, p.email, *manager, p.growth_conversation])
    rows.append(
        ["Lien Aerts", "lien.aerts@example.com", "Els Wouters", "els.wouters@example.com", None]
    )
    people = read_participant_list("deelnemers.xlsx", xlsx(rows))
    change = compare_list(network, people)
    assert list_change_lines(change, "nl") == [
        "Nieuw: Lien Aerts <lien.aerts@example.com> (rij 13) krijgt een uitnodiging",
        "Vertrekt: Kobe Jacobs <kobe.jacobs@example.com> krijgt een annulering",
        "Aangepast: Bert Claes <bert.claes@example.com>, leidinggevende Inge Mertens, groeigesprek dinsdag 15 juni 2027",
    ]
    updated = with_list(started.source, people, now=NOW)
    assert updated.ok, updated.texts(Level.ERROR)
    assert updated.loaded is not None
    assert updated.loaded.network.slug == network.slug
    assert updated.loaded.network.sessions == network.sessions
    assert "kobe.jacobs@example.com" not in [p.email for p in updated.loaded.network.participants]


CHANGES = sorted(p for p in CORPUS.glob("*.eml") if "_series_with_list" not in p.name)


@pytest.mark.parametrize("path", CHANGES, ids=[p.stem for p in CHANGES])
def test_the_registered_source_remembers_the_series_for_later_changes(path: Path) -> None:
    """The network file keeps the series' UID and RECURRENCE-IDs as comments; a later update read against it gives the same changes as against the original series."""
    import json  # noqa: PLC0415

    from leernet.organiser.intake.remember import remembered, series_uid_of  # noqa: PLC0415

    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    original = read_request((CORPUS / f"{expected['base']}.eml").read_bytes())
    intake = from_request(original, taken=free, now=NOW)
    assert intake.loaded is not None
    series = read_series(original.calendars[0]).series
    assert series is not None
    assert series_uid_of(intake.source) == series.uid
    known = remembered(intake.source, parse_network(intake.source).network)
    assert known is not None
    update = read_request(path.read_bytes()).calendars[0]
    assert read_change(known, update).occurrences == read_change(series, update).occurrences
    assert read_change(known, update).whole_series_cancelled == expected["whole_series_cancelled"]


class TestApplyChange:
    def started(self, name: str) -> Intake:
        request = read_request((CORPUS / f"{name}.eml").read_bytes())
        intake = from_request(request, taken=free, now=NOW)
        assert intake.loaded is not None
        return intake

    def update(self, base: str, name: str) -> tuple[Network, Network, Changes, str]:
        from leernet.network.changes import diff  # noqa: PLC0415
        from leernet.organiser.intake.apply_change import apply_change  # noqa: PLC0415
        from leernet.organiser.intake.remember import remembered  # noqa: PLC0415

        intake = self.started(base)
        assert intake.loaded is not None
        old = intake.loaded.network
        known = remembered(intake.source, old)
        assert known is not None
        calendar = read_request((CORPUS / f"{name}.eml").read_bytes()).calendars[0]
        change = read_change(known, calendar)
        source, findings = apply_change(intake.source, known, change, read_series(calendar).series)
        assert findings == ()
        new = parse_network(source).network
        return old, new, diff(old, new), source

    def test_a_moved_occurrence_becomes_leernet_updates_move(self) -> None:
        """Outlook moving session 4 gives a file whose update moves session 4 only, keeping its slot."""
        old, new, changes, _ = self.update("outlook_series_with_list", "outlook_update_moved")
        assert [s.number for s in changes.moved] == [4]
        assert new.local(new.session(4).start).strftime("%Y-%m-%d %H:%M") == "2027-03-26 14:00"
        assert new.session(4).slot == old.session(4).slot
        assert changes.cancelled == changes.restored == ()

    def test_a_cancelled_occurrence_becomes_a_cancelled_session(self) -> None:
        """Outlook's CANCEL of 22 April cancels session 6 only."""
        _, _, changes, source = self.update("outlook_series_with_list", "outlook_cancel_occurrence")
        assert [s.number for s in changes.cancelled] == [6]
        assert "# organiser-series-sequence = 1" in source

    def test_a_retimed_series_moves_every_session_and_keeps_the_slots(self) -> None:
        """Thunderbird re-timing the series to 10:00 moves sessions 1, 2, 4 and 6; the slots stay, the stamp takes the new RECURRENCE-IDs."""
        from leernet.organiser.intake.remember import remembered  # noqa: PLC0415

        old, new, changes, source = self.update(
            "thunderbird_series_with_list", "thunderbird_update_retimed"
        )
        assert [s.number for s in changes.moved] == [1, 2, 4, 6]
        assert [s.slot for s in new.sessions] == [s.slot for s in old.sessions]
        again = remembered(source, new)
        assert again is not None
        assert again.occurrences[0].recurrence_id.astimezone(new.zone).hour == 10

    def test_a_cancelled_series_cancels_every_session(self) -> None:
        """Google's CANCEL of the whole series cancels every session still to come."""
        _, new, changes, _ = self.update("google_series_with_list", "google_cancel_series")
        assert all(s.cancelled for s in new.sessions)
        assert [s.number for s in changes.cancelled] == [1, 2, 4, 5, 6]


@pytest.mark.node
def test_a_monthly_series_reaches_participants_as_the_organiser_planned_it() -> None:
    """A second-Thursday series across the DST change: ical.js shows the participant's invite and the organiser's series at the same instants."""
    from tests.icaljs import expand_with_icaljs  # noqa: PLC0415
    from tests.organiser_corpus import GOOGLE_TZ  # noqa: PLC0415
    from tests.test_invite import request_for  # noqa: PLC0415

    zone = GOOGLE_TZ.replace("\n", "\r\n").encode() + b"\r\n"  # ical.js knows only the file's zones
    data = (
        b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n"
        + zone
        + b"BEGIN:VEVENT\r\nUID:m-2\r\nSUMMARY:Netwerk\r\n"
        b"DESCRIPTION:Doel: samen leren.\r\n"
        b"DTSTART;TZID=Europe/Brussels:20270211T093000\r\n"
        b"DTEND;TZID=Europe/Brussels:20270211T120000\r\n"
        b"RRULE:FREQ=MONTHLY;COUNT=5;BYDAY=2TH\r\n"
        b"EXDATE;TZID=Europe/Brussels:20270311T093000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    series = read_series(data).series
    assert series is not None
    people = read_participant_list("l.xlsx", xlsx([HEADER, *GOOD]))
    intake = from_series(series, people, organiser=AN, language="nl", taken=free, now=NOW)
    assert intake.loaded is not None
    network = intake.loaded.network
    theirs = [o["start"] for o in expand_with_icaljs(data)]
    ours = [o["start"] for o in expand_with_icaljs(request_for(network, network.participants[0]))]
    assert ours == theirs
    assert len(ours) == 4


def test_a_request_with_a_bad_list_keeps_a_draft_for_the_preview() -> None:
    """From a whole mail with list errors, the preview still shows the sessions understood."""
    request = read_request((CORPUS / "outlook_series_with_list.eml").read_bytes())
    bad = read_participant_list("l.csv", b"Naam;E-mail\nJan;jan@\n")
    assert bad.findings

    from leernet.organiser.intake.request import Attachment  # noqa: PLC0415

    broken = replace(
        request, lists=(Attachment("l.csv", b"Naam;E-mail\nJan;jan@\nAn;an@example.com\n"),)
    )
    intake = from_request(broken, taken=free, now=NOW)
    assert not intake.ok
    assert intake.draft is not None
    preview = start_preview(intake, organiser_name="An Peeters")
    assert any(line.startswith("5. vrijdag 9 april 2027") for line in preview.lines)
    assert '- rij 2: "jan@" is geen e-mailadres' in preview.lines


def test_every_slug_taken_is_an_error_in_words() -> None:
    """When the name and every numbered variant are taken, the organiser is asked for another name."""
    intake = from_series(
        outlook_series(), None, organiser=AN, language="nl", taken=lambda _s: True, now=NOW
    )
    assert intake.texts(Level.ERROR) == [
        'de korte naam "lerend-netwerk-werkbaar-werk" is al vele keren in gebruik; geef het netwerk een andere naam'
    ]


def test_the_export_workbook_has_the_exports_rows() -> None:
    """The .xlsx export has one sheet of attendance and one of evaluations whose rows equal the export's; an answer starting with '=' stays text."""
    from openpyxl import load_workbook  # noqa: PLC0415

    from leernet.organiser.export_xlsx import export_xlsx  # noqa: PLC0415
    from leernet.records.networks import Member, Registered  # noqa: PLC0415

    started = from_request(
        read_request((CORPUS / "outlook_series_with_list.eml").read_bytes()), taken=free, now=NOW
    )
    assert started.loaded is not None
    network = started.loaded.network
    members = tuple(
        Member(
            i,
            p.email,
            p.name,
            p.manager_name,
            p.manager_email,
            f"t{i}",
            removed=False,
            bounced=False,
        )
        for i, p in enumerate(network.participants, start=1)
    )
    reg = Registered(1, network, 0, members)
    data = {
        "network": network.slug,
        "attendance": [
            {"participant": "bert.claes@example.com", "session": 1, "rsvp": "accepted", "comment": "", "present": True},
            {"participant": "sofie.maes@example.com", "session": 1, "rsvp": "declined", "comment": "ziek\x01", "present": None},
        ],
        "evaluations": [
            {"participant": "bert.claes@example.com", "session": 1, "absent": False,
             "answers": {"1": 5, "2": '=HYPERLINK("http://x")', "4": True}},
        ],
    }  # fmt: skip
    book = load_workbook(io.BytesIO(export_xlsx(data, reg)))
    assert book.sheetnames == ["Aanwezigheid", "Evaluaties"]
    rows = list(book["Aanwezigheid"].iter_rows(values_only=True))
    assert rows[0][:3] == ("participant", "name", "session")
    assert [(r[0], r[2], r[5], r[6], r[7]) for r in rows[1:]] == [
        ("bert.claes@example.com", 1, "accepted", None, True),
        ("sofie.maes@example.com", 1, "declined", "ziek", None),
    ]
    assert rows[1][1] == "Bert Claes"
    assert rows[1][3] == "2027-02-11 09:30"
    evaluation = list(book["Evaluaties"].iter_rows(values_only=True))
    assert evaluation[1][:6] == (
        "bert.claes@example.com",
        "Bert Claes",
        1,
        "2027-02-11 09:30",
        network.session(1).title,
        False,
    )
    assert evaluation[1][6:10] == (5, '=HYPERLINK("http://x")', None, True)
    assert book["Evaluaties"].cell(2, 8).data_type == "s"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("You have been invited to the following recurring event.", "en"),
        ("Je bent uitgenodigd voor de volgende terugkerende afspraak.", "nl"),
        ("Vous avez été invité à l'événement suivant, avec les participants ci-joint.", "fr"),
        ("Lerend netwerk", ""),
    ],
)
def test_language_from_the_text_when_the_mail_has_no_header(text: str, language: str) -> None:
    """Google and Apple send no Content-Language: the invitation's words say the language, when they clearly do."""
    from leernet.organiser.intake.request import guess_language  # noqa: PLC0415

    assert guess_language(text) == language
