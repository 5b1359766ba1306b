"""The iTIP invites of a network: one series REQUEST per participant, and CANCELs.

The series is one master VEVENT with a weekly RRULE bounded by COUNT and one
override (RECURRENCE-ID) per session, irregular dates included (Outlook
ignores RDATE); see :mod:`leernet.calendar.series_parts`.

Everything but the ORGANIZER (it carries the participant's reply token), the
single ATTENDEE and the DTSTAMP is the same for every participant of a network,
so it is built once per network and SEQUENCE, and a participant's copy is
those bytes with three lines put into each VEVENT (:class:`InviteTemplate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from leernet.calendar.contentlines import attendee_line, dtstamp_line, organizer_line
from leernet.calendar.series_parts import PRODID, SeriesKey, cancel_parts, request_parts

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from leernet.network.model import Network, Participant, Session

__all__ = [
    "PRODID",
    "InviteTemplate",
    "cancel_template",
    "request_template",
    "series_uid",
]


def series_uid(slug: str, service_address: str) -> str:
    """``leernet-<slug>@<domain>``: one UID for the whole series of a network."""
    domain = service_address.rpartition("@")[2].lower()
    return f"leernet-{slug}@{domain}"


@dataclass(frozen=True, slots=True)
class InviteTemplate:
    """A calendar object with the per-recipient lines left open.

    ``parts`` (shared by every copy, cached) are the bytes around the places,
    one per VEVENT, where the DTSTAMP, ORGANIZER and ATTENDEE lines go.
    """

    method: str  # "REQUEST" | "CANCEL"
    parts: tuple[bytes, ...]
    dtstamp: datetime

    def render(
        self, participant: Participant, organizer_address: str, organizer_name: str
    ) -> bytes:
        """The calendar object for ``participant``; no other participant's address is in it."""
        lines = (
            dtstamp_line(self.dtstamp)
            + organizer_line(organizer_name, organizer_address)
            + attendee_line(participant.name, participant.email, rsvp=self.method == "REQUEST")
        )
        return lines.join(self.parts)


def request_template(
    network: Network,
    *,
    service_address: str,
    sequence: int,
    dtstamp: datetime,
    descriptions: Mapping[int, str] | None = None,
) -> InviteTemplate:
    """The REQUEST shared by every participant of ``network``; built once per SEQUENCE.

    Only the domain of ``service_address`` is used (for the UID), so a
    participant's plus-address may be passed.
    """
    given = tuple(sorted(descriptions.items())) if descriptions else ()
    key = SeriesKey.of(network, series_uid(network.slug, service_address))
    return InviteTemplate("REQUEST", request_parts(key, sequence, given), dtstamp)


def cancel_template(
    network: Network,
    *,
    service_address: str,
    sequence: int,
    dtstamp: datetime,
    session: Session | None,
) -> InviteTemplate:
    """The CANCEL shared by every participant of ``network``; built once per SEQUENCE."""
    key = SeriesKey.of(network, series_uid(network.slug, service_address))
    return InviteTemplate("CANCEL", cancel_parts(key, sequence, session), dtstamp)
