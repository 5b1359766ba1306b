"""A loopback TCP proxy that can cut connections, cut after N server bytes, or stall them.

``stall`` makes the open connections a black hole (no FIN, no RST, nothing
forwarded), as a NAT box that forgot the connection or a server that froze:
the half-open connection of RFC 793 3.4. New connections work normally.
"""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.connections = 0
        self.accepted_at: list[float] = []  # loop time of every accepted connection
        self.refuse = False  # new connections are closed at once
        self._server: asyncio.Server | None = None
        self._open: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, dict[str, bool]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut_after: int | None = None

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def cut(self) -> None:
        for a, b, _ in self._open:
            a.transport.abort()
            b.transport.abort()
        self._open.clear()

    def stall(self) -> None:
        for _, _, flags in self._open:
            flags["stalled"] = True

    def cut_after(self, server_bytes: int) -> None:
        self._cut_after = server_bytes

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.accepted_at.append(asyncio.get_running_loop().time())
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        flags = {"stalled": False}
        entry = (writer, up_writer, flags)
        self._open.append(entry)
        limit, self._cut_after = self._cut_after, None
        for task in (
            asyncio.create_task(self._pump(reader, up_writer, None, entry)),
            asyncio.create_task(self._pump(up_reader, writer, limit, entry)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limit: int | None,
        entry: tuple[asyncio.StreamWriter, asyncio.StreamWriter, dict[str, bool]],
    ) -> None:
        passed = 0
        flags = entry[2]
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if flags["stalled"]:
                    continue  # swallowed: neither side hears anything again
                if limit is not None and passed + len(data) >= limit:
                    writer.write(data[: max(0, limit - passed)])
                    break
                passed += len(data)
                writer.write(data)
                await writer.drain()
        if flags["stalled"]:
            return  # keep the black hole open; close() aborts it
        entry[0].transport.abort()
        entry[1].transport.abort()
        with contextlib.suppress(ValueError):
            self._open.remove(entry)
