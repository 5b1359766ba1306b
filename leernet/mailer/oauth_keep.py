"""A refresh token the OAuth2 endpoint rotated, kept in the store across restarts.

RFC 6749 6: a token endpoint may hand out a new refresh token with each access
token and stop taking the old one. It is kept in ``service_state`` (owner-only,
like the rest of the database), never in a file beside the settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from leernet.mailer.oauth import TokenSource
from leernet.mailer.oauth_providers import GenericProvider
from leernet.settings import Settings
from leernet.store import state


async def keep_rotated_refresh_token(
    engine: AsyncEngine, settings: Settings, tokens: TokenSource, now: Callable[[], datetime]
) -> None:
    """Continue from the refresh token the endpoint rotated last run, and keep the next.

    RFC 6749 6: a token endpoint may hand out a new refresh token with each access
    token and stop taking the old one. It is kept in the store (``service_state``),
    never in a file beside the settings. A newly configured token wins over a kept one.
    """
    provider = tokens.provider
    if not isinstance(provider, GenericProvider):
        return
    configured = settings.oauth_refresh_token.get_secret_value()
    if not configured:
        return
    origin = hashlib.sha256(configured.encode()).hexdigest()
    async with engine.connect() as conn:
        known = await state.read(conn)
    kept, kept_origin = known.get(state.REFRESH_TOKEN), known.get(state.REFRESH_ORIGIN)
    if kept is not None and kept_origin is not None and kept_origin[0] == origin:
        provider.resume(kept[0])
    last = provider.refresh_token

    async def keep() -> None:
        nonlocal last
        if provider.refresh_token == last:
            return
        async with engine.begin() as conn:
            await state.mark(conn, state.REFRESH_TOKEN, now(), provider.refresh_token)
            await state.mark(conn, state.REFRESH_ORIGIN, now(), origin)
        last = provider.refresh_token

    tokens.on_fetched = keep
