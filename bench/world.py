"""A benchmark world: many registered networks in a fresh SQLite store, and their settings.

Networks are written as TOML (the organiser's file), parsed and registered with
``leernet.records.networks.register`` in one transaction per 100, so every row is the
one the service would write. Network ``i`` has ``participants`` people and
``sessions`` sessions every two weeks; ``first`` decides whether it is running
or finished.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from leernet.network.load import parse_network
from leernet.records import registration
from leernet.records.networks import Registered
from leernet.settings import Security, Settings
from leernet.store import open_store

SECRET = "bench-secret-not-for-production"
SERVICE = "netwerk@example.org"
BRUSSELS = ZoneInfo("Europe/Brussels")
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)

FIRST = ("Bert", "Sofie", "Jan", "Els", "Tom", "Nathalie", "Pieter", "Lotte", "Kevin", "Ines")
LAST = ("Claes", "Maes", "Peeters", "Wouters", "Janssens", "Goossens", "Vermeulen", "Dumont")
DOMAINS = ("example.com", "example.be", "example.net", "example.org")


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "service_address": SERVICE,
        "service_name": "Lerend netwerk",
        "secret": SecretStr(SECRET),
        "smtp_host": "127.0.0.1",
        "smtp_port": 2525,
        "smtp_security": Security.NONE,
        "smtp_timeout": 30,
        "imap_host": "127.0.0.1",
        "imap_port": 1143,
        "imap_security": Security.NONE,
        "imap_user": "netwerk",
        "imap_password": SecretStr("secret"),
        "imap_timeout": 30,
        "database_url": "sqlite+aiosqlite:///:memory:",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def person(i: int, j: int) -> tuple[str, str]:
    first, last = FIRST[(i + j) % len(FIRST)], LAST[(i * 3 + j) % len(LAST)]
    return f"{first} {last}", f"{first.lower()}.{last.lower()}.{i}.{j}@{DOMAINS[j % 4]}"


def network_source(i: int, first: datetime, *, participants: int = 15, sessions: int = 8) -> str:
    """The TOML of network ``i``: sessions every two weeks from ``first`` (local wall time)."""
    local = first.astimezone(BRUSSELS)
    out = [
        "[network]",
        f'slug = "bench-{i:05d}"',
        f'name = "Lerend netwerk {i}: werkbaar werk"',
        'goal = "Van elkaar leren hoe we werkbaar werk concreet maken in onze organisaties."',
        'language = "nl"',
        'timezone = "Europe/Brussels"',
        'location = "Wetstraat 34, Brussel"',
        'online_url = "https://meet.example.org/werkbaar-werk"',
        "",
        "[organiser]",
        'name = "An Peeters"',
        f'email = "an.peeters.{i}@example.org"',
        "",
        "[schedule]",
        f"first = {local:%Y-%m-%dT%H:%M:00}",
        "every_weeks = 2",
        f"count = {sessions}",
        "minutes = 150",
    ]
    for n in range(1, sessions + 1):
        kind = "kickoff" if n == 1 else "closing" if n == sessions else "session"
        out += [
            "",
            "[[sessions]]",
            f"number = {n}",
            f'kind = "{kind}"',
            f'title = "Sessie {n}: werkdruk bespreekbaar maken"',
            'work_form = "Intervisie in kleine groepen"',
        ]
    for j in range(participants):
        name, email = person(i, j)
        out += [
            "",
            "[[participants]]",
            f'name = "{name}"',
            f'email = "{email}"',
            f'manager_name = "Carla Dewit {j % 3}"',
            f'manager_email = "carla.dewit.{i}.{j % 3}@example.com"',
        ]
    out += [
        "",
        "[followups]",
        "reminder_days_before = 2",
        "evaluation_hours_after = 1",
        "evaluation_reminder_days = 3",
        "manager_summary_days_before = 7",
        "",
    ]
    return "\n".join(out)


@dataclass(frozen=True, slots=True)
class World:
    path: Path
    registered: tuple[Registered, ...]

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"

    def copy(self, dest: Path) -> str:
        """A copy of the store (for one run that changes it); returns its URL."""
        shutil.copyfile(self.path, dest)
        return f"sqlite+aiosqlite:///{dest}"


async def build_world(
    folder: Path,
    networks: int,
    *,
    finished_share: float = 0.0,
    participants: int = 15,
    sessions: int = 8,
    now: datetime = NOW,
    start_days: int | None = None,
) -> World:
    """``networks`` networks registered in ``folder/leernet.db``; the first share finished long ago.

    Running networks start between 20 days ago and 40 days ahead (staggered by
    index), finished ones a year before ``now``; ``start_days`` starts every
    running network that many days from ``now`` instead.
    """
    path = folder / "leernet.db"
    url = f"sqlite+aiosqlite:///{path}"
    engine = await open_store(url)
    finished = int(networks * finished_share)
    regs: list[Registered] = []
    try:
        for start in range(0, networks, 100):
            async with engine.begin() as conn:
                for i in range(start, min(networks, start + 100)):
                    if start_days is not None and i >= finished:
                        first = now + timedelta(days=start_days, hours=i % 5)
                    elif i < finished:
                        first = now - timedelta(days=400 - (i % 60))
                    else:
                        first = now + timedelta(days=-20 + (i * 7) % 60, hours=(i % 5))
                    first = first.replace(minute=0, second=0, microsecond=0)
                    source = network_source(i, first, participants=participants, sessions=sessions)
                    net = parse_network(source).network
                    regs.append(await registration.register(conn, net, source, SECRET, now))
    finally:
        await engine.dispose()
    return World(path, tuple(regs))
