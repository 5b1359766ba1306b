"""Evaluation answers read from replies: each answer form, quotes, the corpus, and robustness."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leernet.network.model import Question, QuestionKind
from leernet.replies import mailtext
from leernet.replies.answers import ParsedAnswers, _Reader, new_text, parse_answers
from leernet.replies.html_text import html_to_text
from leernet.replies.mailtext import reply_text
from tests.linear import assert_linear

REPLIES = Path(__file__).parent / "data" / "replies"
KINDS = (
    QuestionKind.RATING,
    QuestionKind.TEXT,
    QuestionKind.TEXT,
    QuestionKind.CONSENT,
    QuestionKind.TEXT,
)
TEXTS = {
    "nl": (
        "Hoe waardevol was deze sessie voor jou? (1 = helemaal niet, 5 = heel erg)",
        "Wat neem je mee naar je eigen praktijk?",
        "Wat kan er beter in een volgende sessie?",
        "Mag je leidinggevende je antwoord op vraag 2 lezen? (ja/nee)",
        "Wat zijn jouw leerdoelen voor dit netwerk?",
    ),
    "en": (
        "How valuable was this session for you? (1 = not at all, 5 = very)",
        "What will you take back to your own work?",
        "What could be better next time?",
        "May your manager read your answer to question 2? (yes/no)",
        "What are your learning goals for this network?",
    ),
}


def questions(language: str = "nl", *, kickoff: bool = False) -> list[Question]:
    texts = TEXTS[language][: 5 if kickoff else 4]
    return [
        Question(i, text, KINDS[i - 1], share_with_manager=i == 2)
        for i, text in enumerate(texts, 1)
    ]


Q = questions()
QK = questions(kickoff=True)
QUOTED_REQUEST = """Op do 14 jan. 2027 om 13:00 schreef Lerend netwerk <
netwerk+abc@example.org>:

> Dag Bert,
>
> Bedankt voor je deelname aan "Kennismaking en verwachtingen" op donderdag
> 14 januari 2027.
> Antwoord gewoon op deze mail: zet het nummer van de vraag voor je antwoord,
> bijvoorbeeld "1. 4".
> Was je er niet bij? Antwoord dan met "afwezig".
>
> 1. Hoe waardevol was deze sessie voor jou? (1 = helemaal niet, 5 = heel
> erg)
> 2. Wat neem je mee naar je eigen praktijk?
> 3. Wat kan er beter in een volgende sessie?
> 4. Mag je leidinggevende je antwoord op vraag 2 lezen? (ja/nee)
>
> Met vriendelijke groet,
> Lerend netwerk werkbaar werk
"""


def answers(body: str, qs: list[Question] = Q, language: str = "nl") -> dict[str, object]:
    return dict(parse_answers(body, qs, language).answers)


class TestNumberedForms:
    @pytest.mark.parametrize(
        "line",
        [
            "1. 4",
            "1) 4",
            "1: 4",
            "1:4",
            "1 - 4",
            "Vraag 1: 4",
            "vraag 1 - 4",
            "Q1 - 4",
            "Q1: 4",
            "Q1:4",
        ],
    )
    def test_rating_forms(self, line: str) -> None:
        """Every usual way to number an answer gives the rating to question 1."""
        assert answers(line) == {"1": 4}

    def test_question_word_in_english(self) -> None:
        """“Question 1: 4” is read in an English reply."""
        assert answers("Question 1: 4", questions("en"), "en") == {"1": 4}

    def test_multiline_text_continues_until_next_number(self) -> None:
        """A free-text answer keeps its lines until the next numbered answer."""
        body = "2. De checklist\nvoor het onthaal\n\nen de feedbackregels\n3. Meer pauze"
        assert answers(body) == {
            "2": "De checklist\nvoor het onthaal\n\nen de feedbackregels",
            "3": "Meer pauze",
        }

    def test_any_order_and_partial(self) -> None:
        """Answers may come in any order and leave questions out."""
        assert answers("4. nee\n1. 2") == {"1": 2, "4": False}

    def test_several_short_answers_on_one_line(self) -> None:
        """A phone reply "1. 4 4. ja" answers two questions on one line."""
        assert answers("1. 4 4. ja") == {"1": 4, "4": True}

    def test_top_posted_above_quote_ignores_quoted_questions(self) -> None:
        """The quoted request's own numbered questions are not taken for answers."""
        body = "1. 5\n4. ja\n\n" + QUOTED_REQUEST
        assert answers(body) == {"1": 5, "4": True}

    def test_quote_alone_gives_no_answers(self) -> None:
        """A reply that only quotes the request answers nothing."""
        parsed = parse_answers("\n" + QUOTED_REQUEST, Q)
        assert parsed.empty

    def test_notes_in_english(self) -> None:
        """For an English network the organiser's notes are in English."""
        parsed = parse_answers("1. 9", questions("en"), "en")
        assert parsed.notes == ("question 1: '9' is not a rating from 1 to 5",)

    def test_unknown_question_number_is_noted(self) -> None:
        """An answer to a question that does not exist is not recorded but noted."""
        parsed = parse_answers("1. 4\n9. iets", Q)
        assert dict(parsed.answers) == {"1": 4}
        assert any("9" in note for note in parsed.notes)

    def test_numbered_list_inside_text_answer(self) -> None:
        """A repeated number inside a free-text answer stays part of that answer."""
        body = "1. 4\n2. Twee dingen:\n1. de checklist\n2. het model\n3. niets"
        assert answers(body)["2"] == "Twee dingen:\n1. de checklist\n2. het model"

    def test_bold_numbers_from_rich_text(self) -> None:
        """Markdown-like bold around the number ("**1.** 4") is read like "1. 4"."""
        assert answers("**1.** 4") == {"1": 4}


class TestOneLine:
    """Phones invite answers on one line; they are split only at the questions' own numbers."""

    @pytest.mark.parametrize(
        ("line", "language"),
        [
            ("1. 4 / 2. Veel geleerd over X / 3. Meer tijd / 4. ja", "nl"),
            ("1: 4; 2: Veel geleerd over X; 3: Meer tijd; 4: ja", "nl"),
            ("1 4 2 Veel geleerd over X 3 Meer tijd 4 ja", "nl"),
            ("1) 4 2) Veel geleerd over X 3) Meer tijd 4) ja", "nl"),
            ("Vraag 1: 4 / vraag 2: Veel geleerd over X / vraag 3: Meer tijd / vraag 4: ja", "nl"),
            ("1. 4 / 2. Veel geleerd over X / 3. Meer tijd / 4. yes", "en"),
            ("1: 4; 2: Veel geleerd over X; 3: Meer tijd; 4: yes", "en"),
            ("1 4 2 Veel geleerd over X 3 Meer tijd 4 yes", "en"),
        ],
    )
    def test_numbered_answers_on_one_line(self, line: str, language: str) -> None:
        """Answers separated by slashes, semicolons or only their numbers are read as 1..4."""
        assert answers(line, questions(language), language) == {
            "1": 4,
            "2": "Veel geleerd over X",
            "3": "Meer tijd",
            "4": True,
        }

    @pytest.mark.parametrize(
        ("line", "count"),
        [
            ("1 4 2 Veel 3 Niets 4 ja 5 Rust", 5),
            ("1 4 2 Veel 3 Niets 4 ja", 4),
            ("1. 4 2. Veel 3. Niets", 3),
        ],
    )
    def test_bare_numbers_in_a_kickoff(self, line: str, count: int) -> None:
        """With five questions, three or more answered in a row from the first are read."""
        expected = {"1": 4, "2": "Veel", "3": "Niets", "4": True, "5": "Rust"}
        assert answers(line, QK) == dict(list(expected.items())[:count])

    def test_a_rating_that_is_also_a_number(self) -> None:
        """In "1 2 2 goed 3 x 4 nee" the first 2 is the rating, the second the question."""
        assert answers("1 2 2 goed 3 niets 4 nee") == {
            "1": 2,
            "2": "goed",
            "3": "niets",
            "4": False,
        }

    @pytest.mark.parametrize(
        "line",
        [
            "2. Ik heb 3 dingen geleerd en 4 vragen gesteld",
            "2. We deden 3. oefeningen",
            "1 keer per maand 2 sessies is genoeg",
            "2. Stap 1: inloggen, stap 2: klikken",
            "3. Meer tijd voor 2 cases / 1 extra pauze",
        ],
    )
    def test_prose_with_numbers_is_not_split(self, line: str) -> None:
        """A sentence with numbers in it stays one answer (or none), never split at random."""
        read = answers(line)
        number = line[0]
        if number == "1":
            assert read == {}  # not an answer form at all: nothing guessed
        else:
            assert read == {number: line[3:]}

    def test_a_continued_text_answer_is_not_split(self) -> None:
        """A numbered list inside a text answer stays part of that answer."""
        body = "1. 4\n2. Twee dingen:\n1. de checklist 2. de feedback\n3. niets"
        assert answers(body)["2"] == "Twee dingen:\n1. de checklist 2. de feedback"


class TestRestatedQuestions:
    def test_question_and_answer_on_one_line(self) -> None:
        """A restated question followed by the answer on the same line gives the answer."""
        body = "1. Hoe waardevol was deze sessie voor jou? (1 = helemaal niet, 5 = heel erg) 4"
        assert answers(body) == {"1": 4}

    def test_question_without_scale_then_answer(self) -> None:
        """A restated question without its scale still separates from the answer."""
        assert answers("1. Hoe waardevol was deze sessie voor jou? 5") == {"1": 5}

    def test_question_line_then_answer_below(self) -> None:
        """A restated question with the answer on the next line gives that answer."""
        body = (
            "2. Wat neem je mee naar je eigen praktijk?\nDe checklist\n"
            "4. Mag je leidinggevende je antwoord op vraag 2 lezen? (ja/nee) ja"
        )
        assert answers(body) == {"2": "De checklist", "4": True}


class TestInline:
    def test_answers_under_quoted_questions(self) -> None:
        """Answers typed below each quoted question are read, wrapped quotes included."""
        body = QUOTED_REQUEST.replace("> erg)\n", "> erg)\n4\n\n").replace(
            "> 2. Wat neem je mee naar je eigen praktijk?\n",
            "> 2. Wat neem je mee naar je eigen praktijk?\nDe checklist\nen het model\n",
        )
        body = body.replace("(ja/nee)\n", "(ja/nee)\n>\nnee\n")
        assert answers("Zie hieronder.\n\n" + body) == {
            "1": 4,
            "2": "De checklist\nen het model",
            "4": False,
        }

    def test_outlook_unquoted_original(self) -> None:
        """Answers typed into Outlook's unmarked original, below its Van: block, are read."""
        body = (
            "Zie hieronder\n\nVan: Lerend netwerk <netwerk@example.org>\n"
            "Verzonden: donderdag 14 januari 2027 13:00\nAan: Bert Claes <bert.claes@example.com>\n"
            "Onderwerp: Evaluatie\n\nDag Bert,\n\n"
            "1. Hoe waardevol was deze sessie voor jou? (1 = helemaal niet, 5 = heel erg)\n3\n"
            "2. Wat neem je mee naar je eigen praktijk?\n"
            "3. Wat kan er beter in een volgende sessie?\nMeer oefenen\n"
            "4. Mag je leidinggevende je antwoord op vraag 2 lezen? (ja/nee)\n\n"
            "Met vriendelijke groet,\nLerend netwerk\n"
        )
        assert answers(body) == {"1": 3, "3": "Meer oefenen"}

    def test_english_outlook_header(self) -> None:
        """Outlook's English From:/Sent: block also starts the original."""
        body = (
            "\nFrom: Learning network <netwerk@example.org>\n"
            "Sent: Thursday, February 11, 2027 1:00 PM\n"
            "To: Tom\nSubject: Evaluation\n\n"
            "1. How valuable was this session for you? (1 = not at all, 5 = very)\nfive\n"
            "2. What will you take back to your own work?\n"
        )
        assert answers(body, questions("en"), "en") == {"1": 5}

    def test_html_original_closing_text_is_not_an_answer(self) -> None:
        """In an HTML-only Outlook reply, the request's closing paragraph is not the last answer."""
        html = (
            '<div>Zie hieronder</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">'
            "<b>Van:</b> Lerend netwerk<br><b>Verzonden:</b> donderdag 14 januari 2027<br>"
            "<b>Aan:</b> Bert<br><b>Onderwerp:</b> Evaluatie</div><div><p>Dag Bert,</p><div>"
            "<p>1. Hoe waardevol was deze sessie voor jou? (1 = helemaal niet, 5 = heel erg)</p>"
            "<div>4</div><p>2. Wat neem je mee naar je eigen praktijk?</p>"
            "<p>3. Wat kan er beter in een volgende sessie?</p>"
            "<p>4. Mag je leidinggevende je antwoord op vraag 2 lezen? (ja/nee)</p>"
            "<p>5. Wat zijn jouw leerdoelen voor dit netwerk?</p></div>"
            "<p>Je antwoorden zijn voor An Peeters.</p><p>Hartelijke groet,<br>An</p></div>"
        )
        assert answers(html_to_text(html), QK) == {"1": 4}

    def test_top_answer_wins_over_inline(self) -> None:
        """When both are given, the numbered answer above the quote is kept and noted."""
        body = "1. 5\n\n" + QUOTED_REQUEST.replace("> erg)\n", "> erg)\n2\n")
        parsed = parse_answers(body, Q)
        assert dict(parsed.answers) == {"1": 5}
        assert parsed.notes


class TestRatings:
    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("4", 4),
            ("4/5", 4),
            ("4 / 5", 4),
            ("4 van 5", 4),
            ("4 op 5", 4),
            ("4 out of 5", 4),
            ("vier", 4),
            ("één", 1),
            ("een", 1),
            ("twee", 2),
            ("drie", 3),
            ("vijf", 5),
            ("Three", 3),
            ("★★★★☆", 4),
            ("⭐⭐⭐", 3),
            ("****", 4),
            ("4!", 4),
            ("5, echt top", 5),
        ],
    )
    def test_rating_spellings(self, text: str, value: int) -> None:
        """Digits, scales, number words and stars all become a rating from 1 to 5."""
        assert answers(f"1. {text}") == {"1": value}

    @pytest.mark.parametrize(
        "text", ["7", "0", "8/10", "3 of 4", "3,5", "goed", "******", "een goede sessie"]
    )
    def test_unreadable_rating_is_noted(self, text: str) -> None:
        """A rating out of range or unclear is not recorded; the organiser gets a note."""
        parsed = parse_answers(f"1. {text}", Q)
        assert "1" not in parsed.answers
        assert any("1" in note for note in parsed.notes)


class TestYesNo:
    @pytest.mark.parametrize(
        "text",
        ["ja", "Ja, hoor", "yes", "ok", "oké", "akkoord", "goed", "prima", "zeker", "JA!"],
    )
    def test_yes(self, text: str) -> None:
        """Dutch and English ways of saying yes give consent."""
        assert answers(f"4. {text}") == {"4": True}

    @pytest.mark.parametrize("text", ["nee", "neen", "no", "liever niet", "niet", "n", "Nee hoor"])
    def test_no(self, text: str) -> None:
        """Dutch and English ways of saying no refuse consent."""
        assert answers(f"4. {text}") == {"4": False}

    def test_unclear_consent_is_a_noted_no(self) -> None:
        """“misschien” to the consent question is not a yes: recorded as no, with a note."""
        parsed = parse_answers("4. misschien", Q)
        assert parsed.answers == {"4": False}
        assert parsed.notes


class TestAbsent:
    @pytest.mark.parametrize(
        "body",
        [
            "afwezig",
            "Afwezig.",
            "absent",
            "Ik was er niet bij",
            "Hallo,\n\nIk was er helaas niet bij, sorry.",
            "Ik was afwezig wegens ziekte.",
            "Niet aanwezig",
            "I was not there.",
            "I wasn't there, sorry!",
            "Sorry, I could not attend.",
        ],
    )
    def test_absent_phrases(self, body: str) -> None:
        """A reply whose new text says the participant was not there marks them absent."""
        parsed = parse_answers(body + "\n\n" + QUOTED_REQUEST, Q)
        assert parsed.absent
        assert not parsed.empty

    def test_absent_inside_an_answer_is_not_absence(self) -> None:
        """“afwezig” inside a numbered free-text answer is just text."""
        parsed = parse_answers("1. 4\n2. Collega was afwezig maar ik leerde veel", Q)
        assert not parsed.absent
        assert parsed.answers["2"] == "Collega was afwezig maar ik leerde veel"

    @pytest.mark.parametrize(
        "body",
        [
            "Goede sessie! Mijn collega was afwezig.",
            "Mijn collega was niet aanwezig, jammer.",
            "Great session, my manager was absent though.",
        ],
    )
    def test_someone_elses_absence_is_not_absence(self, body: str) -> None:
        """Someone else's absence, or absence after the first sentence, is not the participant's."""
        assert not parse_answers(body, Q).absent

    def test_absent_only_line_counts(self) -> None:
        """An explicit line that is only "afwezig" counts, even after a greeting."""
        assert parse_answers("Dag An,\nSorry\nafwezig\nBert", Q).absent


class TestNewText:
    def test_gmail_wrapped_attribution(self) -> None:
        """Gmail's "Op ... schreef" line wrapped over two lines cuts the quote."""
        assert new_text("1. 4\n\n" + QUOTED_REQUEST) == "1. 4"

    def test_english_gmail_attribution(self) -> None:
        """“On ... wrote:” cuts the quote."""
        body = (
            "Q1: 5\n\nOn Thu, Jan 14, 2027 at 11:30 AM Lerend netwerk <n@example.org> wrote:\n> hi"
        )
        assert new_text(body, "en") == "Q1: 5"

    def test_apple_attribution(self) -> None:
        """Apple Mail's "het volgende geschreven:" line cuts the quote."""
        body = (
            "1. 4\n\nOp 14 jan. 2027, om 11:30 heeft Lerend netwerk <n@example.org> "
            "het volgende geschreven:\n\nDag"
        )
        assert new_text(body) == "1. 4"

    @pytest.mark.parametrize(
        "block",
        [
            "Van: Lerend netwerk <n@example.org>\nVerzonden: donderdag 14 januari 2027 13:00",
            "From: Lerend netwerk\nSent: Thursday",
            "De : Lerend netwerk\nEnvoyé : jeudi 14 janvier 2027 13:00",
            "-----Original Message-----\nFrom: x",
            "-----Oorspronkelijk bericht-----\nVan: x",
            "________________________________\nVan: x",
            "*Van:* Lerend netwerk\n*Datum:* 14 januari",
        ],
    )
    def test_outlook_blocks(self, block: str) -> None:
        """Outlook's header blocks and separators, in Dutch, English and French, cut the quote."""
        assert new_text(f"1. 4\n\n{block}\nAan: x\n\nDag Bert") == "1. 4"

    @pytest.mark.parametrize(
        "line",
        [
            "Verzonden vanaf mijn iPhone",
            "Sent from my iPhone",
            "Verstuurd vanaf mijn Samsung Galaxy-smartphone.",
            "Verzonden vanaf mijn Android",
            "Outlook voor iOS downloaden",
        ],
    )
    def test_sent_from_lines(self, line: str) -> None:
        """Mobile "sent from" lines end the new text."""
        assert new_text(f"1. 4\n\n{line}\n\n> Dag") == "1. 4"

    def test_signature_separator(self) -> None:
        """The "-- " signature separator ends the new text."""
        assert new_text("1. 4\n\n-- \nBert Claes\nHR") == "1. 4"

    def test_greeting_and_name_stripped(self) -> None:
        """A closing greeting with the name and job title below it is not part of the answer."""
        body = "3. Meer pauze\n\nMet vriendelijke groeten,\n\nJan Peeters\nPreventieadviseur"
        assert new_text(body) == "3. Meer pauze"

    def test_greeting_sentence_kept(self) -> None:
        """“Bedankt voor de fijne sessie” is a sentence of the answer, not a sign-off."""
        assert (
            new_text("3. Niets\nBedankt voor de fijne sessie")
            == "3. Niets\nBedankt voor de fijne sessie"
        )

    def test_lone_name_stripped_but_yes_kept(self) -> None:
        """A name signed under the text goes; a lone "Ja" stays."""
        assert new_text("1. 4\n\nBert") == "1. 4"
        assert new_text("4.\n\nJa") == "4.\n\nJa"

    def test_disclaimer_cut(self) -> None:
        """A company disclaimer after the answers is removed."""
        body = "1. 4\n\nDit e-mailbericht is vertrouwelijk en uitsluitend bestemd voor u."
        assert new_text(body) == "1. 4"

    def test_external_banner_dropped(self) -> None:
        """An "external mail" banner above the text is dropped, the answers kept."""
        body = "CAUTION: This email originated from outside of the organization.\n\n1. 4"
        assert new_text(body) == "1. 4"

    def test_quoted_lines_dropped(self) -> None:
        """Lines quoted with > never belong to the new text."""
        assert new_text("> 1. oud\n1. 4\n> > nog ouder") == "1. 4"


class TestCorpus:
    """tests/data/replies/<client>_eval_<case>.eml with <same>.expected.json beside it.

    The JSON holds ``absent`` and ``answers`` (what must be recorded), ``language`` and
    ``kickoff`` (which questions were asked: the kick-off adds question 5) and, optionally,
    ``has_notes`` (the organiser must be told something was not read).
    """

    CASES = sorted(REPLIES.glob("*_eval_*.eml"))

    def test_corpus_is_complete(self) -> None:
        """The corpus covers every client with at least 14 replies, each with its expectation."""
        assert len(self.CASES) >= 14
        clients = {p.name.split("_", 1)[0] for p in self.CASES}
        assert clients == {"outlook", "gmail", "apple", "thunderbird", "android"}
        assert all(p.with_suffix(".expected.json").exists() for p in self.CASES)

    @pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
    @pytest.mark.parametrize("pol", [policy.compat32, policy.default], ids=["compat32", "default"])
    def test_reply(self, path: Path, pol: policy.Policy) -> None:
        """Each real client reply gives exactly the answers written down beside it."""
        expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
        qs = questions(expected["language"], kickoff=expected["kickoff"])
        msg = email.message_from_bytes(path.read_bytes(), policy=pol)
        parsed = parse_answers(reply_text(msg), qs, expected["language"])
        assert parsed.absent == expected["absent"]
        assert dict(parsed.answers) == expected["answers"]
        assert bool(parsed.notes) == expected.get("has_notes", False), parsed.notes


class TestRobustness:
    @settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(
        body=st.text(),
        texts=st.lists(st.text(max_size=80), max_size=6),
        kinds=st.lists(st.sampled_from(list(QuestionKind)), min_size=6, max_size=6),
        language=st.sampled_from(["nl", "en", "fr", ""]),
    )
    def test_never_raises(
        self, body: str, texts: list[str], kinds: list[QuestionKind], language: str
    ) -> None:
        """Any text with any questions gives a result, never an exception."""
        qs = [Question(i, t, kinds[i - 1]) for i, t in enumerate(texts, 1)]
        # The reader itself, not parse_answers: its safety net would hide a bug from this test.
        parsed = _Reader(qs, language).read(body)
        assert isinstance(parsed, ParsedAnswers)
        assert set(parsed.answers) <= {str(q.number) for q in qs}
        assert isinstance(mailtext.new_text(body, language), str)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        lines=st.lists(
            st.one_of(
                st.sampled_from(
                    ["1. 4", "> 1. Hoe waardevol", "Van: x", "Aan: y", "-- ", "afwezig", "", ">"]
                ),
                st.from_regex(r"(vraag |Q)?[0-9]{1,2}[.):-] ?[a-z0-9★ ]{0,20}", fullmatch=True),
                st.text(alphabet="> .:-1234abcjn\n★", max_size=30),
            ),
            max_size=30,
        )
    )
    def test_mail_like_text_never_raises(self, lines: list[str]) -> None:
        """Mail-shaped fragments in any order give ratings in range and booleans for consent."""
        parsed = _Reader(QK, "nl").read("\n".join(lines))
        assert parsed.answers.get("1", 3) in {1, 2, 3, 4, 5}
        assert isinstance(parsed.answers.get("4", True), bool)

    def test_typical_reply_costs_like_its_length(self) -> None:
        """Reading a reply with its quote costs in proportion to its length (8x the reply, ~8x)."""
        body = "1. 4\n2. De checklist\n3. Meer pauze\n4. ja\n\n" + QUOTED_REQUEST
        assert_linear(lambda n: parse_answers(body * n, Q), 2)

    @pytest.mark.parametrize(
        "unit",
        ["a", "Op a ", "> 1. ", "1. 4\n", "1.1", "groeten" + "." * 50 + "\n", "1 4 2 x 3 "],
        ids=["one-line", "attribution-like", "quotes", "numbers", "dots", "signoff", "bare"],
    )
    def test_huge_body_is_read_linearly(self, unit: str) -> None:
        """A body of up to 200 kB is read in time linear in its size (no runaway expression)."""
        size = 200_000 // 8 // len(unit)

        def read(n: int) -> None:
            parse_answers(unit * n, QK)
            new_text(unit * n)

        assert_linear(read, size)
        assert isinstance(parse_answers(unit * (300_000 // len(unit)), QK), ParsedAnswers)


@pytest.fixture(scope="module")
def request_mail() -> tuple[str, str, list[Question]]:
    from leernet.messages import views  # noqa: PLC0415 - only this class needs the renderer
    from leernet.messages.render import Renderer  # noqa: PLC0415
    from leernet.network.load import load_network  # noqa: PLC0415

    net = load_network(Path(__file__).parents[1] / "config" / "network.example.toml").network
    session = net.sessions[0]
    qs = list(views.session_questions(net, session))
    rendered = Renderer().render(
        "eval_request", net.language, views.eval_request(net, net.participants[0], session, qs)
    )
    return rendered.text, rendered.html, qs


class TestRealRequest:
    """Replies built on the request leernet really sends (the example network's templates)."""

    @staticmethod
    def under_questions(lines: list[str], qs: list[Question], given: dict[int, str]) -> list[str]:
        out: list[str] = []
        for line in lines:
            out.append(line)
            out.extend(
                given[q.number]
                for q in qs
                if line.lstrip("> ").startswith(f"{q.number}. ") and q.number in given
            )
        return out

    def test_gmail_inline_plain(self, request_mail: tuple[str, str, list[Question]]) -> None:
        """Answers under the > quoted questions of the real request are read."""
        text, _, qs = request_mail
        quoted = [f"> {line}" if line else ">" for line in text.split("\n")]
        body = "Op do 14 jan. 2027 om 13:00 schreef An Peeters <n@example.org>:\n\n"
        body += "\n".join(self.under_questions(quoted, qs, {1: "4", 4: "ja", 5: "Feedback"}))
        assert answers(body, qs) == {"1": 4, "4": True, "5": "Feedback"}

    def test_outlook_inline_plain(self, request_mail: tuple[str, str, list[Question]]) -> None:
        """Answers typed into Outlook's unmarked copy of the real request are read, nothing more."""
        text, _, qs = request_mail
        header = "Van: An Peeters <n@example.org>\nVerzonden: donderdag\nAan: Bert\nOnderwerp: x\n"
        lines = self.under_questions(text.split("\n"), qs, {2: "De checklist", 3: "Niets"})
        assert answers("\n" + header + "\n".join(lines), qs) == {"2": "De checklist", "3": "Niets"}

    def test_top_posted_over_real_html(self, request_mail: tuple[str, str, list[Question]]) -> None:
        """Numbered answers above the real HTML request, quoted by Gmail, are all that is read."""
        _, html, qs = request_mail
        reply = (
            "<div>1. 5</div><div>5. Leren coachen</div><div class=gmail_quote>"
            "<div class=gmail_attr>Op do 14 jan. 2027 schreef An:</div>"
            f"<blockquote>{html}</blockquote></div>"
        )
        assert answers(html_to_text(reply), qs) == {"1": 5, "5": "Leren coachen"}

    def test_owa_inline_html(self, request_mail: tuple[str, str, list[Question]]) -> None:
        """Answers typed under the real HTML request's questions in Outlook on the web count."""
        _, html, qs = request_mail
        body = html.split("<body", 1)[1].split(">", 1)[1].split("</body>")[0]
        body = body.replace("(ja/nee)</p>", "(ja/nee)</p><div>nee</div>")
        reply = (
            '<div>Zie hieronder</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">'
            "<b>From:</b> An<br><b>Sent:</b> Thursday<br><b>To:</b> Bert<br><b>Subject:</b> x</div>"
            f"<div>{body}</div>"
        )
        assert answers(html_to_text(reply), qs) == {"4": False}
