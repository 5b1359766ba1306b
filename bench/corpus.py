"""The ingest corpus: a registered world whose invites and evaluation requests were sent, and replies.

Generating 10,000 client-shaped replies takes about a minute (each reads the
invite it answers), so the store and the replies are cached under
``bench/.cache`` by size; delete the folder to regenerate. Two processes
generate halves of it.
"""

from __future__ import annotations

import asyncio
import pickle
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update

from bench import mail
from bench.world import NOW, build_world, settings
from leernet.mailer.queue import enqueue
from leernet.messages.factory import Factory
from leernet.records.networks import Registered
from leernet.store import open_store
from leernet.store.schema import SCHEMA_VERSION, outbox

CACHE = Path(__file__).resolve().parent / ".cache"
PER_MEMBER = 2.6  # replies per participant in ``mail.replies``'s mix


@dataclass(frozen=True, slots=True)
class Corpus:
    db: Path  # the store: networks registered, their invites and requests marked sent
    replies: list[bytes]

    def copy_db(self, dest: Path) -> str:
        shutil.copyfile(self.db, dest)
        return f"sqlite+aiosqlite:///{dest}"


def _replies_part(args: tuple[tuple[Registered, ...], int, int]) -> list[bytes]:
    regs, offset, count = args
    sent = mail.outgoing(Factory(settings()), regs, NOW)
    return mail.replies(sent, regs, NOW, count, offset=offset)


async def _build(folder: Path, count: int) -> None:
    networks = max(2, round(count / (15 * PER_MEMBER)) + 1)
    with tempfile.TemporaryDirectory(prefix="leernet-bench-") as tmp:
        world = await build_world(Path(tmp), networks, start_days=-20)
        sent = mail.outgoing(Factory(settings()), world.registered, NOW)
        engine = await open_store(world.url)
        try:
            async with engine.begin() as conn:
                await enqueue(conn, sent, NOW)
                await conn.execute(update(outbox).values(state="sent", sent_at=NOW))
        finally:
            await engine.dispose()
        half = len(world.registered) // 2
        first = world.registered[:half]
        offset = sum(len(r.active_members) for r in first)
        parts = [(first, 0, count), (world.registered[half:], offset, count)]
        with ProcessPoolExecutor(2) as pool:
            chunks = list(pool.map(_replies_part, parts))
        replies = (chunks[0] + chunks[1])[:count]
        if len(replies) < count:
            raise RuntimeError(f"only {len(replies)} replies for {count}")
        folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a one-off cache write
        shutil.copyfile(world.path, folder / "leernet.db")
        (folder / "replies.pickle").write_bytes(pickle.dumps(replies))


async def corpus(count: int) -> Corpus:
    # The schema version in the name: a store cached by an older leernet is built again,
    # not migrated inside a timed run.
    folder = CACHE / f"ingest-{count}-v{SCHEMA_VERSION}"
    if not (folder / "replies.pickle").exists():
        print(f"generating the ingest corpus of {count} replies (cached in {folder}) ...")
        await _build(folder, count)
    replies = pickle.loads((folder / "replies.pickle").read_bytes())
    return Corpus(folder / "leernet.db", replies)


def main() -> None:
    asyncio.run(corpus(1000))


if __name__ == "__main__":
    main()
