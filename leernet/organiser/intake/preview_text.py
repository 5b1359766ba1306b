"""The words of the preview an organiser gets before anything starts or changes (nl/en), as plain lines.

Content, not layout: a subject and lines of plain text (``""`` between
paragraphs), so the lead can put them in a template or a text/plain part.
Every session in local time, every participant with manager and
growth-conversation date, the evaluation questions, and every finding in the
organiser's words; then the one thing to do: reply START, or fix and resend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from leernet.messages import textfmt
from leernet.network.model import Network, language
from leernet.organiser.intake.findings import Level
from leernet.organiser.intake.network_file import Intake
from leernet.organiser.intake.series_change import Change, SeriesChange

VALID_DAYS = 7


@dataclass(frozen=True, slots=True)
class Preview:
    """The lines of a preview, by part."""

    subject: str
    lines: tuple[str, ...]
    ok: bool  # True: a reply START applies it; False: nothing can be applied

    @property
    def text(self) -> str:
        """The preview as one text."""
        return "\n".join(self.lines) + "\n"


_WORDS = {
    "nl": {
        "subject_ok": "Voorbeeld: {name} – antwoord START om te beginnen",
        "subject_fix": "Nog aan te passen: {name}",
        "hello": "Dag {name},",
        "intro": "Zo heb ik je lerend netwerk begrepen. Er is nog niets verstuurd.",
        "goal": "Doel: {value}",
        "place": "Plaats: {value}",
        "online": "Online: {value}",
        "sessions": "Sessies (tijden in {zone})",
        "cancelled": "gaat niet door",
        "moved": "verplaatst",
        "participants": "Deelnemers ({count})",
        "manager": "leidinggevende: {value}",
        "growth": "groeigesprek: {value}",
        "questions": "Vragen na elke sessie",
        "errors": "Dit moet je nog aanpassen:",
        "warnings": "Goed om te weten:",
        "confirm": "Klopt alles? Antwoord op deze mail met START om de uitnodigingen te versturen. "
        "Dit voorbeeld blijft {days} dagen geldig.",
        "resend": "Wil je nog iets aanpassen? Stuur je reeks of lijst gewoon opnieuw; je krijgt dan een nieuw voorbeeld.",
        "fix": "Er is niets geregistreerd en niemand kreeg een bericht. Pas aan en stuur opnieuw.",
        "attached": "In bijlage vind je de uitnodiging zoals een deelnemer ze krijgt.",
        "none": "(geen)",
        "unnamed": "je lerend netwerk",
        "change_subject": "Aanpassing: {name} – antwoord JA om door te voeren",
        "change_intro": "Je agenda meldt een aanpassing. Dit zou er veranderen:",
        "change_confirm": "Klopt dat? Antwoord op deze mail met JA. Dit voorstel blijft {days} dagen geldig.",
        "change_none": "Ik zie geen verschil met wat de deelnemers al hebben.",
        "moved_to": "Sessie {n} verhuist naar {when}",
        "cancel": "Sessie {n} ({when}) gaat niet door",
        "restore": "Sessie {n} gaat toch door: {when}",
        "place_of": "Sessie {n} vindt plaats in {value}",
        "added": "Er komt een sessie {n} bij: {when}",
        "removed": "Sessie {n} ({when}) valt weg",
        "all_cancelled": "Het hele netwerk wordt geschrapt; alle {count} deelnemers krijgen een annulering.",
        "rename": 'De naam wordt "{value}"',
        "relocate": 'De plaats wordt "{value}"',
        "relink": "De onlinelink wordt {value}",
        "who": "{count} deelnemers krijgen een aangepaste uitnodiging.",
    },
    "en": {
        "subject_ok": "Preview: {name} – reply START to begin",
        "subject_fix": "Still to fix: {name}",
        "hello": "Dear {name},",
        "intro": "This is how I understood your learning network. Nothing has been sent yet.",
        "goal": "Goal: {value}",
        "place": "Place: {value}",
        "online": "Online: {value}",
        "sessions": "Sessions (times in {zone})",
        "cancelled": "cancelled",
        "moved": "moved",
        "participants": "Participants ({count})",
        "manager": "manager: {value}",
        "growth": "growth conversation: {value}",
        "questions": "Questions after each session",
        "errors": "Please fix:",
        "warnings": "Good to know:",
        "confirm": "Is everything right? Reply to this mail with START to send the invitations. "
        "This preview is valid for {days} days.",
        "resend": "Want to change something? Just send your series or list again; you will get a new preview.",
        "fix": "Nothing has been registered and nobody got a message. Please fix and send again.",
        "attached": "Attached is the invitation as a participant will get it.",
        "none": "(none)",
        "unnamed": "your learning network",
        "change_subject": "Change: {name} – reply YES to apply",
        "change_intro": "Your calendar reports a change. This is what would change:",
        "change_confirm": "Is that right? Reply to this mail with YES. This proposal is valid for {days} days.",
        "change_none": "I see no difference with what the participants already have.",
        "moved_to": "Session {n} moves to {when}",
        "cancel": "Session {n} ({when}) is cancelled",
        "restore": "Session {n} takes place after all: {when}",
        "place_of": "Session {n} takes place at {value}",
        "added": "A session {n} is added: {when}",
        "removed": "Session {n} ({when}) is dropped",
        "all_cancelled": "The whole network is cancelled; all {count} participants get a cancellation.",
        "rename": 'The name becomes "{value}"',
        "relocate": 'The place becomes "{value}"',
        "relink": "The online link becomes {value}",
        "who": "{count} participants get an updated invitation.",
    },
}


def start_preview(intake: Intake, *, organiser_name: str) -> Preview:
    """The preview of a network to start: what was understood, what is wrong, what to do."""
    lang = language(intake.language)
    w = _WORDS[lang]
    network = intake.loaded.network if intake.loaded is not None else intake.draft
    name = network.name if network is not None else w["unnamed"]
    lines = [w["hello"].format(name=_first_name(organiser_name)), "", w["intro"], ""]
    if network is not None:
        lines += _network_lines(network, lang)
    errors, warnings = intake.texts(Level.ERROR), intake.texts(Level.WARNING)
    if errors:
        lines += [w["errors"], *(f"- {e}" for e in errors), ""]
    if warnings:
        lines += [w["warnings"], *(f"- {t}" for t in warnings), ""]
    if intake.ok:
        lines += [w["confirm"].format(days=VALID_DAYS), w["resend"], "", w["attached"]]
        return Preview(w["subject_ok"].format(name=name), tuple(lines), ok=True)
    lines += [w["fix"]]
    return Preview(w["subject_fix"].format(name=name), tuple(lines), ok=False)


def _network_lines(network: Network, lang: str) -> list[str]:
    w = _WORDS[lang]
    lines = [network.name, w["goal"].format(value=network.goal or w["none"])]
    if network.location:
        lines.append(w["place"].format(value=network.location))
    if network.online_url:
        lines.append(w["online"].format(value=network.online_url))
    lines += ["", w["sessions"].format(zone=network.timezone)]
    zone = network.zone
    for s in sorted(network.sessions, key=lambda s: s.number):
        if s.cancelled:
            lines.append(
                f"{s.number}. {textfmt.long_date(s.slot.astimezone(zone), lang)}: {w['cancelled']}"
            )
            continue
        moved = f" ({w['moved']})" if s.start != s.slot else ""
        lines.append(f"{s.number}. {textfmt.when(s.start, s.end, zone, lang)}{moved} – {s.title}")
    lines += ["", w["participants"].format(count=len(network.participants))]
    for p in network.participants:
        parts = [f"{p.name} <{p.email}>"]
        if p.manager_email:
            who = f"{p.manager_name} <{p.manager_email}>" if p.manager_name else p.manager_email
            parts.append(w["manager"].format(value=who))
        if p.growth_conversation is not None:
            parts.append(w["growth"].format(value=textfmt.long_date(p.growth_conversation, lang)))
        lines.append("- " + " · ".join(parts))
    lines += ["", w["questions"]]
    lines += [f"{q.number}. {q.text}" for q in network.questions]
    return [*lines, ""]


def _first_name(name: str) -> str:
    return name.split(maxsplit=1)[0] if name.strip() and "@" not in name else name


def change_preview(change: SeriesChange, network: Network, *, organiser_name: str) -> Preview:
    """The preview of a change from the organiser's calendar, in words, with who gets an update."""
    lang = network.language
    w = _WORDS[lang]
    lines = [w["hello"].format(name=_first_name(organiser_name)), "", w["change_intro"], ""]
    said = change_lines(change, network)
    if not said:
        lines += [w["change_none"]]
        return Preview(w["change_subject"].format(name=network.name), tuple(lines), ok=False)
    lines += [f"- {line}" for line in said]
    count = len(network.participants)
    lines += [
        "",
        w["all_cancelled" if change.whole_series_cancelled else "who"].format(count=count),
    ]
    lines += ["", w["change_confirm"].format(days=VALID_DAYS)]
    return Preview(w["change_subject"].format(name=network.name), tuple(lines), ok=True)


def change_lines(change: SeriesChange, network: Network) -> list[str]:
    """``Sessie 4 verhuist naar donderdag 6 mei 2027, 9.30 – 12.00 uur`` and the like, one per change."""
    lang = network.language
    w = _WORDS[lang]
    zone = network.zone
    out: list[str] = []
    if change.whole_series_cancelled:
        return [w["all_cancelled"].format(count=len(network.participants))]
    for c in change.occurrences:
        after, before = c.after, c.before
        if c.change in {Change.MOVED, Change.RESTORED, Change.ADDED} and after is not None:
            when = textfmt.when(
                after.start, after.start + timedelta(minutes=after.minutes), zone, lang
            )
            key = {Change.MOVED: "moved_to", Change.RESTORED: "restore", Change.ADDED: "added"}
            out.append(w[key[c.change]].format(n=c.number, when=when))
        elif c.change in {Change.CANCELLED, Change.REMOVED} and before is not None:
            day = textfmt.long_date(before.start.astimezone(zone), lang)
            key = {Change.CANCELLED: "cancel", Change.REMOVED: "removed"}
            out.append(w[key[c.change]].format(n=c.number, when=day))
        elif c.change is Change.PLACE and after is not None:
            out.append(w["place_of"].format(n=c.number, value=after.location or network.location))
    if change.summary:
        out.append(w["rename"].format(value=change.summary[1]))
    if change.location:
        out.append(w["relocate"].format(value=change.location[1]))
    if change.online_url:
        out.append(w["relink"].format(value=change.online_url[1]))
    return out
