"""The organiser's participant list: xlsx and csv as Excel writes them, problems named by row."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date

import pytest
from openpyxl import Workbook

from leernet.organiser.intake import sheet
from leernet.organiser.intake.findings import Level, Say
from leernet.organiser.intake.participant_list import (
    Column,
    ParticipantList,
    as_date,
    column_of,
    read_participant_list,
)


def xlsx(rows: list[list[object]], *, title: str = "Deelnemers") -> bytes:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = title
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def texts(result: ParticipantList, language: str = "nl") -> list[str]:
    return [f.text(language) for f in result.findings]


class TestXlsx:
    def test_dutch_headers_real_dates_and_serials(self) -> None:
        """A Dutch list with a real date cell and a date stored as an Excel serial gives both dates."""
        data = xlsx(
            [
                ["Naam", "E-mail", "Leidinggevende", "E-mail leidinggevende", "Groeigesprek"],
                [
                    "Bert Claes",
                    "bert@example.com",
                    "Els Wouters",
                    "els@example.com",
                    date(2027, 6, 15),
                ],
                ["Sofie Maes", "sofie@example.com", "Els Wouters", "els@example.com", 46553],
            ]
        )
        result = read_participant_list("deelnemers.xlsx", data)
        assert result.findings == ()
        bert, sofie = result.participants
        assert (bert.row, bert.name, bert.email) == (2, "Bert Claes", "bert@example.com")
        assert (bert.manager_name, bert.manager_email) == ("Els Wouters", "els@example.com")
        assert bert.growth_conversation == date(2027, 6, 15)
        assert sofie.growth_conversation == date(2027, 6, 15)

    def test_first_and_last_name_columns_are_joined_and_title_rows_skipped(self) -> None:
        """Voornaam + Achternaam become one name; a title and a blank line above the header are skipped; rows keep Excel's numbers."""
        data = xlsx(
            [
                ["Lerend netwerk werkbaar werk"],
                [],
                ["Voornaam", "Achternaam", "E-mailadres"],
                ["Bert", "Claes", "bert@example.com"],
                [],
                ["Sofie", "Maes", "sofie@example.com"],
            ]
        )
        result = read_participant_list("lijst.xlsx", data)
        assert [(p.row, p.name) for p in result.participants] == [
            (4, "Bert Claes"),
            (6, "Sofie Maes"),
        ]

    def test_errors_name_the_rows_of_the_list(self) -> None:
        """A bad address and a duplicate are named by the spreadsheet's own row numbers, in Dutch and English."""
        data = xlsx(
            [
                ["Name", "Email", "Manager", "Manager email"],
                ["Bert Claes", "bert@example.com", "", ""],
                ["An", "an@example.com", "", ""],
                ["Jan", "jan@", "", ""],
                ["Bert again", "BERT@example.com", "", ""],
            ]
        )
        result = read_participant_list("list.xlsx", data)
        assert texts(result) == [
            'rij 4: "jan@" is geen e-mailadres',
            "rij 5 en rij 2: hetzelfde e-mailadres",
        ]
        assert texts(result, "en")[0] == 'row 4: "jan@" is not an email address'
        assert [p.row for p in result.participants] == [2, 3]

    def test_french_headers_with_accents(self) -> None:
        """French headers (Prénom, Nom, Courriel, Courriel du responsable, Entretien, Langue) are understood."""
        data = xlsx(
            [
                [
                    "Prénom",
                    "Nom",
                    "Courriel",
                    "Responsable",
                    "Courriel du responsable",
                    "Entretien",
                    "Langue",
                ],
                [
                    "Éloïse",
                    "Dubois",
                    "eloise@example.be",
                    "Marc Petit",
                    "marc@example.be",
                    "15/06/2027",
                    "FR",
                ],
            ]
        )
        result = read_participant_list("liste.xlsx", data)
        (p,) = result.participants
        assert (p.name, p.manager_name, p.manager_email) == (
            "Éloïse Dubois",
            "Marc Petit",
            "marc@example.be",
        )
        assert (p.growth_conversation, p.language) == (date(2027, 6, 15), "fr")

    def test_a_zip_bomb_is_refused_before_openpyxl_reads_it(self) -> None:
        """An xlsx whose parts inflate past the bound is refused from the zip directory alone."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("xl/worksheets/sheet1.xml", b"\0" * (sheet.MAX_UNZIPPED_BYTES + 1))
        result = read_participant_list("bomb.xlsx", out.getvalue())
        assert [f.say for f in result.findings] == [Say.LIST_TOO_BIG]

    def test_more_rows_than_allowed_are_refused(self) -> None:
        """A list longer than the bound is refused with a message, not read half."""
        rows: list[list[object]] = [["Naam", "E-mail"]]
        rows += [[f"P {i}", f"p{i}@example.com"] for i in range(sheet.MAX_ROWS + 5)]
        result = read_participant_list("groot.xlsx", xlsx(rows))
        assert [f.say for f in result.findings] == [Say.LIST_TOO_MANY_ROWS]
        assert result.participants == ()

    def test_junk_with_xlsx_name_is_unreadable(self) -> None:
        """Bytes that are no workbook give one 'cannot read' finding, never an exception."""
        result = read_participant_list("lijst.xlsx", b"PK\x03\x04garbage" * 10)
        assert [f.say for f in result.findings] == [Say.LIST_UNREADABLE]


class TestCsv:
    def test_semicolon_cp1252_as_excel_writes_it(self) -> None:
        """Excel's 'CSV (puntkomma)' in Windows-1252 keeps the é in a name."""
        data = "Naam;E-mail;Groeigesprek\r\nRené Peeters;rene@example.com;15/06/2027\r\n".encode(
            "cp1252"
        )
        (p,) = read_participant_list("lijst.csv", data).participants
        assert (p.name, p.growth_conversation) == ("René Peeters", date(2027, 6, 15))

    def test_comma_utf8_bom(self) -> None:
        """A UTF-8 file with BOM and commas reads its first header cleanly."""
        data = "\ufeffName,Email,Growth conversation\nZoë Janssens,zoe@example.com,2027-06-15\n".encode()
        result = read_participant_list("list.csv", data)
        (p,) = result.participants
        assert (p.name, p.growth_conversation) == ("Zoë Janssens", date(2027, 6, 15))
        assert Column.NAME in result.columns

    def test_sep_line_and_bad_date(self) -> None:
        """Excel's 'sep=;' line is not a row; an unreadable date names its row (the sep line counts)."""
        data = b"sep=;\nNaam;E-mail;Groeigesprek\nBert;bert@example.com;volgende week\n"
        result = read_participant_list("lijst.csv", data)
        assert texts(result) == ['rij 3: "volgende week" is geen datum (schrijf bv. 15/06/2027)']
        assert result.participants == ()

    def test_addresses_pasted_from_outlook(self) -> None:
        """'Name <address>' and 'mailto:' as Outlook pastes them become the bare address."""
        data = "Naam;E-mail;E-mail leidinggevende\nBert;Bert Claes <bert@example.com>;mailto:els@example.com\n"
        (p,) = read_participant_list("l.csv", data.encode()).participants
        assert (p.email, p.manager_email) == ("bert@example.com", "els@example.com")

    def test_no_header_is_said(self) -> None:
        """A file without name and email columns says so instead of guessing."""
        result = read_participant_list("x.csv", b"a;b\n1;2\n")
        assert [f.say for f in result.findings] == [Say.LIST_NO_HEADER]
        assert result.findings[0].level is Level.ERROR

    def test_other_file_kinds_are_refused(self) -> None:
        """An old .xls or a .docx is refused with the file's name."""
        result = read_participant_list("lijst.xls", b"\xd0\xcf\x11\xe0")
        assert result.findings[0].text("nl").startswith("lijst.xls is geen .xlsx of .csv")

    def test_work_grows_linearly_with_the_file(self) -> None:
        """Reading 8 times more rows takes far less than 30 times as long (no quadratic step)."""

        def cost(n: int) -> float:
            data = (
                "Naam;E-mail\n" + "".join(f"P {i};p{i}@example.com\n" for i in range(n))
            ).encode()
            best = float("inf")
            for _ in range(3):  # the best of three: a busy machine only ever adds time
                begin = time.perf_counter()
                for _ in range(10):
                    read_participant_list("l.csv", data)
                best = min(best, time.perf_counter() - begin)
            return best

        cost(50)
        assert cost(480) < 30 * cost(60)


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("E-mail leidinggevende", Column.MANAGER_EMAIL),
        ("Manager email", Column.MANAGER_EMAIL),
        ("Nom du responsable", Column.MANAGER),
        ("Datum groeigesprek", Column.GROWTH),
        ("Entretien de développement", Column.GROWTH),
        ("MAIL", Column.EMAIL),
        ("Taal", Column.LANGUAGE),
        ("Functie", None),
    ],
)
def test_header_words(header: str, column: Column | None) -> None:
    """Header names in nl/en/fr map to their column whatever their case and accents."""
    assert column_of(header) == column


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("15/06/2027", date(2027, 6, 15)),
        ("2027-06-15", date(2027, 6, 15)),
        ("15.06.2027", date(2027, 6, 15)),
        (46553, date(2027, 6, 15)),
        ("46553", date(2027, 6, 15)),
        ("31/02/2027", None),
        (3, None),
    ],
)
def test_dates(value: object, expected: date | None) -> None:
    """Dates as Excel stores them or as people write them, day first; nonsense is no date."""
    assert as_date(value) == expected


def test_an_entity_bomb_in_the_sheet_is_unreadable() -> None:
    """A sheet whose XML nests entities (billion laughs) is refused as unreadable, not expanded."""
    source = xlsx([["Naam", "E-mail"], ["Bert", "bert@example.com"]])
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
            for i in range(1, 10)
        )
        + ']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = laughs.encode()
            new.writestr(info, data)
    result = read_participant_list("bom.xlsx", out.getvalue())
    assert result.participants == ()
    assert [f.say for f in result.findings] in ([Say.LIST_UNREADABLE], [Say.LIST_NO_HEADER])
