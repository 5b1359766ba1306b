"""A loopback TCP proxy that tests can use to cut connections, now or after N bytes.

It stands between a client and a real server (Dovecot, pymap) so a test can drop
the connection at a chosen moment: during IDLE (``cut``), in the middle of a
FETCH answer (``cut_after``), or right after a commit (``cut`` from a processor).
It only ever connects to the loopback target it was given.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.connections = 0  # accepted so far
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut_after: int | None = None

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def cut(self) -> None:
        """Abort every open connection, both sides, like a network failure."""
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def cut_after(self, server_bytes: int) -> None:
        """Cut the next connection once it has passed this many bytes from the server (once)."""
        self._cut_after = server_bytes

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._open.update(pair)
        limit, self._cut_after = self._cut_after, None
        for task in (
            asyncio.create_task(self._pump(reader, up_writer, None, pair)),
            asyncio.create_task(self._pump(up_reader, writer, limit, pair)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limit: int | None,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        passed = 0
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if limit is not None and passed + len(data) >= limit:
                    writer.write(data[: max(0, limit - passed)])
                    break
                passed += len(data)
                writer.write(data)
                await writer.drain()
        for side in pair:  # one side ended or the limit was reached: drop both
            side.transport.abort()
            self._open.discard(side)
