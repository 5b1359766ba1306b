"""``leernet demo``: a whole network's life, from the invites to the manager summaries, in a minute.

Everything real runs: the network file is checked and started, the service's
planner, outbox and inbox talk SMTP and IMAP to embedded servers, and
simulated participants answer in the shapes Outlook, Gmail, Apple Mail and
Thunderbird use. Only the clock is simulated: it starts now and jumps from one
due moment to the next, so six months of sessions take seconds, not weeks.
"""

from __future__ import annotations

import mailbox
import re
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosmtplib
from pydantic import SecretStr
from rich.console import Console

from leernet.daemon import Service
from leernet.demo.cast import Cast, Planned
from leernet.demo.people import bounce
from leernet.demo.servers import (
    DEMO_PASSWORD,
    DEMO_USER,
    Appender,
    Delivered,
    MailWorld,
    imap_server,
    smtp_server,
)
from leernet.network.load import load_network
from leernet.network.model import Session
from leernet.organiser import report
from leernet.organiser.commands import start_network
from leernet.records import service as stored
from leernet.settings import Security, Settings
from leernet.store import open_store

SERVICE = "netwerk@example.org"
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2})?\b")


class Clock:
    """The demo's clock: starts at the real now and only ever moves forward."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        """The virtual now."""
        return self.t

    def advance_to(self, moment: datetime) -> None:
        """Jump to ``moment`` (never back)."""
        self.t = max(self.t, moment)


def example_source() -> str:
    """The example network file's text (from the checkout, or from the package)."""
    repo = Path(__file__).resolve().parents[2] / "config" / "network.example.toml"
    if repo.is_file():
        return repo.read_text(encoding="utf-8")
    return (
        resources.files("leernet.demo").joinpath("network.example.toml").read_text(encoding="utf-8")
    )


def shifted(source: str, first_day: date) -> str:
    """The example with every date moved so that its first session falls on ``first_day``."""
    firsts = re.search(r"^first\s*=\s*(\d{4}-\d{2}-\d{2})", source, re.MULTILINE)
    if firsts is None:
        return source
    delta = first_day - date.fromisoformat(firsts.group(1))

    def move(m: re.Match[str]) -> str:
        return (date.fromisoformat(m.group(1)) + delta).isoformat() + (m.group(2) or "")

    return _DATE.sub(move, source)


def demo_settings(folder: Path, smtp_port: int, imap_port: int) -> Settings:
    """Settings for the embedded servers on these ports, with the store in ``folder``."""
    return Settings(
        _env_file=None,
        service_address=SERVICE,
        service_name="Lerend netwerk",
        secret=SecretStr("demo-secret-only-for-the-embedded-servers"),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security=Security.NONE,
        smtp_timeout=10,
        imap_host="127.0.0.1",
        imap_port=imap_port,
        imap_security=Security.NONE,
        imap_user=DEMO_USER,
        imap_password=SecretStr(DEMO_PASSWORD),
        imap_timeout=10,
        database_url=f"sqlite+aiosqlite:///{folder / 'leernet.db'}",
    )


class Demo:
    """One run of the demo: servers, service, cast and clock."""

    def __init__(self, folder: Path, console: Console, *, fast: bool) -> None:
        self.folder = folder
        self.console = console
        self.fast = fast
        self.seen_outbox = 0
        self.seen_inbox = 0
        self.upcoming: list[Session] = []

    async def run(self) -> int:
        """Run the network's whole life; the exit code."""
        started = time.monotonic()
        real_now = datetime.now(UTC).replace(microsecond=0)
        clock = Clock(real_now)
        self.folder.mkdir(parents=True, exist_ok=True)
        network_file = self.folder / "network.toml"
        first_day = (real_now + timedelta(days=3)).date()
        network_file.write_text(shifted(example_source(), first_day), encoding="utf-8")
        network = load_network(network_file).network
        cast = Cast(network, SERVICE)
        self.upcoming = sorted(network.active_sessions, key=lambda s: s.start)
        quiet = Console(file=open(self.folder / "start.log", "w", encoding="utf-8"), width=100)  # noqa: SIM115, PTH123
        async with imap_server() as imap_port, Appender(imap_port) as append:
            bounced = network.participants[-1].email.lower()

            async def on_bounce(item: Delivered) -> None:
                dsn = bounce(
                    item.data,
                    failed_recipient=item.recipient,
                    reporting_mta="mx.demo.invalid",
                    date=clock.now(),
                    message_id=f"<dsn.{len(world.transcript)}@mx.demo.invalid>",
                )
                world.transcript.append(Delivered("", SERVICE, dsn))
                await append(dsn)

            world = MailWorld(SERVICE, append, bounce_addresses={bounced}, on_bounce=on_bounce)
            async with smtp_server(world) as smtp_port:
                settings = demo_settings(self.folder, smtp_port, imap_port)
                self.console.rule(f"[bold]leernet demo[/bold]: {network.name}")
                self.console.print(
                    f"SMTP 127.0.0.1:{smtp_port} · IMAP 127.0.0.1:{imap_port} · database {self.folder / 'leernet.db'}"
                )
                await start_network(
                    network_file, settings, clock.now(), quiet, dry_run=False, out_dir=None
                )
                quiet.file.close()
                self.console.print(
                    f"[green]started[/green] {network.slug}: {len(network.participants)} participants, "
                    f"{len(network.sessions)} sessions from {network.local(network.first_start):%d/%m/%Y}"
                )
                engine = await open_store(settings.database_url)
                try:
                    service = Service(engine, settings, clock.now)
                    await self.live(service, world, cast, clock, network)
                    async with engine.connect() as conn:
                        self.console.rule("leernet status " + network.slug)
                        report.render_status(await report.status(conn, network.slug), self.console)
                        export = report.export_json(await report.export(conn, network.slug))
                    (self.folder / "export.json").write_text(export, encoding="utf-8")
                finally:
                    await engine.dispose()
        self.write_mail(world)
        took = time.monotonic() - started
        self.console.print(
            f"[bold green]done[/bold green] in {took:.0f} s: {len(world.transcript)} messages exchanged, "
            f"written to [bold]{self.folder}[/bold] (mail/*.eml, demo.mbox, export.json)"
        )
        return 0

    async def live(
        self, service: Service, world: MailWorld, cast: Cast, clock: Clock, network: object
    ) -> None:
        """Run the service until every message of this moment is sent and every reply read."""
        from leernet.network.model import Network  # noqa: PLC0415

        assert isinstance(network, Network)
        growth = [p.growth_conversation for p in network.participants if p.growth_conversation]
        end = network.last_end + timedelta(days=12)
        if growth:
            end = max(
                end, datetime.combine(max(growth), datetime.min.time(), UTC) + timedelta(days=1)
            )
        delivered = 0
        for _ in range(2000):  # bounded: the demo always ends
            next_due = await service.plan_once()
            await service.send_once()
            for item in world.transcript[delivered:]:
                cast.read(item.recipient, item.data, clock.now())
            delivered = len(world.transcript)
            replies = cast.due(clock.now())
            for planned in replies:
                await aiosmtplib.send(
                    planned.raw,
                    sender=planned.sender,
                    recipients=[_to(planned.raw)],
                    hostname="127.0.0.1",
                    port=world_port(service),
                    local_hostname="client.demo.invalid",
                    timeout=10,
                )
            if replies or len(world.transcript) > delivered:
                await service.inbox.run_once()
                await service.plan_once()
                await service.send_once()
            await self.progress(service, clock, replies)
            candidates = [
                c for c in (next_due, await service.next_retry(), cast.next_time()) if c is not None
            ]
            future = [c for c in candidates if c > clock.now()]
            if not future and not replies:
                if clock.now() >= end:
                    break
                clock.advance_to(min(end, clock.now() + timedelta(days=1)))
                continue
            if future:
                clock.advance_to(min(future))
            if clock.now() > end + timedelta(days=200):
                break

    async def progress(self, service: Service, clock: Clock, replies: Sequence[Planned]) -> None:
        """Print what the service did at this moment."""
        async with service.engine.connect() as conn:
            sent = await stored.sent_after(conn, self.seen_outbox)
            received = await stored.processed_after(conn, self.seen_inbox)
        while self.upcoming and self.upcoming[0].start <= clock.now():
            s = self.upcoming.pop(0)
            when_local = s.start.astimezone(_zone()).strftime("%a %d %b %Y %H:%M")
            extra = f" · {s.work_form}" if s.work_form else ""
            self.console.rule(
                f"[bold]session {s.number}[/bold] ({s.kind.value}): {s.title}, {when_local}{extra}",
                align="left",
            )
        if not sent and not received and not replies:
            return
        when = clock.now().astimezone(_zone()).strftime("%a %d %b %Y %H:%M")
        parts = []
        if sent:
            self.seen_outbox = sent[-1][0]
            kinds = Counter(kind for _, kind in sent)
            parts.append("sent " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
        if received:
            self.seen_inbox = received[-1][0]
            outcomes = Counter(outcome for _, outcome in received)
            parts.append("received " + ", ".join(f"{n} {k}" for k, n in outcomes.items()))
        self.console.print(f"[dim]{when}[/dim]  " + " · ".join(parts))
        for p in replies if not self.fast else ():
            self.console.print(f"             [cyan]{p.sender}[/cyan] {p.label}")

    def write_mail(self, world: MailWorld) -> None:
        """Write every message exchanged as .eml files and one mbox."""
        mail_dir = self.folder / "mail"
        mail_dir.mkdir(exist_ok=True)
        box = mailbox.mbox(str(self.folder / "demo.mbox"))
        box.lock()
        try:
            for i, item in enumerate(world.transcript, start=1):
                name = re.sub(r"[^A-Za-z0-9@._+-]+", "_", item.recipient)[:60]
                (mail_dir / f"{i:04d}-to-{name}.eml").write_bytes(item.data)
                box.add(mailbox.mboxMessage(item.data))
            box.flush()
        finally:
            box.unlock()
            box.close()


def _zone() -> ZoneInfo:
    return ZoneInfo("Europe/Brussels")


def _to(raw: bytes) -> str:
    from email.parser import BytesHeaderParser  # noqa: PLC0415
    from email.policy import compat32  # noqa: PLC0415
    from email.utils import parseaddr  # noqa: PLC0415

    head = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return parseaddr(str(head.get("To", "")))[1]


def world_port(service: Service) -> int:
    """The port of the demo's IMAP server."""
    return service.settings.smtp_port


async def run_demo(out_dir: Path | None, *, fast: bool, console: Console) -> int:
    """Run the demo in ``out_dir`` (or a new folder); the exit code."""
    folder = out_dir or Path.cwd() / f"leernet-demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    return await Demo(folder, console, fast=fast).run()
