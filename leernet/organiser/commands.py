"""What the organiser's commands do (``cli.py`` only parses arguments and prints errors)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leernet.errors import LeernetError, NetworkFileError, Problem
from leernet.mailer.queue import Outgoing, enqueue
from leernet.messages import samples
from leernet.messages.change_text import organiser_sentences, session_sentences
from leernet.messages.factory import Factory
from leernet.messages.kinds import Kind
from leernet.network.changes import Changes, diff
from leernet.network.load import load_network, with_registered_slots
from leernet.network.model import Network, Participant, Person
from leernet.organiser.show import show_network
from leernet.organiser.terminal import esc
from leernet.records import erasure, facts, networks, registration, sent_mail
from leernet.settings import Settings
from leernet.store import open_store, private
from leernet.store.engine import sqlite_path


class _Rollback(Exception):  # noqa: N818 - control flow for --dry-run, never escapes
    pass


def check_network(
    path: Path, settings: Settings, now: datetime, out: Console, err: Console
) -> Network:
    """``leernet check``: validate, show, and render every template once; the network."""
    loaded = load_network(path, now=now)
    show_network(loaded.network, out)
    factory = Factory(settings)
    problems = factory.renderer.check_all(
        loaded.network.language, samples.sample_contexts(loaded.network)
    )
    if problems:
        raise NetworkFileError(
            [Problem(f"template {p.template}", str(p)) for p in problems], str(path)
        )
    warnings = [*loaded.warnings, *([w] if (w := settings.authserv_warning()) else [])]
    for w in warnings:
        err.print(f"[yellow]warning[/yellow] {esc(w)}")
    out.print(f"[green]{esc(path)} is valid[/green] ({len(warnings)} warning(s))")
    return loaded.network


@contextlib.asynccontextmanager
async def _store(
    settings: Settings, *, dry_run: bool, must_exist: bool = False
) -> AsyncIterator[AsyncEngine]:
    url = settings.database_url
    path = sqlite_path(url)
    if path is not None and not path.exists():
        if must_exist:
            raise LeernetError(f"no database at {path}: start a network first (leernet start)")
        if dry_run:
            url = "sqlite+aiosqlite:///:memory:"  # a dry run leaves no database behind
    engine = await open_store(url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]+", "_", text)[:80]


def write_eml(out_dir: Path, messages: Sequence[Outgoing]) -> list[Path]:
    """Write each message as an .eml file in ``out_dir`` (``--dry-run --out``)."""
    private.make_dirs(out_dir)
    written = []
    for i, m in enumerate(messages, start=1):
        path = out_dir / f"{i:03d}-{_safe(m.kind)}-{_safe(m.recipient)}.eml"
        private.write_bytes(path, m.raw)  # every participant's reply token is in these
        written.append(path)
    return written


def manager_notes(
    factory: Factory, reg: networks.Registered, people: Sequence[Participant], now: datetime
) -> list[Outgoing]:
    """The notes to the managers of these participants, one per manager."""
    by_manager: dict[str, tuple[Person, list[Participant]]] = {}
    for p in people:
        if not p.manager_email:
            continue
        entry = by_manager.setdefault(
            p.manager_email.lower(), (Person(p.manager_name, p.manager_email), [])
        )
        entry[1].append(p)
    return [factory.manager_start(reg, m, staff, now) for m, staff in by_manager.values()]


def start_messages(factory: Factory, reg: networks.Registered, now: datetime) -> list[Outgoing]:
    """What starting a network sends: every participant's invite, one note per manager."""
    messages = [factory.invite(reg, m, now) for m in reg.active_members]
    return messages + manager_notes(factory, reg, reg.network.participants, now)


async def _queue(
    conn: AsyncConnection,
    messages: list[Outgoing],
    now: datetime,
    out: Console,
    *,
    dry_run: bool,
    out_dir: Path | None,
) -> None:
    if dry_run:
        assert out_dir is not None
        paths = write_eml(out_dir, messages)
        out.print(
            f"dry run: wrote {len(paths)} message(s) to {esc(out_dir)}; nothing was sent or saved"
        )
        raise _Rollback
    new = await enqueue(conn, messages, now)
    out.print(f"queued {new} message(s); [bold]leernet run[/bold] sends them")


async def start_network(
    path: Path,
    settings: Settings,
    now: datetime,
    out: Console,
    *,
    dry_run: bool,
    out_dir: Path | None,
) -> None:
    """``leernet start``: register the network and queue its invites and manager notes."""
    network = check_network(path, settings, now, out, out)
    source = path.read_text(encoding="utf-8")
    factory = Factory(settings)
    async with _store(settings, dry_run=dry_run) as engine:
        with contextlib.suppress(_Rollback):
            async with engine.begin() as conn:
                if await networks.get(conn, network.slug) is not None:
                    raise LeernetError(
                        f"network {network.slug!r} is already registered: use leernet update {path}"
                    )
                reg = await registration.register(conn, network, source, factory.secret, now)
                messages = start_messages(factory, reg, now)
                out.print(
                    f"{esc(network.slug)}: {len(reg.active_members)} invite(s), "
                    f"{len(messages) - len(reg.active_members)} manager note(s)"
                )
                await _queue(conn, messages, now, out, dry_run=dry_run, out_dir=out_dir)


async def update_network(
    path: Path,
    settings: Settings,
    now: datetime,
    out: Console,
    *,
    dry_run: bool,
    out_dir: Path | None,
) -> None:
    """``leernet update``: save the changed file and queue the updates, cancels and new invites."""
    loaded = load_network(path, now=now)
    factory = Factory(settings)
    async with _store(settings, dry_run=dry_run, must_exist=True) as engine:
        with contextlib.suppress(_Rollback):
            async with engine.begin() as conn:
                reg = await networks.get(conn, loaded.network.slug)
                if reg is None:
                    raise LeernetError(
                        f"network {loaded.network.slug!r} is not registered: use leernet start {path}"
                    )
                for w in loaded.warnings:
                    out.print(f"[yellow]warning[/yellow] {esc(w)}")
                source = path.read_text(encoding="utf-8")
                updated = await apply_update(
                    conn, factory, reg, loaded.network, source=source, now=now
                )
                if updated is None:
                    out.print(f"{esc(reg.slug)}: nothing changed")
                    return
                for sentence in updated.sentences:
                    out.print(f"  • {esc(sentence)}")
                await _queue(conn, updated.messages, now, out, dry_run=dry_run, out_dir=out_dir)


@dataclass(frozen=True, slots=True)
class Updated:
    """What an update changed, in words, and the messages that say so to people."""

    sentences: list[str]
    messages: list[Outgoing]


async def apply_update(
    conn: AsyncConnection,
    factory: Factory,
    reg: networks.Registered,
    network: Network,
    *,
    source: str,
    now: datetime,
) -> Updated | None:
    """Save the changed network and build its updates and cancellations; None if nothing changed.

    Raises ``NetworkFileError`` for a change the series cannot take. The caller
    queues the messages (``leernet update`` and a change confirmed by mail alike).
    """
    new = with_registered_slots(network, reg.network.series)
    changes = diff(reg.network, new, await facts.answered_questions(conn, reg.id))
    if changes.empty:
        return None
    reg2 = await registration.save_update(
        conn,
        reg=reg,
        new=new,
        source=source,
        changes=changes,
        secret=factory.secret,
        now=now,
    )
    messages = _update_messages(factory, reg, reg2, changes, now)
    if changes.removed:
        await sent_mail.cancel_waiting(conn, reg2.id, [p.email for p in changes.removed])
    return Updated(organiser_sentences(changes, new), messages)


def _update_messages(
    factory: Factory,
    before: networks.Registered,
    reg: networks.Registered,
    changes: Changes,
    now: datetime,
) -> list[Outgoing]:
    net = reg.network
    added = {p.email.lower() for p in changes.added}
    removed = {p.email.lower() for p in changes.removed}
    staying = [m for m in reg.active_members if m.email not in added]
    messages: list[Outgoing] = []
    sentences = session_sentences(changes, net, net.language)
    if (
        changes.moved
        or changes.retitled
        or changes.details
        or changes.restored
        or changes.network_text
    ):
        messages += [
            factory.invite(reg, m, now, kind=Kind.INVITE_UPDATE, changes=sentences) for m in staying
        ]
    for session in changes.cancelled:
        messages += [
            factory.cancel(reg, m, now, session=session, changes=sentences) for m in staying
        ]
    messages += [factory.invite(reg, m, now) for m in reg.active_members if m.email in added]
    messages += manager_notes(factory, reg, changes.added, now)
    # A new manager hears what the network is, as the first one did at the start.
    queued = {m.key for m in messages}
    messages += [
        m for m in manager_notes(factory, reg, changes.new_managers, now) if m.key not in queued
    ]
    for m in before.members:
        if m.email in removed and not m.removed:
            gone = reg.member(m.email) or m
            messages.append(factory.cancel(reg, gone, now, session=None))
    return messages


async def show_status(slug: str, settings: Settings, out: Console) -> None:
    """``leernet status``: print the network's tables."""
    from leernet.organiser import report  # noqa: PLC0415

    async with _store(settings, dry_run=False, must_exist=True) as engine, engine.connect() as conn:
        report.render_status(await report.status(conn, slug), out)


async def export_network(slug: str, settings: Settings, fmt: str) -> bytes:
    """``leernet export``: the network's data as JSON or CSV."""
    from leernet.organiser import report  # noqa: PLC0415

    async with _store(settings, dry_run=False, must_exist=True) as engine, engine.connect() as conn:
        data = await report.export(conn, slug)
        if fmt == "json":
            return report.export_json(data).encode("utf-8")
        reg = await networks.get(conn, slug)
        assert reg is not None
        return report.export_csv(data, reg)


async def erase_participant(slug: str, email: str, settings: Settings, out: Console) -> None:
    """``leernet erase``: erase what a participant sent and what waits for them."""
    async with _store(settings, dry_run=False, must_exist=True) as engine, engine.begin() as conn:
        reg = await networks.get(conn, slug)
        if reg is None:
            raise LeernetError(f"no network {slug!r} is registered")
        pid = await erasure.erase_participant(conn, reg.id, email)
        if pid is None:
            raise LeernetError(f"{email} is not a participant of {slug}")
    out.print(
        f"erased the answers, replies and raw mail of {esc(email)} in {esc(slug)};"
        " their pending messages are cancelled"
    )


async def purge_network(
    slug: str, out_file: Path, settings: Settings, now: datetime, out: Console, *, force: bool
) -> None:
    """``leernet purge``: export, then blank the network's free text after the retention period."""
    from datetime import timedelta  # noqa: PLC0415

    from leernet.organiser import report  # noqa: PLC0415

    async with _store(settings, dry_run=False, must_exist=True) as engine:
        async with engine.connect() as conn:
            reg = await networks.get(conn, slug)
            if reg is None:
                raise LeernetError(f"no network {slug!r} is registered")
            if now < reg.network.last_end:
                raise LeernetError(
                    f"{slug} has not ended yet (last session {reg.network.last_end:%Y-%m-%d})"
                )
            keep_until = reg.network.last_end + timedelta(days=settings.retention_days)
            if now < keep_until and not force:
                raise LeernetError(
                    f"{slug} is kept until {keep_until:%Y-%m-%d} (LEERNET_RETENTION_DAYS="
                    f"{settings.retention_days}); use --force to purge earlier"
                )
            data = await report.export(conn, slug)
        # The organiser's copy is written before anything is deleted.
        private.write_bytes(out_file, report.export_json(data).encode("utf-8"))
        async with engine.begin() as conn:
            await erasure.purge_network(conn, reg.id, now)
    out.print(f"exported {esc(slug)} to {esc(out_file)}, then deleted its free text and raw mail")
