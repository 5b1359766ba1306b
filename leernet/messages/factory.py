"""Composing outbox messages: a registered network + a kind + a recipient -> ``Outgoing``.

One ``Factory`` per process holds the renderer and settings; everything that is
the same for every recipient (the invite's calendar, compiled templates) is
built once and reused (see ``calendar.invite.request_template``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from leernet.calendar.invite import cancel_template, request_template
from leernet.mailer.compose import Attachment, Envelope, compose, message_id
from leernet.mailer.queue import Outgoing
from leernet.mailer.tokens import participant_token, reply_address
from leernet.messages import keys, manager_views, views
from leernet.messages.kinds import Kind, Template
from leernet.messages.render import Renderer
from leernet.network.model import Network, Participant, Person, Session
from leernet.records.networks import Member, Registered
from leernet.settings import Settings


def participant_of(network: Network, member: Member) -> Participant:
    """The participant as the network file describes them, for a registered member."""
    found = network.participant(member.email)
    if found is not None:
        return found
    return Participant(member.name, member.email, member.manager_name, member.manager_email)


class Factory:
    """Builds every message leernet sends, with stable keys and Message-IDs."""

    def __init__(self, settings: Settings, renderer: Renderer | None = None) -> None:
        self.settings = settings
        self.renderer = renderer or Renderer(settings.templates_dir)
        self.domain = settings.service_domain
        # When the log last said that mail of no network reaches nobody (``notices``): once
        # an hour per process, by the caller's clock.
        self.no_admin_warned_at: datetime | None = None

    @property
    def secret(self) -> str:
        """The secret that keys reply tokens and Message-IDs."""
        return self.settings.secret_value()

    def organiser_token(self, network: Network) -> str:
        """The organiser's own reply token (their roll call and their answers to previews)."""
        return participant_token(self.secret, network.slug, network.organiser.email)

    def _message(
        self,
        *,
        key: str,
        kind: Kind,
        template: Template | None = None,
        network: Network,
        network_id: int | None,
        to: Person,
        context: Mapping[str, object],
        now: datetime,
        token: str | None = None,
        not_after: datetime | None = None,
        calendar: bytes | None = None,
        method: str = "REQUEST",
        in_reply_to: str | None = None,
        auto_submitted: str = "auto-generated",
        language: str | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> Outgoing:
        lang = language or network.language
        rendered = self.renderer.render(template or kind.template, lang, context)
        msg_id = message_id(key, self.domain, self.secret)
        envelope = Envelope(
            from_name=self.settings.service_name,
            from_address=self.settings.service_address,
            to_name=to.name,
            to_address=to.email,
            reply_to=reply_address(self.settings.service_address, token) if token else None,
            in_reply_to=in_reply_to,
            references=(in_reply_to,) if in_reply_to else (),
            auto_submitted=auto_submitted,
            language=lang,
        )
        raw = compose(
            envelope,
            rendered,
            msg_id=msg_id,
            date=now,
            calendar=calendar,
            method=method,
            attachments=attachments,
        )
        return Outgoing(key, kind, to.email.lower(), msg_id, raw, network_id, not_after)

    # -- the series invite and its changes --------------------------------------------

    def invite(
        self,
        reg: Registered,
        member: Member,
        now: datetime,
        *,
        kind: Kind = Kind.INVITE,
        changes: Sequence[str] = (),
    ) -> Outgoing:
        """A member's series invite (REQUEST), or its update with the changes in words."""
        net = reg.network
        person = participant_of(net, member)
        organizer = reply_address(self.settings.service_address, member.token)
        calendar = request_template(
            net, service_address=self.settings.service_address, sequence=reg.sequence, dtstamp=now
        ).render(person, organizer, self.settings.service_name)
        context = (
            views.invite_update(net, person, changes) if changes else views.invite(net, person)
        )
        return self._message(
            key=keys.invite(kind, net.slug, member.email, reg.sequence),
            kind=kind,
            template=Template.INVITE_UPDATE if changes else Template.INVITE,
            network=net,
            network_id=reg.id,
            to=Person(person.name, person.email),
            context=context,
            now=now,
            token=member.token,
            not_after=net.last_end,
            calendar=calendar,
        )

    def cancel(
        self,
        reg: Registered,
        member: Member,
        now: datetime,
        *,
        session: Session | None,
        changes: Sequence[str] = (),
    ) -> Outgoing:
        """A CANCEL of one session (with RECURRENCE-ID) or, without a session, of the series."""
        net = reg.network
        person = participant_of(net, member)
        organizer = reply_address(self.settings.service_address, member.token)
        calendar = cancel_template(
            net,
            service_address=self.settings.service_address,
            sequence=reg.sequence,
            dtstamp=now,
            session=session,
        ).render(person, organizer, self.settings.service_name)
        if session is None:
            context, template = views.cancel_series(net, person), Template.CANCEL_SERIES
        else:
            context, template = views.invite_update(net, person, changes), Template.INVITE_UPDATE
        return self._message(
            key=keys.cancel(
                net.slug, member.email, reg.sequence, session.number if session else None
            ),
            kind=Kind.CANCEL,
            template=template,
            network=net,
            network_id=reg.id,
            to=Person(person.name, person.email),
            context=context,
            now=now,
            calendar=calendar,
            method="CANCEL",
        )

    def manager_start(
        self, reg: Registered, manager: Person, employees: Sequence[Participant], now: datetime
    ) -> Outgoing:
        """The note to a manager that their employees take part."""
        net = reg.network
        return self._message(
            key=keys.manager_start(net.slug, manager.email),
            kind=Kind.MANAGER_START,
            network=net,
            network_id=reg.id,
            to=manager,
            context=manager_views.manager_start(net, manager, employees),
            now=now,
            not_after=net.last_end,
        )

    # -- everything else -----------------------------------------------------------------

    def to_participant(
        self,
        reg: Registered,
        member: Member,
        *,
        key: str,
        kind: Kind,
        template: Template | None = None,
        context: Mapping[str, object],
        now: datetime,
        not_after: datetime | None = None,
        expects_reply: bool = False,
        in_reply_to: str | None = None,
        auto_submitted: str = "auto-generated",
    ) -> Outgoing:
        """A message to a member; with ``expects_reply`` it carries their reply address."""
        return self._message(
            key=key,
            kind=kind,
            template=template,
            network=reg.network,
            network_id=reg.id,
            to=Person(member.name, member.email),
            context=context,
            now=now,
            token=member.token if expects_reply else None,
            not_after=not_after,
            in_reply_to=in_reply_to,
            auto_submitted=auto_submitted,
        )

    def to_person(
        self,
        network: Network,
        network_id: int | None,
        to: Person,
        *,
        key: str,
        kind: Kind,
        template: Template | None = None,
        context: Mapping[str, object],
        now: datetime,
        not_after: datetime | None = None,
        token: str | None = None,
        in_reply_to: str | None = None,
        auto_submitted: str = "auto-generated",
        attachments: tuple[Attachment, ...] = (),
        calendar: bytes | None = None,
        method: str = "REQUEST",
    ) -> Outgoing:
        """A message to anyone else (an organiser, a manager, the admin)."""
        return self._message(
            key=key,
            kind=kind,
            template=template,
            network=network,
            network_id=network_id,
            to=to,
            context=context,
            now=now,
            token=token,
            not_after=not_after,
            in_reply_to=in_reply_to,
            auto_submitted=auto_submitted,
            attachments=attachments,
            calendar=calendar,
            method=method,
        )
