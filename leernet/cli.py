"""The command line: check, start, update, run, status, export, erase, purge, demo.

Each command builds the one ``Settings`` object and hands it down (STYLE rule 10);
errors of the ``LeernetError`` tree are printed plainly, without a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console

from leernet.errors import LeernetError, NetworkFileError
from leernet.organiser.terminal import esc
from leernet.settings import Settings
from leernet.store.private import write_bytes

F = TypeVar("F", bound=Callable[..., Any])
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def now_utc() -> datetime:
    """The one place the system clock is read (libfaketime moves it for replays)."""
    return datetime.now(UTC)


def load_settings() -> Settings:
    """Settings from the environment and ``.env``; a bad value is a one-line error."""
    try:
        return Settings()
    except ValidationError as exc:
        for e in exc.errors():
            field = ".".join(str(x) for x in e["loc"])
            where = f"setting LEERNET_{field.upper()}" if field else "settings"
            err.print(f"[red]{where}:[/red] {esc(str(e['msg']).removeprefix('Value error, '))}")
        raise SystemExit(2) from None


def friendly(fn: F) -> F:
    """Print a LeernetError as one clear message and exit 1; anything else is a bug: exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NetworkFileError as exc:
            err.print(
                f"[red]{esc(exc.path or 'network file')} is not valid[/red]"
                f" ({len(exc.problems)} problem(s)):"
            )
            for p in exc.problems:
                err.print(f"  [bold]{esc(p.field or '(file)')}[/bold]: {esc(p.message)}")
            raise SystemExit(1) from None
        except LeernetError as exc:
            err.print(f"[red]error:[/red] {esc(exc)}")
            raise SystemExit(1) from None
        except Exception:
            # Not bad input but a bug: the traceback is what a developer needs, exit 2.
            traceback.print_exc()
            err.print("[red]leernet stopped on an unexpected error[/red] (a bug; please report it)")
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="leernet")
def main() -> None:
    """leernet: learning networks (lerende netwerken) over email and calendars."""


@main.command()
@click.argument("network_file", type=click.Path(dir_okay=False, path_type=Path))
@friendly
def check(network_file: Path) -> None:
    """Validate NETWORK_FILE, show it as participants will see it, and print warnings."""
    from leernet.organiser.commands import check_network  # noqa: PLC0415 - keep start-up light

    settings = load_settings()
    check_network(network_file, settings, now_utc(), out, err)


@main.command()
@click.argument("network_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Write the messages as .eml files; send nothing.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@friendly
def start(network_file: Path, dry_run: bool, out_dir: Path | None) -> None:
    """Register the network and queue the invites and manager notes."""
    from leernet.organiser.commands import start_network  # noqa: PLC0415

    if dry_run and out_dir is None:
        raise click.UsageError("--dry-run needs --out DIR")
    settings = load_settings()
    asyncio.run(
        start_network(network_file, settings, now_utc(), out, dry_run=dry_run, out_dir=out_dir)
    )


@main.command()
@click.argument("network_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Write the messages as .eml files; change nothing.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@friendly
def update(network_file: Path, dry_run: bool, out_dir: Path | None) -> None:
    """Compare NETWORK_FILE with the registered network and queue what changed."""
    from leernet.organiser.commands import update_network  # noqa: PLC0415

    if dry_run and out_dir is None:
        raise click.UsageError("--dry-run needs --out DIR")
    settings = load_settings()
    asyncio.run(
        update_network(network_file, settings, now_utc(), out, dry_run=dry_run, out_dir=out_dir)
    )


@main.command()
@click.option(
    "--once", is_flag=True, help="One planner pass, drain the outbox, read the inbox once, exit."
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
@click.option("--no-inbox", is_flag=True, help="Do not read the IMAP mailbox (sending only).")
@friendly
def run(once: bool, log_format: str, no_inbox: bool) -> None:
    """Run the service: planner, sender and receiver."""
    from leernet.daemon import run_daemon  # noqa: PLC0415
    from leernet.logs import setup_logging  # noqa: PLC0415
    from leernet.ops.watchdog import Notifier  # noqa: PLC0415

    setup_logging(log_format)
    settings = load_settings()
    # systemd's own variables (sd_notify(3)), not settings: where to say READY and WATCHDOG.
    notifier = Notifier.from_environment(dict(os.environ))
    code = asyncio.run(
        run_daemon(settings, once=once, inbox=not no_inbox, console=out, notifier=notifier)
    )
    sys.exit(code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The same facts as JSON, for monitoring.")
@friendly
def health(as_json: bool) -> None:
    """Exit 0 when the service is well; otherwise one line per problem and exit 1."""
    import json  # noqa: PLC0415

    from leernet.ops.health import check, lines  # noqa: PLC0415

    found = asyncio.run(check(load_settings(), now_utc()))
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=2))
    else:
        for line in lines(found):
            click.echo(line)
    sys.exit(0 if found.well else 1)


@main.command()
@click.argument("slug")
@friendly
def status(slug: str) -> None:
    """Attendance and evaluations of a network, per session and per participant."""
    from leernet.organiser.commands import show_status  # noqa: PLC0415

    asyncio.run(show_status(slug, load_settings(), out))


@main.command()
@click.argument("slug")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@friendly
def export(slug: str, fmt: str, out_file: Path | None) -> None:
    """Export attendance and evaluations (JSON, or CSV for Excel)."""
    from leernet.organiser.commands import export_network  # noqa: PLC0415

    data = asyncio.run(export_network(slug, load_settings(), fmt))
    if out_file is None:
        sys.stdout.buffer.write(data)
    else:
        write_bytes(out_file, data)
        err.print(f"written to {esc(out_file)}")


@main.command()
@click.argument("slug")
@click.option("--participant", "email", required=True, help="The participant's email address.")
@friendly
def erase(slug: str, email: str) -> None:
    """Delete a participant's answers and raw mail, and cancel their pending messages."""
    from leernet.organiser.commands import erase_participant  # noqa: PLC0415

    asyncio.run(erase_participant(slug, email, load_settings(), out))


@main.command()
@click.argument("slug")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where the organiser's export is written before anything is deleted.",
)
@click.option("--force", is_flag=True, help="Purge even before the retention period has passed.")
@friendly
def purge(slug: str, out_file: Path, force: bool) -> None:
    """After the network's end: export, then delete free text and raw mail."""
    from leernet.organiser.commands import purge_network  # noqa: PLC0415

    asyncio.run(purge_network(slug, out_file, load_settings(), now_utc(), out, force=force))


@main.group()
def auth() -> None:
    """The mailbox login (password or OAuth2)."""


@auth.command("check")
@friendly
def auth_check() -> None:
    """Say which login is configured, get a token, and log in to IMAP and SMTP with it."""
    from leernet.ops.authcheck import check as check_login  # noqa: PLC0415
    from leernet.ops.authcheck import show  # noqa: PLC0415

    if not show(asyncio.run(check_login(load_settings())), out):
        raise SystemExit(1)


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the exchanged messages (default: a new folder here).",
)
@click.option("--fast", is_flag=True, help="A shorter run (for tests).")
@friendly
def demo(out_dir: Path | None, fast: bool) -> None:
    """Run a whole network's life in about two minutes on embedded mail servers."""
    try:
        from leernet.demo.run import run_demo  # noqa: PLC0415 - its servers are an optional extra
    except ModuleNotFoundError as e:
        if e.name not in {"aiosmtpd", "pymap"}:
            raise
        raise LeernetError(
            f"leernet demo needs its embedded mail servers ({e.name} is missing): "
            "pip install 'leernet[demo]', or run it from a checkout with `uv run leernet demo`"
        ) from None

    sys.exit(asyncio.run(run_demo(out_dir, fast=fast, console=out)))
