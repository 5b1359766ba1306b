"""Per-participant reply tokens and the plus-addresses that carry them.

A token is an HMAC-SHA256 of the secret over the network slug and the
participant's address, truncated to 130 bits and written in lowercase base32
(26 characters), so it survives mail systems that fold the local part to
lower case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

TOKEN_LENGTH = 26  # 26 base32 characters = 130 bits (DESIGN.md asks for at least 128)
_TOKEN_RE = re.compile(r"^[a-z2-7]{26}$")


def participant_token(secret: str, slug: str, email: str) -> str:
    """Return the reply token of ``email`` in network ``slug``."""
    mac = hmac.new(
        secret.encode("utf-8"),
        f"leernet-token\0{slug}\0{email.strip().lower()}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.b32encode(mac).decode("ascii").lower()[:TOKEN_LENGTH]


def token_matches(secret: str, slug: str, email: str, token: str) -> bool:
    """Whether ``token`` is the valid token of ``email`` in ``slug`` (constant time)."""
    return hmac.compare_digest(participant_token(secret, slug, email), token.lower())


def reply_address(service_address: str, token: str) -> str:
    """``netwerk@example.org`` + token -> ``netwerk+TOKEN@example.org``."""
    local, _, domain = service_address.rpartition("@")
    return f"{local}+{token}@{domain}"


def token_from_address(service_address: str, address: str) -> str | None:
    """The token in a plus-address of the service mailbox, or None.

    ``address`` must be a bare address (already parsed). The comparison of the
    local part and domain is case-insensitive, as most mail servers treat it.
    """
    local, _, domain = service_address.lower().rpartition("@")
    a_local, sep, a_domain = address.strip().lower().rpartition("@")
    if not sep or a_domain != domain:
        return None
    base, plus, token = a_local.partition("+")
    if not plus or base != local or not _TOKEN_RE.match(token):
        return None
    return token
