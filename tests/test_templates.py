"""Every text leernet sends: rendered in Dutch and English, escaped, overridable, checked."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from leernet.errors import TemplateError
from leernet.messages import manager_views, organiser_views, samples, textfmt, views
from leernet.messages.render import KINDS, Renderer
from leernet.network import defaults
from leernet.network.model import (
    Network,
    Participant,
    Person,
    Series,
    Session,
    SessionKind,
)

if TYPE_CHECKING:
    from pathlib import Path

BRUSSELS = ZoneInfo("Europe/Brussels")
HOSTILE = "<script>alert(1)</script>"


def _network(language: str = "nl", **changes: object) -> Network:
    first = datetime(2027, 1, 14, 8, 30, tzinfo=UTC)  # 9.30 in Brussels
    titles = ["Kennismaking en verwachtingen", "Werkbaar werk meten", "Terugblik en nazorg"]
    kinds = [SessionKind.KICKOFF, SessionKind.SESSION, SessionKind.CLOSING]
    sessions = tuple(
        Session(
            number=i + 1,
            kind=kinds[i],
            title=titles[i],
            start=first + timedelta(weeks=4 * i),
            minutes=150,
            slot=first + timedelta(weeks=4 * i),
            work_form="Intervisie" if i else "Speeddate",
            speaker="Dr. Lieve Martens" if i == 1 else "",
        )
        for i in range(3)
    )
    network = Network(
        slug="hr-ovl-2027",
        name="Lerend netwerk werkbaar werk",
        goal="Van elkaar leren hoe we werkbaar werk concreet maken.",
        language=language,
        timezone="Europe/Brussels",
        organiser=Person("An Peeters", "an.peeters@example.org"),
        sessions=sessions,
        participants=(
            Participant(
                "Bert Claes",
                "bert.claes@example.com",
                "Carla Dewit",
                "carla.dewit@example.com",
                date(2027, 6, 15),
            ),
            Participant("Sofie Maes", "sofie.maes@example.com", "Carla Dewit", "carla@example.com"),
            Participant("Jan Peeters", "jan.peeters@example.be"),
        ),
        questions=defaults.questions(language),
        series=Series(first=first, every_weeks=4, count=3, minutes=150),
        location="Wetstraat 34, Brussel",
        online_url="https://meet.example.org/abc",
    )
    return dataclasses.replace(network, **changes)  # type: ignore[arg-type]


def _hostile(language: str) -> Network:
    base = _network(language)
    evil = f'"Zoë" & O\'Brien {HOSTILE} 🎉 Ä'
    sessions = tuple(
        dataclasses.replace(s, title=f"{evil} {'lang ' * 60}\r\nBcc: x@example.org", speaker=evil)
        for s in base.sessions
    )
    people = tuple(dataclasses.replace(p, name=f"{p.name} {evil}") for p in base.participants)
    return dataclasses.replace(
        base,
        name=f"{evil}\r\nBcc: x@example.org\x00",
        goal=evil,
        organiser=Person(f"An {evil}", "an@example.org"),
        sessions=sessions,
        participants=people,
    )


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


class TestTextFormat:
    def test_long_date_dutch(self) -> None:
        """A date reads as a Flemish reader writes it: weekday, day, month, year."""
        assert textfmt.long_date(date(2027, 1, 14), "nl") == "donderdag 14 januari 2027"

    def test_long_date_english(self) -> None:
        """An English date names the weekday and the month in full."""
        assert textfmt.long_date(date(2027, 1, 14), "en") == "Thursday 14 January 2027"

    def test_time_range(self) -> None:
        """Dutch times use a dot and 'uur'; English a colon and an en dash."""
        start = datetime(2027, 1, 14, 9, 30, tzinfo=BRUSSELS)
        end = datetime(2027, 1, 14, 12, 0, tzinfo=BRUSSELS)
        assert textfmt.time_range(start, end, "nl") == "9.30 – 12.00 uur"
        assert textfmt.time_range(start, end, "en") == "9:30–12:00"

    def test_when_converts_to_the_network_zone(self) -> None:
        """A UTC session time is shown in the network's zone, summer time included."""
        start = datetime(2027, 9, 16, 12, 0, tzinfo=UTC)
        text = textfmt.when(start, start + timedelta(hours=2), BRUSSELS, "nl")
        assert text == "donderdag 16 september 2027, 14.00 – 16.00 uur"

    def test_decimal_and_names(self) -> None:
        """Averages use a decimal comma in Dutch; lists of names end with 'en' or 'and'."""
        assert textfmt.decimal(3.75, "nl") == "3,8"
        assert textfmt.decimal(3.75, "en") == "3.8"
        assert textfmt.join_names(["Bert", "Sofie", "Jan"], "nl") == "Bert, Sofie en Jan"
        assert textfmt.join_names(["Bert", "Sofie"], "en") == "Bert and Sofie"

    def test_shorten_drops_the_hint(self) -> None:
        """A question in a list loses its '(1 = ..., 5 = ...)' hint and stays short."""
        q = "Hoe waardevol was deze sessie voor jou? (1 = helemaal niet, 5 = heel erg)"
        assert textfmt.shorten(q) == "Hoe waardevol was deze sessie voor jou?"
        assert len(textfmt.shorten("woord " * 40)) <= 70


class TestEveryKind:
    @pytest.mark.parametrize("language", ["nl", "en"])
    @pytest.mark.parametrize("kind", KINDS)
    def test_renders(self, renderer: Renderer, kind: str, language: str) -> None:
        """Every kind renders a subject, a text part and a simple HTML page in both languages."""
        network = _network(language)
        context = samples.sample_contexts(network)[kind]
        out = renderer.render(kind, language, context)
        assert out.subject
        assert "\n" not in out.subject
        greeting = "Dag An," if language == "nl" else "Hi An,"
        if kind in ("digest", "low_acceptance", "notice", "rollcall_recorded"):
            assert greeting in out.text
        assert out.text.startswith(("Dag ", "Hi "))
        assert out.html.startswith("<!DOCTYPE html>")
        assert "max-width:600px" in out.html
        assert "<img" not in out.html
        assert "<style" not in out.html

    @pytest.mark.parametrize("language", ["nl", "en"])
    def test_check_all_passes_on_the_package(self, renderer: Renderer, language: str) -> None:
        """The package's own templates pass the check leernet check runs."""
        assert renderer.check_all(language, samples.sample_contexts(_network(language))) == []

    def test_greets_by_first_name(self, renderer: Renderer) -> None:
        """A participant is greeted warmly by first name, the Flemish way."""
        network = _network()
        out = renderer.render("invite", "nl", views.invite(network, network.participants[0]))
        assert out.text.startswith("Dag Bert,\n")
        assert "<p>Dag Bert,</p>" in out.html

    def test_invite_content(self, renderer: Renderer) -> None:
        """The invite states the goal, the self-check, every session and the safe-space promise."""
        network = _network()
        cancelled = dataclasses.replace(network.sessions[1], cancelled=True)
        network = dataclasses.replace(
            network, sessions=(network.sessions[0], cancelled, network.sessions[2])
        )
        out = renderer.render("invite", "nl", views.invite(network, network.participants[0]))
        for part in (out.text, out.html):
            assert network.goal in part
            assert "Netwerken is werken" in part
            assert "richting kan en durft geven aan het leernetwerk" in part
            assert "donderdag 14 januari 2027, 9.30 – 12.00 uur" in part
            assert "Dr. Lieve Martens" in part
            assert "GEANNULEERD" in part
            assert "blijft in de groep" in part
        assert "Online: https://meet.example.org/abc" in out.text
        assert '<a href="https://meet.example.org/abc"' in out.html

    def test_manager_start_lists_every_employee(self, renderer: Renderer) -> None:
        """A manager with two participants sees both names and the seed's tips."""
        network = _network()
        ctx = manager_views.manager_start(
            network, Person("Carla Dewit", "carla@example.com"), network.participants[:2]
        )
        out = renderer.render("manager_start", "nl", ctx)
        assert "Bert Claes en Sofie Maes nemen deel" in out.text
        assert "functionerings- of groeigesprek" in out.text
        assert "koffiepauze" in out.html


class TestEvaluationRequest:
    def test_questions_are_numbered_lines(self, renderer: Renderer) -> None:
        """The text part lists each question as an 'N. text' line, the form answers parse."""
        network = _network()
        closing = network.sessions[2]
        ctx = views.eval_request(network, network.participants[0], closing)
        out = renderer.render("eval_request", "nl", ctx)
        questions = views.session_questions(network, closing)
        assert len(questions) == 6  # the network's four plus the seed's aftercare and takeaway
        lines = out.text.splitlines()
        for q in questions:
            assert f"{q.number}. {q.text}" in lines
            assert f"{q.number}. {q.text}" in out.html
        assert 'bijvoorbeeld "1. 4"' in out.text
        assert 'Antwoord dan met "afwezig".' in out.text

    def test_privacy_line_names_the_shared_questions(self, renderer: Renderer) -> None:
        """The participant reads which answers a manager may see, and which answer decides it."""
        network = _network()
        ctx = views.eval_request(network, network.participants[0], network.sessions[2])
        out = renderer.render("eval_request", "nl", ctx)
        assert "vraag 2 en 6" in out.text
        assert 'als je "ja" antwoordt op vraag 4' in out.text

    def test_reminder_and_answer_again_repeat_the_questions(self, renderer: Renderer) -> None:
        """A reminder and a 'could not read' reply carry the same numbered questions."""
        network = _network("en")
        s = network.sessions[0]
        for kind in ("eval_reminder", "answer_again"):
            out = renderer.render(
                kind, "en", views.eval_request(network, network.participants[0], s)
            )
            assert "1. How valuable was this session for you?" in out.text
            assert '"absent"' in out.text


class TestConfirmation:
    def test_values_as_recorded(self, renderer: Renderer) -> None:
        """A confirmation shows ratings out of 5, yes/no in words and text as written."""
        network = _network()
        answers = views.RecordedAnswer.from_mapping(
            {"1": 4, "2": "Check-ins in mijn team", "4": True}
        )
        ctx = views.confirmation(network, network.participants[0], network.sessions[1], answers)
        out = renderer.render("confirmation", "nl", ctx)
        assert "Vraag 1 (Hoe waardevol was deze sessie voor jou?): 4 van 5" in out.text
        assert "Check-ins in mijn team" in out.text
        assert "Vraag 4 (Mag je leidinggevende je antwoord op vraag 2 lezen?): ja" in out.text
        assert "Nog niet beantwoord: vraag 3." in out.text
        assert "vervangt het vorige" in out.html

    def test_absent(self, renderer: Renderer) -> None:
        """Someone who answered 'afwezig' reads that they were recorded as absent."""
        network = _network()
        ctx = views.confirmation(
            network, network.participants[0], network.sessions[1], (), absent=True
        )
        out = renderer.render("confirmation", "nl", ctx)
        assert "Je was afwezig." in out.text
        assert "Vraag 1" not in out.text


class TestDigest:
    def _data(self) -> views.DigestData:
        return views.DigestData(
            session_number=2,
            partstat={"bert.claes@example.com": "ACCEPTED", "sofie.maes@example.com": "DECLINED"},
            presence={"sofie.maes@example.com": False},
            evaluations=(
                views.Evaluation(
                    "bert.claes@example.com", absent=False, answers={"1": 4, "2": "Zeker"}
                ),
                views.Evaluation(
                    "jan.peeters@example.be", absent=False, answers={"1": 5, "3": "Koffie"}
                ),
            ),
        )

    def test_anonymous_by_default(self, renderer: Renderer) -> None:
        """Free text reaches the organiser without names while the network is anonymous."""
        network = _network()
        out = renderer.render("digest", "nl", organiser_views.digest(network, self._data()))
        assert "- Zeker" in out.text
        assert "Bert Claes: Zeker" not in out.text
        assert "Bert Claes: Zeker" not in out.html
        assert "4,5" in out.text
        assert "- Aanvaard: 1 (Bert Claes)" in out.text
        assert "- Afgemeld: 1 (Sofie Maes)" in out.text
        assert "- Geen antwoord: 1 (Jan Peeters)" in out.text
        assert "- Afwezig: 1 (Sofie Maes)" in out.text
        assert "- Ontvangen: 2 van 3" in out.text

    def test_named_when_not_anonymous(self, renderer: Renderer) -> None:
        """With anonymous_digest off, each free-text answer carries its writer's name."""
        network = _network(anonymous_digest=False)
        out = renderer.render("digest", "nl", organiser_views.digest(network, self._data()))
        assert "- Bert Claes: Zeker" in out.text
        assert "Jan Peeters: Koffie" in out.html

    def test_no_ratings_yet(self, renderer: Renderer) -> None:
        """Before any evaluation the average reads 'nog geen' and everyone is still to answer."""
        network = _network()
        data = views.DigestData(session_number=1, partstat={}, presence={})
        out = renderer.render("digest", "nl", organiser_views.digest(network, data))
        assert "nog geen" in out.text
        assert "Nog geen evaluatie van: Bert Claes, Sofie Maes, Jan Peeters" in out.text

    def test_roll_call(self, renderer: Renderer) -> None:
        """The digest ends with the roll-call instruction and a numbered list of participants."""
        network = _network()
        out = renderer.render("digest", "nl", organiser_views.digest(network, self._data()))
        assert '"aanwezig: 1, 3, 4" of "afwezig: 2"' in out.text
        lines = out.text.splitlines()
        assert "1. Bert Claes (aanwezig)" in lines
        assert "2. Sofie Maes (afwezig)" in lines
        assert "3. Jan Peeters (aanwezig)" in lines
        assert [p.name for p in views.roll_call(network)] == [
            "Bert Claes",
            "Sofie Maes",
            "Jan Peeters",
        ]


class TestManagerSummary:
    def _render(self, renderer: Renderer, shared: list[views.SharedAnswer]) -> str:
        network = _network()
        ctx = manager_views.manager_summary(
            network, network.participants[0], {1, 2}, shared, now=network.last_end
        )
        return renderer.render("manager_summary", "nl", ctx).text

    def test_shows_only_shared_answers(self, renderer: Renderer) -> None:
        """The manager reads exactly the answers passed in as shared, nothing more."""
        shared = [views.SharedAnswer(2, "Wat neem je mee naar je eigen praktijk?", "Check-ins")]
        text = self._render(renderer, shared)
        section = text.split("Wat Bert Claes met je wil delen:")[1].split("Enkele vragen")[0]
        assert [line for line in section.splitlines() if line.strip()] == [
            '- Werkbaar werk meten, "Wat neem je mee naar je eigen praktijk?":',
            "  Check-ins",
        ]
        assert "Aanwezig op 2 van de 3 sessies" in text

    def test_nothing_shared(self, renderer: Renderer) -> None:
        """Without shared answers the manager reads that the participant chose not to share."""
        text = self._render(renderer, [])
        assert "koos ervoor om geen antwoorden te delen" in text
        assert "Welke steun heb je nog nodig?" in text


class TestHostileValues:
    @pytest.mark.parametrize("language", ["nl", "en"])
    @pytest.mark.parametrize("kind", KINDS)
    def test_escaped_in_html_literal_in_text(
        self, renderer: Renderer, kind: str, language: str
    ) -> None:
        """Names and titles with markup, quotes and emoji are escaped in HTML and kept in text."""
        network = _hostile(language)
        out = renderer.render(kind, language, samples.sample_contexts(network)[kind])
        assert HOSTILE in out.text
        assert "🎉 Ä" in out.text
        assert "<script" not in out.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
        assert re.search(r"\r|\n|\x00", out.subject) is None
        assert "\x00" not in out.text + out.html
        assert len(out.subject.splitlines()) == 1


class TestOverrides:
    def test_single_file_override_wins(self, tmp_path: Path) -> None:
        """An organisation's subject file wins; the other files still come from the package."""
        (tmp_path / "nl").mkdir()
        (tmp_path / "nl" / "invite.subject.txt").write_text("Welkom bij {{ network.name }}!\n")
        network = _network()
        out = Renderer(tmp_path).render(
            "invite", "nl", views.invite(network, network.participants[0])
        )
        assert out.subject == "Welkom bij Lerend netwerk werkbaar werk!"
        assert "Netwerken is werken" in out.text

    def test_undefined_variable_in_override(self, tmp_path: Path) -> None:
        """An override using a name that does not exist fails with the file's name."""
        (tmp_path / "nl").mkdir()
        (tmp_path / "nl" / "reminder.txt").write_text("Dag {{ deelnemer.voornaam }}\n")
        renderer = Renderer(tmp_path)
        errors = renderer.check_all("nl", samples.sample_contexts(_network()))
        assert [e.template for e in errors] == ["nl/reminder.txt"]
        assert "nl/reminder.txt" in str(errors[0])

    def test_syntax_error_in_override(self, tmp_path: Path) -> None:
        """An override with broken Jinja syntax fails with the file's name and line."""
        (tmp_path / "nl").mkdir()
        (tmp_path / "nl" / "digest.html").write_text("<p>\n{% if %}</p>\n")
        network = _network()
        data = views.DigestData(session_number=1, partstat={}, presence={})
        with pytest.raises(TemplateError) as info:
            Renderer(tmp_path).render("digest", "nl", organiser_views.digest(network, data))
        assert info.value.template == "nl/digest.html"
        assert "line 2" in str(info.value)

    def test_missing_context_key(self, renderer: Renderer) -> None:
        """A context without a value the template uses is an error, never a silent blank."""
        network = _network()
        ctx = views.reminder(network, network.participants[0], network.sessions[0])
        del ctx["session"]
        with pytest.raises(TemplateError) as info:
            renderer.render("reminder", "nl", ctx)
        assert info.value.template == "nl/reminder.subject.txt"

    def test_missing_template(self, renderer: Renderer) -> None:
        """An unknown kind or language is a TemplateError naming what was looked for."""
        with pytest.raises(TemplateError, match=r"nl/bestaat_niet\.subject\.txt"):
            renderer.render("bestaat_niet", "nl", {})
        with pytest.raises(TemplateError):
            renderer.render("../invite", "nl", {})
        with pytest.raises(TemplateError):
            renderer.render("invite", "fr", {})

    def test_compiled_once(self, tmp_path: Path) -> None:
        """A running service keeps the templates it compiled; a changed file needs a restart."""
        (tmp_path / "en").mkdir()
        subject = tmp_path / "en" / "notice.subject.txt"
        subject.write_text("First {{ title }}")
        renderer = Renderer(tmp_path)
        ctx = organiser_views.notice(
            None, title="t", what_happened="a", why="b", what_to_do="c", language="en"
        )
        assert renderer.render("notice", "en", ctx).subject == "First t"
        subject.write_text("Second {{ title }}")
        assert renderer.render("notice", "en", ctx).subject == "First t"
