"""RedisStore beyond the contract, on a real redis-server: TTLs, sharing, atomic adds, outages."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.redis_server import RedisServer, _free_port
from tests.stores.conftest import NOW, entry
from warmgate.stores.base import StoreError
from warmgate.stores.redis import RedisStore, glob_escape


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def pair(redis_server: RedisServer, prefix: str) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two stores, as two gateway instances sharing one Redis would have."""
    a, b = RedisStore(redis_server.url, prefix), RedisStore(redis_server.url, prefix)
    yield a, b
    await a.delete_prefix("")
    await a.close()
    await b.close()


async def test_the_key_ttl_follows_the_latest_stale_until(
    pair: tuple[RedisStore, RedisStore], raw: aioredis.Redis, prefix: str
) -> None:
    store, _ = pair
    name = prefix + "t|ns|k"
    await store.add("t|ns|k", entry(ttl=100, stale=20), 3, NOW)
    assert 119_000 < await raw.pttl(name) <= 120_001
    await store.add("t|ns|k", entry(ttl=50), 3, NOW)  # an earlier end does not shorten the bucket
    assert 119_000 < await raw.pttl(name) <= 120_001
    await store.add("t|ns|k", entry(at=NOW + 10, ttl=1000), 3, NOW + 10)  # relative to the caller's clock
    assert 999_000 < await raw.pttl(name) <= 1_000_001
    await store.replace("t|ns|k", 2, entry(at=NOW + 10, ttl=10), NOW + 10)  # the longest-lived one goes
    assert 109_000 < await raw.pttl(name) <= 110_001


async def test_a_bucket_expires_in_redis_itself(
    pair: tuple[RedisStore, RedisStore], raw: aioredis.Redis, prefix: str
) -> None:
    store, _ = pair
    now = time.time()
    await store.add("short", entry(at=now, ttl=0.1, stale=0.1), 1, now)
    assert await raw.exists(prefix + "short") == 1
    await asyncio.sleep(0.3)
    assert await raw.exists(prefix + "short") == 0
    assert await store.get("short", time.time()) == []


async def test_two_instances_see_each_others_entries(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    assert await a.add("k", entry(b"from a"), 2, NOW) == 0
    assert await b.add("k", entry(b"from b"), 2, NOW) == 1
    assert [e.value for e in await a.get("k", NOW)] == [b"from a", b"from b"]
    assert await b.replace("k", 0, entry(b"A"), NOW)
    assert [e.value for e in await a.get("k", NOW)] == [b"A", b"from b"]
    assert await b.delete_prefix("") == 1
    assert await a.get("k", NOW) == []


async def test_concurrent_adds_from_two_instances_never_overfill(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    results = await asyncio.gather(
        *(s.add("hot", entry(b"%d" % i), 3, NOW) for i in range(50) for s in (a, b))
    )
    assert sorted(i for i in results if i is not None) == [0, 1, 2]
    assert len(await b.get("hot", NOW)) == 3


async def test_key_prefixes_keep_stores_apart(
    redis_server: RedisServer, pair: tuple[RedisStore, RedisStore]
) -> None:
    mine, _ = pair
    other = RedisStore(redis_server.url, f"other-{uuid.uuid4().hex[:8]}:")
    try:
        await mine.add("k", entry(b"mine"), 1, NOW)
        await other.add("k", entry(b"other"), 1, NOW)
        assert await mine.delete_prefix("") == 1
        assert [e.value for e in await other.get("k", NOW)] == [b"other"]
    finally:
        await other.delete_prefix("")
        await other.close()


async def test_many_buckets_are_purged_in_batches(pair: tuple[RedisStore, RedisStore]) -> None:
    store, _ = pair
    for start in range(0, 1200, 50):  # 50 at a time: the pool is bounded (64), and the point is the purge
        async with asyncio.TaskGroup() as tg:
            for i in range(start, start + 50):
                tg.create_task(store.add(f"t|{i}", entry(), 1, NOW))
    assert await store.delete_prefix("t|") == 1200


async def test_a_key_of_another_type_is_a_store_error(
    pair: tuple[RedisStore, RedisStore], raw: aioredis.Redis, prefix: str
) -> None:
    store, _ = pair
    await raw.set(prefix + "str", b"x")
    await raw.hset(prefix + "bad", mapping={"m": b"short"})
    for call in (store.get("str", NOW), store.add("str", entry(), 1, NOW), store.get("bad", NOW)):
        with pytest.raises(StoreError):
            await call


async def test_constructed_while_redis_is_down_then_fails_fast() -> None:
    store = RedisStore(f"redis://127.0.0.1:{_free_port()}/0", "wg:")
    started = time.monotonic()
    for call in (store.get("k", NOW), store.add("k", entry(), 1, NOW), store.delete_prefix("")):
        with pytest.raises(StoreError):
            await call
    assert time.monotonic() - started < 1
    await store.close()


def test_glob_escape() -> None:
    assert glob_escape("a*b?c[d]e\\f^g-h") == "a\\*b\\?c\\[d\\]e\\\\f\\^g-h"
