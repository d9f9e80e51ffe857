from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer
from warmgate.stores.base import CacheStore, Entry
from warmgate.stores.memory import MemoryStore
from warmgate.stores.redis import RedisStore
from warmgate.stores.sqlite import SqliteStore

NOW = 1_700_000_000.0


def entry(value: bytes = b"v", *, at: float = NOW, ttl: float = 60, stale: float = 0) -> Entry:
    return Entry(value, at, at + ttl, at + ttl + stale)


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CacheStore]:
    """Every CacheStore implementation, fresh and empty."""
    made: CacheStore
    if request.param == "memory":
        made = MemoryStore(max_bytes=64 * 1024 * 1024)
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "cache.sqlite3")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisStore(server.url, key_prefix=f"test-{uuid.uuid4().hex[:8]}:")
    yield made
    if isinstance(made, RedisStore):
        await made.delete_prefix("")
    await made.close()
