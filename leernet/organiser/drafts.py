"""A network asked for by mail, as understood: the network file read as ``leernet check`` reads it.

Also what is cheap to tell from a calendar before parsing it: its METHOD and UID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from leernet.errors import NetworkFileError
from leernet.mailer.tokens import participant_token
from leernet.network.load import parse_network
from leernet.network.model import Network
from leernet.records.networks import Member, Registered

_METHOD_REQUEST = re.compile(rb"^METHOD:REQUEST\s*$", re.IGNORECASE | re.MULTILINE)
_METHOD_CANCEL = re.compile(rb"^METHOD:CANCEL\s*$", re.IGNORECASE | re.MULTILINE)
_UID = re.compile(rb"^UID:([\x21-\x7e]{1,255})\s*$", re.MULTILINE)


def is_request(calendar: bytes) -> bool:
    """An invitation (RFC 5546 METHOD:REQUEST), not a participant's REPLY to ours."""
    return _METHOD_REQUEST.search(calendar[:4096]) is not None


def is_cancel(calendar: bytes) -> bool:
    """A cancellation (RFC 5546 METHOD:CANCEL) of a series or of one occurrence."""
    return _METHOD_CANCEL.search(calendar[:4096]) is not None


def uid_of(calendar: bytes) -> str | None:
    """The first UID of a calendar (unfolded), or None."""
    unfolded = calendar[: 256 * 1024].replace(b"\r\n ", b"").replace(b"\n ", b"")
    found = _UID.search(unfolded)
    return found.group(1).decode("ascii") if found else None


@dataclass(frozen=True, slots=True)
class Understood:
    """What a request said: the network file and the network, or why not."""

    source: str
    network: Network | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def understand(source: str, now: datetime) -> Understood:
    """Read a network file as ``leernet check`` does; every problem in words."""
    try:
        loaded = parse_network(source, now=now)
    except NetworkFileError as exc:
        errors = tuple(f"{p.field}: {p.message}" if p.field else p.message for p in exc.problems)
        return Understood(source, None, errors, ())
    return Understood(source, loaded.network, (), tuple(loaded.warnings))


def provisional(network: Network, secret: str) -> Registered:
    """The network as it will be registered, to build the invite a participant will get."""
    members = tuple(
        Member(
            0,
            p.email.lower(),
            p.name,
            p.manager_name,
            p.manager_email,
            participant_token(secret, network.slug, p.email),
            removed=False,
            bounced=False,
        )
        for p in network.participants
    )
    return Registered(0, network, 0, members)
