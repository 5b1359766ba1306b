"""Consent: no manager-bound message ever carries an answer its participant did not agree to share.

Hypothesis generates evaluations (answered, absent, revised) with random
consent (yes, no, not answered) for four participants across the four
sessions; the real path then runs: the store, the planner pass, the follow-up
steps and composing. Every message to a manager is decoded (all MIME parts,
quoted-printable and base64) and searched for every answer marker.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from leernet.messages.factory import Factory
from leernet.network.load import parse_network
from leernet.planning.followups import step_builder
from leernet.planning.planner import planner_pass
from leernet.records import record, registration
from leernet.settings import Settings
from leernet.store import open_store
from leernet.store import schema as t
from tests.test_lifecycle import NETWORK

SECRET = "test-secret-not-for-production"
REGISTERED = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
# The closing (session 4, 2027-04-08) digest moment: the closing summaries are due, and
# Bert's, whose growth conversation is on 2027-04-20, is due from 2027-04-13.
PASS_AT = datetime(2027, 4, 14, 12, 0, tzinfo=UTC)
# Each summary is previewed to its participant three days before it goes: Bert's preview is
# due from 2027-04-10, the closing summaries' previews at the digest, the summaries after.
PASSES = (
    datetime(2027, 4, 10, 12, 0, tzinfo=UTC),
    PASS_AT,
    datetime(2027, 4, 18, 12, 0, tzinfo=UTC),
)
SOURCE = NETWORK.replace("SESSION3", "").replace(
    "growth_conversation = 2027-03-01", "growth_conversation = 2027-04-20"
)
PEOPLE = (
    ("bert.claes@example.com", "Bert Claes", "carla.dewit@example.com"),
    ("sofie.maes@example.com", "Sofie Maes", "carla.dewit@example.com"),
    ("jan.peeters@example.be", "Jan Peeters", "dirk.vandenbroeck@example.be"),
    ("els.wouters@example.net", "Els Wouters", "hilde.jacobs@example.net"),
)
MANAGERS = {m for _, _, m in PEOPLE}
ORGANISER = "an.peeters@example.org"
SHARED_QUESTIONS = {2}  # share_with_manager in the defaults
CLOSING_SHARED = 6  # the closing's "most important thing you take away"
# Consent answers that mean no, in many words (tests/test_summary_preview.py sends them by mail).
MEANS_NO_EXAMPLES = (
    "Zeker niet",
    "Natuurlijk niet!",
    "Uiteraard niet",
    "Ok, liever niet",
    "Goed, maar liever niet",
    "Of course not",
    "Certainly not",
    "Sure, but no",
    "Fine, rather not",
)
SESSION_DATES = {  # roughly when each session's evaluation comes in (UTC)
    1: datetime(2027, 1, 14, 15, tzinfo=UTC),
    2: datetime(2027, 2, 11, 15, tzinfo=UTC),
    3: datetime(2027, 3, 11, 15, tzinfo=UTC),
    4: datetime(2027, 4, 8, 15, tzinfo=UTC),
}


@dataclass(frozen=True, slots=True)
class Submission:
    """One evaluation reply as stored: who, which session, absent or answers with consent."""

    person: int
    session: int
    absent: bool
    consent: bool | None  # None: the consent question was not answered
    share_text: bool  # answered the shared question(s)
    other_text: bool  # answered the private question(s)


submissions = st.lists(
    st.builds(
        Submission,
        person=st.integers(0, 3),
        session=st.integers(1, 4),
        absent=st.booleans(),
        consent=st.sampled_from([True, False, None]),
        share_text=st.booleans(),
        other_text=st.booleans(),
    ),
    max_size=14,
)


def mark(index: int, question: int) -> str:
    return f"ANSW{index:03d}Q{question}Z"


def answers_of(index: int, s: Submission) -> dict[str, object]:
    if s.absent:
        return {}
    out: dict[str, object] = {"1": 3}
    if s.share_text:
        out["2"] = mark(index, 2)
        if s.session == 4:
            out[str(CLOSING_SHARED)] = mark(index, CLOSING_SHARED)
    if s.other_text:
        out["3"] = mark(index, 3)
        if s.session == 1:
            out["5"] = mark(index, 5)  # the kick-off's learning goals: never for managers
        if s.session == 4:
            out["5"] = mark(index, 5)  # the closing's aftercare wish
    if s.consent is not None:
        out["4"] = s.consent
    return out


def all_marks(subs: list[Submission]) -> set[str]:
    return {
        v
        for i, s in enumerate(subs)
        for v in answers_of(i, s).values()
        if isinstance(v, str) and v.startswith("ANSW")
    }


def received(index: int, s: Submission) -> datetime:
    return SESSION_DATES[s.session] + timedelta(minutes=index)


def allowed(subs: list[Submission], person: int) -> set[str]:
    """The oracle, written plainly: what this person's manager may read."""
    current: dict[int, tuple[int, Submission]] = {}
    for i, s in enumerate(subs):
        if s.person == person:
            current[s.session] = (i, s)  # a later reply replaces the earlier one
    # "Later" is when the reply came in (as stored below), not the order of generation.
    # Every reply that answered the consent question counts, also one a later reply
    # to the same session replaced.
    said = [
        (received(i, s), s.consent)
        for i, s in enumerate(subs)
        if s.person == person and not s.absent and s.consent is not None
    ]
    if not said or max(said)[1] is False:
        return set()  # never said yes, or the latest word is "no": nothing is shared
    out = set()
    for i, s in current.values():
        if s.absent or s.consent is not True or not s.share_text:
            continue
        out.add(mark(i, 2))
        if s.session == 4:
            out.add(mark(i, CLOSING_SHARED))
    return out


def decoded(raw: bytes) -> str:
    """Every header and every text part of a message, decoded."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    parts = [f"{k}: {v}" for k, v in msg.items()]
    parts += [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Outcome:
    by_recipient: dict[str, list[tuple[str, str]]]  # recipient -> [(key, decoded text)]


async def run(subs: list[Submission], source: str = SOURCE) -> Outcome:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'leernet.db'}"
        engine = await open_store(url)
        try:
            async with engine.begin() as conn:
                reg = await registration.register(
                    conn, parse_network(source).network, source, SECRET, REGISTERED
                )
                ids = [reg.member(email_) for email_, _, _ in PEOPLE]
                for i, s in enumerate(subs):
                    member = ids[s.person]
                    assert member is not None
                    await record.record_evaluation(
                        conn,
                        participant_id=member.id,
                        session_number=s.session,
                        absent=s.absent,
                        answers=answers_of(i, s),  # type: ignore[arg-type]
                        received_at=received(i, s),
                        inbox_id=None,
                    )
            factory = Factory(
                Settings(_env_file=None, secret=SECRET, database_url=url)  # type: ignore[call-arg]
            )
            for moment in PASSES:
                await planner_pass(engine, step_builder(factory), moment)
                async with engine.begin() as conn:  # the sender's part: all of it went out
                    await conn.execute(
                        update(t.outbox)
                        .where(t.outbox.c.state == "queued")
                        .values(state="sent", sent_at=moment)
                    )
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(t.outbox.c.recipient, t.outbox.c.key, t.outbox_body.c.raw)
                        .select_from(t.outbox.join(t.outbox_body))
                        .order_by(t.outbox.c.id)
                    )
                ).all()
        finally:
            await engine.dispose()
    out: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        out.setdefault(r.recipient, []).append((r.key, decoded(r.raw)))
    return Outcome(out)


WITHDRAWAL = [  # Bert shares twice, then says no at the closing: nothing may reach Carla
    Submission(0, 1, absent=False, consent=True, share_text=True, other_text=True),
    Submission(0, 2, absent=False, consent=True, share_text=True, other_text=False),
    Submission(0, 4, absent=False, consent=False, share_text=True, other_text=False),
]
REVISED = [  # Jan first says yes for session 3, then replies again with no
    Submission(2, 3, absent=False, consent=True, share_text=True, other_text=True),
    Submission(2, 3, absent=False, consent=False, share_text=True, other_text=True),
]
FOLLOW_UP = [  # Bert says yes at session 1, no at session 2, then adds to question 2 only
    Submission(0, 1, absent=False, consent=True, share_text=True, other_text=False),
    Submission(0, 2, absent=False, consent=False, share_text=True, other_text=False),
    Submission(0, 2, absent=False, consent=None, share_text=True, other_text=False),
]


def previews(outcome: Outcome, summary_key: str) -> str:
    """The text of the preview that showed the manager summary keyed ``summary_key``."""
    wanted = "summary-preview/" + summary_key.removeprefix("manager-summary/")
    (text,) = [
        text for mails in outcome.by_recipient.values() for key, text in mails if key == wanted
    ]
    return text


class TestConsent:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(subs=submissions)
    @example(subs=WITHDRAWAL)
    @example(subs=REVISED)
    @example(subs=FOLLOW_UP)
    def test_managers_read_only_what_was_shared(self, subs: list[Submission]) -> None:
        """A manager's mail holds exactly the answers their employee agreed to share, and no other."""
        outcome = asyncio.run(run(subs))
        everything = all_marks(subs)
        summaries = 0
        for manager in MANAGERS:
            for key, text in outcome.by_recipient.get(manager, []):
                about = [p for p, (email_, _, _) in enumerate(PEOPLE) if email_ in key]
                may = set().union(*(allowed(subs, p) for p in about)) if about else set()
                seen = {m for m in everything if m in text}
                assert seen <= may, f"{key} shows answers without consent: {seen - may}"
                if key.startswith("manager-summary/"):
                    summaries += 1
                    assert seen == may, f"{key} misses shared answers: {may - seen}"
                    # The participant saw exactly these answers beforehand, in the preview.
                    preview = previews(outcome, key)
                    assert {m for m in everything if m in preview} == seen
        assert summaries == len(PEOPLE)  # one summary per participant, growth date or closing

    def test_withdrawal_hides_everything_shared_before(self) -> None:
        """A "no" after two "yes" answers: Carla's summary about Bert has none of his answers."""
        outcome = asyncio.run(run(WITHDRAWAL))
        (summary,) = [
            text
            for key, text in outcome.by_recipient["carla.dewit@example.com"]
            if "bert.claes" in key
        ]
        assert "ANSW" not in summary

    def test_a_follow_up_without_consent_does_not_bring_back_an_earlier_yes(self) -> None:
        """Session 1 "ja", session 2 "nee", then a follow-up to session 2 without the consent
        question: the "nee" stays the latest word, and Carla reads nothing of Bert's.
        """
        outcome = asyncio.run(run(FOLLOW_UP))
        (summary,) = [
            text
            for key, text in outcome.by_recipient["carla.dewit@example.com"]
            if "bert.claes" in key
        ]
        assert "ANSW" not in summary


class TestDigestAnonymity:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(subs=submissions)
    def test_anonymous_digest_has_no_names_beside_free_text(self, subs: list[Submission]) -> None:
        """With anonymous_digest (the default), no line with an answer names anyone."""
        outcome = asyncio.run(run(subs))
        digests = [
            text for key, text in outcome.by_recipient[ORGANISER] if key.startswith("digest/")
        ]
        assert digests
        names = [n for _, name, _ in PEOPLE for n in (name, name.split()[0])]
        for text in digests:
            for line in text.splitlines():
                if "ANSW" in line:
                    assert not [n for n in names if n in line], line

    def test_named_digest_when_the_network_asks_for_it(self) -> None:
        """With anonymous_digest = false the organiser sees who wrote what."""
        source = SOURCE.replace(
            'location = "Wetstraat 34, Brussel"',
            'location = "Wetstraat 34, Brussel"\nanonymous_digest = false',
        )
        subs = [Submission(1, 4, absent=False, consent=None, share_text=True, other_text=True)]
        outcome = asyncio.run(run(subs, source))
        (digest,) = [t for k, t in outcome.by_recipient[ORGANISER] if k.startswith("digest/")]
        lines = [line for line in digest.splitlines() if mark(0, 3) in line]
        assert lines
        assert all("Sofie Maes" in line for line in lines)
