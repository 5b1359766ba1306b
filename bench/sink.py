"""An aiosmtpd sink in its own process: ``python -m bench.sink PORT`` accepts and drops every message."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiosmtpd.smtp import SMTP


class Drop:
    async def handle_DATA(self, *_: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        return "250 OK"


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Drop(), hostname="sink.localdomain", data_size_limit=0),
        "127.0.0.1",
        port,
        backlog=256,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
