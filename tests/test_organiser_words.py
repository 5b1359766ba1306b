"""The organiser's short answers: a confirmation only when it is unmistakable, status and export in three languages."""

from __future__ import annotations

import pytest

from leernet.organiser.intake.words import Command, command, confirms


@pytest.mark.parametrize(
    "body",
    [
        "START",
        "ja\n\nAn",
        "Yes!\n",
        "Oui.\n\nLe mar. 4 janv. 2027 à 09:12, Lerend netwerk a écrit :\n> Antwoord met START",
        "Start\n\nOp ma 4 jan 2027 om 09:12 schreef Lerend netwerk <netwerk@example.org>:\n> START",
    ],
)
def test_a_confirmation_alone_on_a_line(body: str) -> None:
    """START, ja, yes or oui alone on a line before the quote confirms."""
    assert confirms(body)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Ja maar sessie 3 klopt niet",
        "ja\nnee, toch niet",
        "Nee",
        "> START\n",
        "Bedankt!\n\nOp ma 4 jan 2027 om 09:12 schreef Lerend netwerk <netwerk@example.org>:\n> Antwoord met START",
        "Kan ik starten volgende week?",
    ],
)
def test_anything_else_is_no_confirmation(body: str) -> None:
    """A word inside a sentence, a quoted START, or a yes next to a no never confirms."""
    assert not confirms(body)


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("status", "", Command.STATUS),
        ("RE: Export", "", Command.EXPORT),
        ("Antw: Overzicht", "", Command.STATUS),
        ("", "État\n\nMarie", Command.STATUS),
        ("Vraag", "exporteer\n", Command.EXPORT),
        ("Vraag", "Kan je de status sturen?", None),
        ("Lerend netwerk", "", None),
    ],
)
def test_status_and_export_words(subject: str, body: str, expected: Command | None) -> None:
    """Status and export are read from the subject or the first line, in Dutch, English or French."""
    assert command(subject, body) == expected


class TestDigestRepliesAreNoCommands:
    def test_a_reply_to_a_digest_is_not_a_status_request(self) -> None:
        """“Re: Overzicht: sessie 1” (a digest's subject) with a roll call is no command."""
        from leernet.organiser.intake.words import command  # noqa: PLC0415

        assert command("Re: Overzicht: Kennismaking (14 januari)", "aanwezig: 1, 3") is None
        assert command("status hr-ovl-2027", "") is not None
        assert command("Re: Stand van zaken", "") is not None
