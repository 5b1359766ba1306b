"""The one error tree of leernet.

::

    LeernetError
    ├── SettingsError             a setting the service cannot run with (named by its variable)
    ├── NetworkFileError          a network file is wrong (carries every problem with its field)
    ├── StoreError                the database cannot be used (locked, full, wrong schema)
    │   └── AlreadyRunning        another daemon holds the lock on this database
    ├── SendError                 the outbox could not hand a message over
    │   ├── SendDeferred          4xx, timeout or dropped connection: try again later
    │   └── SendRejected          5xx: the server refused, do not retry
    ├── MailboxError              the IMAP mailbox could not be used (login, folder, connection)
    ├── LoginRefused              a server or token endpoint said no to our credentials
    │   ├── MailboxLoginRefused   ... the IMAP server (also a MailboxError)
    │   └── SendLoginRefused      ... the SMTP server (also a SendDeferred: no message fails)
    ├── TokenError                no OAuth2 access token could be had (``refused``: said no)
    ├── ParseError                a reader of one mail's text or calendar failed (set aside)
    └── TemplateError             a template is missing or does not render

Errors carry fields, not only text, so the CLI can print them plainly and the
inbox can record why one mail was put aside.
"""

from __future__ import annotations

from dataclasses import dataclass


class LeernetError(Exception):
    """Base of every error leernet raises on purpose."""


class SettingsError(LeernetError):
    """A setting the service cannot run with; the message names its LEERNET_ variable."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a network file: where, and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class NetworkFileError(LeernetError, ValueError):
    """A network file is invalid; ``problems`` lists every problem found, each with its field."""

    def __init__(self, problems: list[Problem], path: str = "") -> None:
        self.problems = problems
        self.path = path
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path or 'network file'} is not valid:\n{lines}")


class StoreError(LeernetError):
    """The database cannot be used."""


class AlreadyRunning(StoreError):  # noqa: N818 - reads as a state, like asyncio's CancelledError
    """Another daemon already runs on this database."""


class SendError(LeernetError):
    """A message could not be handed to the SMTP server."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class SendDeferred(SendError):  # noqa: N818 - the outbox state it leads to
    """A temporary failure (4xx, timeout, dropped connection): try again later."""


class SendRejected(SendError):  # noqa: N818 - the outbox state it leads to
    """A permanent failure (5xx): the message is marked failed, never retried."""


class MailboxError(LeernetError):
    """The IMAP mailbox cannot be used (connection, login, folder)."""


class LoginRefused(LeernetError):  # noqa: N818 - reads as what happened, like AlreadyRunning
    """The server refused our password, token or client: only a person can fix that.

    Raised only on the server's own refusal (IMAP NO, SMTP 535, an OAuth2
    ``invalid_client``), never for a timeout or a lost connection.
    """


class MailboxLoginRefused(LoginRefused, MailboxError):  # noqa: N818 - as LoginRefused
    """The IMAP server (or its token endpoint) refused our credentials."""


class SendLoginRefused(LoginRefused, SendDeferred):
    """The SMTP server (or its token endpoint) refused our credentials; messages wait."""


class TokenError(LeernetError):
    """No OAuth2 access token: ``refused`` when the endpoint said no, else it was unreachable."""

    def __init__(self, message: str, *, refused: bool) -> None:
        self.refused = refused
        super().__init__(message)


class ParseError(LeernetError):
    """A reader failed on one mail's text or calendar; the mail is set aside, never answered.

    ``reason`` says which reader and why; a bug must not look like "nothing was written".
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TemplateError(LeernetError):
    """A template is missing, or fails to render for a network."""

    def __init__(self, message: str, *, template: str = "") -> None:
        self.template = template
        super().__init__(f"{template}: {message}" if template else message)
