"""systemd's notify protocol: READY=1 once running, WATCHDOG=1 while the event loop is alive.

With ``Type=notify`` and ``WatchdogSec=`` in the unit, systemd restarts a daemon
whose loop stopped turning (a hang on one mail, a deadlock). The protocol is one
datagram per message to the socket named in ``NOTIFY_SOCKET`` (sd_notify(3));
it is small enough to speak directly rather than add a dependency. Outside
systemd (no ``NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass

log = logging.getLogger("leernet.watchdog")


@dataclass(frozen=True, slots=True)
class Notifier:
    """Where systemd listens (``NOTIFY_SOCKET``) and how often it wants a sign of life."""

    address: str = ""  # a path, or "@name" for the abstract namespace
    interval: float | None = None  # seconds between WATCHDOG=1; None: no watchdog

    @classmethod
    def from_environment(cls, environ: dict[str, str]) -> Notifier:
        """The notifier systemd asked for; ``WATCHDOG_USEC`` halved, as sd_watchdog_enabled(3) advises."""
        usec = environ.get("WATCHDOG_USEC", "")
        interval = int(usec) / 2_000_000 if usec.isdigit() and int(usec) > 0 else None
        return cls(environ.get("NOTIFY_SOCKET", ""), interval)

    def send(self, message: str) -> bool:
        """Send one notification; False outside systemd or when the socket is gone."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(target)
                sock.sendall(message.encode())
        except OSError as exc:
            log.warning("cannot notify systemd: %s", exc, extra={"event": "sd-notify"})
            return False
        return True

    async def keep_alive(self, stop: asyncio.Event) -> None:
        """WATCHDOG=1 every ``interval`` seconds until ``stop``: only a turning loop sends it."""
        if self.interval is None:
            return
        while not stop.is_set():
            self.send("WATCHDOG=1")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
