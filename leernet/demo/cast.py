"""Who does what in the demo: a fixed, seeded script of participants, a stranger and the organiser.

Each simulated person reads the mail the demo's SMTP server delivered to them
and, some (virtual) time later, answers the way their mail client would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import format_datetime, formataddr

from leernet.demo import people
from leernet.network.model import Network

CLIENTS = ("outlook", "gmail", "outlook", "gmail", "apple", "thunderbird")
STYLES = ("gmail_top", "outlook_inline", "thunderbird_inline", "apple_top")
TAKEAWAYS = (
    "Het idee om werkdruk elke week kort te bespreken in het teamoverleg.",
    "Een collega uit een andere sector deed het heel anders: dat wil ik uitproberen.",
    "Dat ik niet alles zelf moet oplossen. Samen zoeken werkt beter.",
    "De checklist voor werkbaar werk, die neem ik mee naar onze directie.",
    "Meer tijd maken voor een echt gesprek met mijn medewerkers.",
    "Concrete voorbeelden van flexibel werken in kleine teams.",
)
BETTER = (
    "Iets meer tijd voor de casussen.",
    "Prima zo!",
    "Graag de slides vooraf.",
    "Een pauze halverwege zou fijn zijn.",
    "",
)
GOALS = (
    "Leren hoe andere organisaties werkdruk bespreekbaar maken.",
    "Ideeën voor een beter onthaalbeleid.",
    "Mijn netwerk uitbreiden met HR-collega's uit de regio.",
)


_AWAY_SESSION = 2  # the session the cast's absent and away people answer differently


@dataclass(order=True)
class Planned:
    """One reply of the cast, and when they send it."""

    when: datetime
    seq: int
    raw: bytes = field(compare=False)
    sender: str = field(compare=False)
    recipient: str = field(compare=False)
    label: str = field(compare=False)


def _header(raw: bytes, name: str) -> str:
    return str(BytesHeaderParser(policy=compat32).parsebytes(raw).get(name, ""))


def _kind(raw: bytes) -> str:
    head = BytesHeaderParser(policy=compat32).parsebytes(raw)
    if "multipart/mixed" in str(head.get("Content-Type", "")) and b"method=request" in raw.lower():
        return "invite"
    subject = str(head.get("Subject", ""))
    if subject.startswith(
        ("Hoe was het?", "Nog even:", "We konden je antwoord", "How was it?", "A quick nudge:")
    ):
        return "evaluation"
    return "mail"


class Cast:
    """The simulated people of one demo network and what they will send, in time order."""

    def __init__(self, network: Network, service_address: str, seed: int = 2027) -> None:
        self.net = network
        self.service = service_address
        self.rng = random.Random(seed)
        self.queue: list[Planned] = []
        self._seq = 0
        emails = [p.email.lower() for p in network.participants]
        self.emails = emails
        # Roles, by position in the file (the example network has twelve participants).
        self.decliner = emails[9 % len(emails)]  # declines one session
        self.tentative = emails[10 % len(emails)]
        self.silent = emails[-1]  # never answers (their address bounces in the demo)
        self.absent_in_2 = emails[5 % len(emails)]
        self.late = {emails[6 % len(emails)], emails[7 % len(emails)]}  # answer after the reminder
        self.away = emails[3 % len(emails)]  # out of office after session 2
        self.eval_counts: dict[tuple[str, str], int] = {}
        self.stranger_sent = False
        self.rollcall_sent = False

    def _plan(self, when: datetime, raw: bytes, sender: str, recipient: str, label: str) -> None:
        self._seq += 1
        self.queue.append(Planned(when, self._seq, raw, sender, recipient, label))
        self.queue.sort()

    def _mid(self, who: str) -> str:
        self._seq += 1
        local = who.split("@", maxsplit=1)[0].replace(".", "")
        return f"<demo.{self._seq}.{local}@{who.rsplit('@', maxsplit=1)[-1]}>"

    def next_time(self) -> datetime | None:
        """When the next reply of the cast is due (None: all sent)."""
        return self.queue[0].when if self.queue else None

    def due(self, now: datetime) -> list[Planned]:
        """The replies due at ``now``, taken from the plan."""
        ready = [p for p in self.queue if p.when <= now]
        self.queue = [p for p in self.queue if p.when > now]
        return ready

    def read(self, recipient: str, raw: bytes, now: datetime) -> None:
        """``recipient`` got ``raw``; plan what they do about it."""
        who = recipient.lower()
        if who == self.net.organiser.email.lower():
            self._organiser_reads(raw, now)
            return
        if who not in self.emails:
            return  # managers only read
        if who == self.silent:
            return
        subject = _header(raw, "Subject")
        if _kind(raw) == "invite":
            self._answer_invite(who, raw, now)
        elif _kind(raw) == "evaluation":
            self._answer_evaluation(who, raw, now, subject)

    def _organiser_reads(self, raw: bytes, now: datetime) -> None:
        subject = _header(raw, "Subject")
        if not subject.startswith("Overzicht:") or self.rollcall_sent:
            return
        # After the first digest the organiser fills in the roll call: who was not there.
        self.rollcall_sent = True
        missing = len(self.emails)  # the last participant (whose address bounces)
        org = self.net.organiser
        when = now + timedelta(hours=1)
        text = f"Dag,\n\nafwezig: {missing}\n\nGroeten,\n{org.name}\n"
        reply = _organiser_reply(raw, (org.name, org.email), text, when, self._mid(org.email))
        self._plan(
            when, reply, org.email, "", f"the organiser replies to the digest: 'afwezig: {missing}'"
        )

    def _answer_invite(self, who: str, raw: bytes, now: datetime) -> None:
        i = self.emails.index(who)
        client = CLIENTS[i % len(CLIENTS)]
        later = now + timedelta(hours=2 + i)
        if who == self.tentative:
            comment = "Ik probeer erbij te zijn, maar mijn agenda is nog onzeker."
            reply = people.calendar_reply(
                raw,
                partstat="TENTATIVE",
                client="outlook",
                comment=comment,
                date=later,
                message_id=self._mid(who),
            )
            self._plan(later, reply, who, "", "tentative, with a comment (Outlook)")
            return
        reply = people.calendar_reply(
            raw, partstat="ACCEPTED", client=client, date=later, message_id=self._mid(who)
        )
        self._plan(later, reply, who, "", f"accepts the series ({client.capitalize()})")
        if who == self.decliner:
            session = self.net.session(3)
            when = later + timedelta(days=1)
            reply = people.calendar_reply(
                raw,
                partstat="DECLINED",
                client="outlook",
                session_slot=session.slot,
                comment="Die dag geef ik zelf een opleiding, sorry!",
                date=when,
                message_id=self._mid(who),
            )
            self._plan(when, reply, who, "", "declines session 3 only (Outlook)")
        if not self.stranger_sent and i == 0:
            self.stranger_sent = True
            colleague = "kim.vermeersch@example.com"
            fwd = people.forwarded_accept(
                raw, colleague_email=colleague, date=later, message_id=self._mid(colleague)
            )
            self._plan(
                later + timedelta(hours=1),
                fwd,
                colleague,
                "",
                "a colleague accepts a forwarded invite",
            )
            stranger = people.stranger_mail(
                sender="info@opleidingen-voorbeeld.example",
                to=self.service,
                date=later,
                message_id=self._mid("info@opleidingen-voorbeeld.example"),
            )
            self._plan(
                later + timedelta(hours=3),
                stranger,
                "info@opleidingen-voorbeeld.example",
                "",
                "a stranger writes",
            )

    def _answer_evaluation(self, who: str, raw: bytes, now: datetime, subject: str) -> None:
        i = self.emails.index(who)
        number = _session_number(subject, self.net)
        key = (who, str(number))
        count = self.eval_counts.get(key, 0)
        self.eval_counts[key] = count + 1
        reminder = count >= 1
        if who == self.away and number == _AWAY_SESSION and not reminder:
            oof = people.out_of_office(
                raw, date=now + timedelta(minutes=1), message_id=self._mid(who)
            )
            self._plan(now + timedelta(minutes=1), oof, who, "", "out-of-office reply")
            return
        if (who in self.late or (who == self.away and number == _AWAY_SESSION)) and not reminder:
            return  # waits for the reminder
        if reminder and who not in self.late and who != self.away:
            return  # answered already
        when = now + timedelta(hours=3 + i)
        if who == self.absent_in_2 and number == _AWAY_SESSION:
            reply = people.absent_reply(raw, date=when, message_id=self._mid(who))
            self._plan(when, reply, who, "", f"answers 'afwezig' for session {number}")
            return
        answers = {
            1: str(self.rng.choice((3, 4, 4, 5, 5))),
            2: self.rng.choice(TAKEAWAYS),
            3: self.rng.choice(BETTER) or "Niets, het was goed.",
            4: "ja" if i % 3 else "nee",
        }
        session = self.net.session(number)
        if session.kind.value == "kickoff":
            answers[5] = self.rng.choice(GOALS)
        if session.kind.value == "closing":
            answers[5] = "Ja, graag een terugkomdag binnen een half jaar."
            answers[6] = self.rng.choice(TAKEAWAYS)
        style = STYLES[i % len(STYLES)]
        reply = people.evaluation_reply(
            raw, answers=answers, style=style, date=when, message_id=self._mid(who)
        )
        self._plan(when, reply, who, "", f"answers the evaluation of session {number} ({style})")


def _organiser_reply(
    digest: bytes, organiser: tuple[str, str], text: str, date: datetime, message_id: str
) -> bytes:
    """The organiser answers a digest from their mail client (a plain top-posted reply)."""
    head = BytesHeaderParser(policy=compat32).parsebytes(digest)
    reply_to = str(head.get("Reply-To") or head.get("From"))
    lines = [
        f"From: {formataddr(organiser)}",
        f"To: {reply_to}",
        f"Subject: Re: {head.get('Subject', '')}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
        f"In-Reply-To: {head.get('Message-ID', '')}",
        f"References: {head.get('Message-ID', '')}",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + text.replace("\n", "\r\n")).encode("utf-8")


def _session_number(subject: str, network: Network) -> int:
    for s in sorted(network.sessions, key=lambda s: -len(s.title)):
        if s.title in subject:
            return s.number
    digits = [int(x) for x in subject.split() if x.isdigit()]
    return digits[0] if digits else 1
