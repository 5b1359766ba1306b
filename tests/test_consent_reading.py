"""Reading consent: only an unambiguous yes shares anything with a manager."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leernet.network.defaults import questions, session_questions
from leernet.network.model import Question, QuestionKind, SessionKind
from leernet.replies.answers import parse_answers
from leernet.replies.consent import Said, consents, has_negation, read_yes_no

QUESTIONS = session_questions(questions("nl"), SessionKind.SESSION, "nl")
CONSENT = next(q.number for q in QUESTIONS if q.kind is QuestionKind.CONSENT)

# Every one of these was stored as a yes when only the first word was read.
MEANS_NO = [
    "Zeker niet",
    "Natuurlijk niet!",
    "Uiteraard niet",
    "Ok, liever niet",
    "Goed, maar liever niet",
    "Of course not",
    "Certainly not",
    "Sure, but no",
    "Fine, rather not",
    "ja, maar liever niet",
    "Ja nee",
    "Ja... nee toch niet",
    "yes no",
    "Yes, but don't share question 3",
    "ok, maar enkel vraag 2",
    "Ja, als ik het eerst mag lezen",
    "misschien",
    "Geen probleem",
    "No problem",
    "liever zelf vertellen",
    "jaaa nee",
    "I'd rather not",
    "never",
    "Oui, mais pas maintenant",
]
MEANS_YES = [
    "ja",
    "Ja.",
    "JA!",
    "Ja, hoor",
    "ja graag",
    "Ja, graag!",
    "ja hoor 👍",
    "akkoord",
    "Oké",
    "ok",
    "Yes",
    "yes please",
    "Yes, please.",
    "Zeker",
    "dat mag",
]
NEGATIONS = [
    "nee",
    "neen",
    "niet",
    "geen",
    "liever niet",
    "nooit",
    "no",
    "not",
    "never",
    "rather not",
    "don't",
    "won't",
    "NIET",
    "Nee",
]


class TestConsentAnswers:
    @pytest.mark.parametrize("text", MEANS_NO)
    def test_ambiguous_or_negated_answers_are_a_no(self, text: str) -> None:
        """Every answer that negates, doubts or conditions is stored as no consent."""
        parsed = parse_answers(f"1. 4\n2. Veel geleerd\n{CONSENT}. {text}", QUESTIONS)
        assert parsed.answers[str(CONSENT)] is False

    @pytest.mark.parametrize("text", MEANS_YES)
    def test_an_unambiguous_yes_is_consent(self, text: str) -> None:
        """A short, plain yes from the closed list gives consent."""
        parsed = parse_answers(f"1. 4\n2. Veel geleerd\n{CONSENT}. {text}", QUESTIONS)
        assert parsed.answers[str(CONSENT)] is True

    def test_a_yes_with_a_sign_off_below_is_still_a_yes(self) -> None:
        """A greeting under the last answer does not turn a yes into doubt."""
        parsed = parse_answers(f"{CONSENT}. ja\n\nGroeten,\nBert", QUESTIONS)
        assert parsed.answers[str(CONSENT)] is True

    def test_a_yes_followed_by_a_no_line_is_a_no(self) -> None:
        """A second line that takes the yes back wins: doubt is a no."""
        parsed = parse_answers(f"{CONSENT}. ja\nmaar niet vraag 3", QUESTIONS)
        assert parsed.answers[str(CONSENT)] is False

    def test_an_unclear_answer_is_noted_for_the_participant(self) -> None:
        """What was read as no without a clear no is named in the notes."""
        parsed = parse_answers(f"{CONSENT}. misschien later", QUESTIONS)
        assert parsed.answers[str(CONSENT)] is False
        assert any("nee" in note for note in parsed.notes)

    @given(
        before=st.text(max_size=30),
        negation=st.sampled_from(NEGATIONS),
        after=st.text(max_size=30),
        yes=st.sampled_from(MEANS_YES),
    )
    def test_no_answer_with_a_negation_word_ever_consents(
        self, before: str, negation: str, after: str, yes: str
    ) -> None:
        """Property: an answer that contains a negation word never yields consent."""
        for text in (
            f"{yes} {negation}",
            f"{negation} {yes}",
            f"{before} {negation} {after}",
            f"{yes}, {before} {negation}{after and ' ' + after}",
        ):
            assert has_negation(text)
            assert not consents(text)
            parsed = parse_answers(f"{CONSENT}. {text}", QUESTIONS)
            assert parsed.answers.get(str(CONSENT)) is not True

    @given(st.text(max_size=60))
    def test_consent_only_from_the_closed_list(self, text: str) -> None:
        """Property: whatever the text, consent means it is one of the known plain yeses."""
        if consents(text):
            assert not has_negation(text)
            assert len(text.split()) <= 4


class TestOrdinaryYesNo:
    QUESTION = Question(1, "Wil je een vervolgsessie? (ja/nee)", QuestionKind.YES_NO)

    @pytest.mark.parametrize(
        ("text", "said"),
        [("ja", Said.YES), ("Zeker niet", Said.NO), ("Natuurlijk niet!", Said.NO)],
    )
    def test_negation_is_read_before_the_first_word(self, text: str, said: Said) -> None:
        """“Zeker niet” to an ordinary yes/no question is a no, not a yes."""
        assert read_yes_no(text) is said

    def test_unclear_answers_are_not_guessed(self) -> None:
        """“misschien” to an ordinary yes/no question is not recorded; a note says why."""
        parsed = parse_answers("1. misschien", [self.QUESTION])
        assert parsed.answers == {}
        assert parsed.notes
