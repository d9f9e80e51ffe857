"""`Management` against real stores: a read overtaken by a change never undoes it, a store that was
reset (Redis flushed) is followed, and a change is applied to this instance before it returns."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

from tests.redis_server import RedisServer
from warmgate.config import Config
from warmgate.manage.model import CachingConfig, Directory, State
from warmgate.manage.service import Management, Snapshot
from warmgate.manage.store import SqliteAdminStore
from warmgate.manage.store_redis import RedisAdminStore

CONFIG = Config.model_validate({
    "providers": [{"name": "p", "api": "openai", "base_url": "http://127.0.0.1:9", "accounts": [{"name": "a", "api_key": "k"}]}],
    "models": {"m1": "p"},
    "management": {"poll_interval": 60},
})


def create(name: str, ttl: int = 60) -> Callable[[State, Directory], tuple[State, None]]:
    return lambda s, d: (s.create(CachingConfig(name=name, types=("exact",), ttl=ttl)), None)


class HeldReads(SqliteAdminStore):
    """The SQLite store, whose next `read` waits for `release` once it has read (a slow reader)."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.hold = False
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def read(self) -> tuple[int, bytes | None]:
        got = await super().read()
        if self.hold:
            self.hold = False
            self.holding.set()
            await self.release.wait()
        return got


async def test_an_overtaken_read_does_not_undo_a_change(tmp_path: Path) -> None:
    store = HeldReads(tmp_path / "admin.sqlite3")
    swaps: list[Snapshot] = []
    m = Management(CONFIG, store, swaps.append)
    await m.start()
    await m.change("t", "create", "first-one", None, create("first-one"))
    store.hold = True
    slow = asyncio.ensure_future(m.reload())  # reads version 1, then waits
    await store.holding.wait()
    await m.change("t", "create", "second-one", None, create("second-one"))
    assert m.snapshot.version == 2 and swaps[-1] is m.snapshot  # applied before change() returned
    store.release.set()
    await slow
    assert m.snapshot.version == 2 and set(m.snapshot.state.configs) == {"first-one", "second-one"}
    await m.close()


async def test_a_reset_store_is_followed(redis_server: RedisServer) -> None:
    prefix = f"test-reset-{uuid.uuid4().hex[:8]}:"
    m = Management(CONFIG, RedisAdminStore(redis_server.url, prefix), lambda s: None)
    await m.start()
    await m.change("t", "create", "before-reset", None, create("before-reset"))
    await m.change("t", "create", "also-before", None, create("also-before"))
    raw = aioredis.Redis.from_url(redis_server.url)
    await raw.delete(prefix + "version", prefix + "doc", prefix + "audit")
    await raw.aclose()
    await m.reload()
    assert m.snapshot.version == 0 and not m.snapshot.state.configs
    await m.change("t", "create", "after-reset", None, create("after-reset", 5))
    assert m.snapshot.version == 1 and list(m.snapshot.state.configs) == ["after-reset"]
    assert m.snapshot.layers.version == 1
    await m.close()
