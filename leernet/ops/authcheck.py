"""``leernet auth check``: which login is configured, and whether it works, in words.

It obtains a token (when OAuth2 is configured) and logs in to IMAP and SMTP
with it, as the daemon would, and says for each step what failed and what to
look at. Nothing it prints contains a secret or a token: every line passes
through ``_Scrub``, which blanks the values it knows, as a second guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape

from leernet.errors import (
    LoginRefused,
    MailboxError,
    SendError,
    TokenError,
)
from leernet.mailer.imap import ImapSession
from leernet.mailer.oauth import TokenSource
from leernet.mailer.smtp import SmtpSession
from leernet.settings import Auth, OAuthProvider, Settings

if TYPE_CHECKING:
    from rich.console import Console

_HINTS = {
    OAuthProvider.MICROSOFT: (
        "Exchange Online refused the token: register the app's service principal in "
        "Exchange (New-ServicePrincipal), give it FullAccess to this mailbox "
        "(Add-MailboxPermission), and grant IMAP.AccessAsApp / SMTP.SendAsApp with admin "
        "consent; for SMTP, SMTP AUTH must be on for the mailbox"
    ),
    OAuthProvider.GOOGLE: (
        "Gmail refused the token: check the domain-wide delegation of the client id for "
        "https://mail.google.com/, and that the mailbox exists and has IMAP on"
    ),
}
_GENERIC_HINT = "the server refused the token: does it accept tokens of this endpoint for {user}?"
_LOGIN_HINT = "the server refused the user name or password"


_SHOWN = 4  # a secret this long or longer shows its last characters only


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the report: what was tried, whether it worked, and in words why."""

    name: str
    ok: bool
    words: str


def _ok(name: str, words: str) -> Step:
    return Step(name, ok=True, words=words)


def _fail(name: str, words: str) -> Step:
    return Step(name, ok=False, words=words)


class _Scrub:
    """Blanks every secret and token we know of from a text (a second guard)."""

    def __init__(self, settings: Settings) -> None:
        self.values = {
            v
            for v in (
                settings.imap_password.get_secret_value(),
                settings.smtp_password.get_secret_value(),
                settings.oauth_client_secret.get_secret_value(),
                settings.oauth_refresh_token.get_secret_value(),
            )
            if len(v) >= _SHOWN
        }

    def __call__(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, "[hidden]")
        return text


async def check(settings: Settings) -> list[Step]:
    """Try the configured login flow step by step; the report's lines, in order."""
    scrub = _Scrub(settings)
    steps: list[Step] = []
    oauth = Auth.XOAUTH2 in {settings.imap_auth, settings.smtp_auth}
    source: TokenSource | None = None
    if oauth:
        try:
            source = TokenSource.from_settings(settings)
        except TokenError as exc:
            steps.append(_fail("flow", str(exc)))
            return _scrubbed(steps, scrub)
        assert source is not None
        steps.append(_ok("flow", source.flow))
        try:
            token = await source.token()
        except TokenError as exc:
            steps.append(_fail("token", str(exc)))
            return _scrubbed(steps, scrub)
        scrub.values.add(token)
        steps.append(_ok("token", "obtained an access token"))
    else:
        steps.append(_ok("flow", "user name and password (LOGIN) for IMAP and SMTP"))
    steps.append(await _imap(settings, source))
    steps.append(await _smtp(settings, source))
    return _scrubbed(steps, scrub)


def _refusal(settings: Settings, auth: Auth, user: str) -> str:
    if auth is not Auth.XOAUTH2:
        return _LOGIN_HINT
    return _HINTS.get(settings.oauth_provider, _GENERIC_HINT.format(user=user))


async def _imap(settings: Settings, source: TokenSource | None) -> Step:
    where = f"{settings.imap_user}@{settings.imap_host}:{settings.imap_port}"
    try:
        session = await ImapSession.open(settings, source)
    except LoginRefused as exc:
        hint = _refusal(settings, settings.imap_auth, settings.imap_user)
        return _fail("imap", f"{where}: {hint} ({exc})")
    except MailboxError as exc:
        return _fail("imap", f"{where}: could not log in: {exc}")
    await session.logout()
    return _ok("imap", f"logged in to {where} ({settings.imap_auth})")


async def _smtp(settings: Settings, source: TokenSource | None) -> Step:
    user = settings.smtp_user or settings.service_address
    where = f"{user}@{settings.smtp_host}:{settings.smtp_port}"
    session = SmtpSession(settings, source)
    try:
        await session.open()
    except LoginRefused as exc:
        return _fail("smtp", f"{where}: {_refusal(settings, settings.smtp_auth, user)} ({exc})")
    except SendError as exc:
        return _fail("smtp", f"{where}: could not log in: {exc}")
    finally:
        await session.close()
    return _ok("smtp", f"logged in to {where} ({settings.smtp_auth})")


def _scrubbed(steps: list[Step], scrub: _Scrub) -> list[Step]:
    return [Step(s.name, ok=s.ok, words=scrub(s.words)) for s in steps]


def show(steps: list[Step], console: Console) -> bool:
    """Print the report; True when every step worked."""
    for step in steps:
        mark = "[green]ok[/green]  " if step.ok else "[red]fail[/red]"
        console.print(f"{mark} [bold]{step.name}[/bold]: {escape(step.words)}")
    return all(step.ok for step in steps)
