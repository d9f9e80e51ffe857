"""open_store: the configuration picks the store; backends that can fail come guarded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, _free_port
from tests.stores.conftest import NOW, entry
from warmgate.config import CacheConfig
from warmgate.stores.base import StoreError
from warmgate.stores.factory import open_store
from warmgate.stores.guard import GuardedStore
from warmgate.stores.memory import MemoryStore
from warmgate.stores.redis import RedisStore
from warmgate.stores.sqlite import SqliteStore


async def test_memory_is_the_default_and_unguarded() -> None:
    store = open_store(CacheConfig.model_validate({"memory": {"max_bytes": 4096}}), time.monotonic)
    assert isinstance(store, MemoryStore) and store.max_bytes == 4096


async def test_sqlite_comes_guarded(tmp_path: Path) -> None:
    cfg = CacheConfig.model_validate(
        {
            "store": "sqlite",
            "sqlite": {"path": str(tmp_path / "c.db")},
            "store_timeout": 0.5,
            "breaker_failures": 2,
        }
    )
    store = open_store(cfg, time.monotonic)
    assert isinstance(store, GuardedStore) and isinstance(store.inner, SqliteStore)
    assert (store.timeout, store.breaker.failures, store.breaker.reset) == (0.5, 2, 5.0)
    assert await store.add("k", entry(), 1, NOW) == 0
    await store.close()


async def test_redis_comes_guarded(redis_server: RedisServer) -> None:
    cfg = CacheConfig.model_validate(
        {"store": "redis", "redis": {"url": redis_server.url, "key_prefix": "factory:"}}
    )
    store = open_store(cfg, time.monotonic)
    assert isinstance(store, GuardedStore) and isinstance(store.inner, RedisStore)
    assert store.inner.key_prefix == "factory:"
    assert await store.add("k", entry(), 1, NOW) == 0
    assert await store.delete_prefix("") == 1
    await store.close()


async def test_the_gateway_can_start_without_redis() -> None:
    cfg = CacheConfig.model_validate(
        {"store": "redis", "redis": {"url": f"redis://127.0.0.1:{_free_port()}/0"}}
    )
    store = open_store(cfg, time.monotonic)
    with pytest.raises(StoreError):
        await store.get("k", NOW)
    await store.close()
