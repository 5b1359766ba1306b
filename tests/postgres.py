"""A throw-away PostgreSQL cluster for tests: initdb in a temporary folder, a free loopback port.

Skipped where PostgreSQL's server binaries are missing, unless
LEERNET_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dovecot import free_port

REQUIRE = "LEERNET_REQUIRE_POSTGRES"


def _bindir() -> Path | None:
    # Debian keeps the server binaries out of PATH, in one folder per major version.
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _as_postgres() -> dict[str, object]:
    # initdb refuses to run as root: run the server as the 'postgres' user Debian creates.
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid}


async def _create_database(port: int) -> None:
    import asyncpg  # noqa: PLC0415 - only these tests need the driver

    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    try:
        await conn.execute("CREATE DATABASE leernet")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+asyncpg://`` URL of a fresh cluster with an empty database ``leernet``."""
    bindir = _bindir()
    if bindir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {message}")
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="leernet-pg-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o777)  # the server user must write its data folder
        data = folder / "data"
        owner = _as_postgres()
        port = free_port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **owner}
        subprocess.run(
            [bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres"],
            check=True,
            timeout=120,
            **quiet,
        )  # type: ignore[call-overload]
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [bindir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "log", "-w", "start"],
            check=True, timeout=120, **quiet,
        )  # type: ignore[call-overload]  # fmt: skip
        try:
            asyncio.run(_create_database(port))
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/leernet"
        finally:
            subprocess.run(
                [bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                timeout=60,
                check=False,
                **quiet,
            )  # type: ignore[call-overload]
