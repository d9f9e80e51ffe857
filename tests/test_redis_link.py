"""One Redis client and circuit breaker per Redis URL, shared by the cache store and the bindings."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.redis_server import RedisServer
from warmgate.config import CacheConfig, RoutingConfig
from warmgate.redis_link import RedisLinks
from warmgate.routing.bindings import open_bindings
from warmgate.routing.bindings_redis import RedisBindings
from warmgate.stores.base import Entry, StoreError
from warmgate.stores.factory import open_store
from warmgate.stores.guard import GuardedStore
from warmgate.stores.redis import RedisStore


async def test_store_and_bindings_share_one_client_and_breaker(redis_server: RedisServer) -> None:
    links = RedisLinks(failures=2, reset=60)
    store = open_store(CacheConfig(store="redis", redis={"url": redis_server.url}), time.monotonic, links)
    bindings = open_bindings(RoutingConfig(bindings="redis", redis_url=redis_server.url, redis_timeout=1), links=links)
    other = open_bindings(RoutingConfig(bindings="redis", redis_url=redis_server.url + "1"), links=links)
    try:
        assert isinstance(store, GuardedStore) and isinstance(store.inner, RedisStore)
        assert isinstance(bindings, RedisBindings) and isinstance(other, RedisBindings)
        link = links.get(redis_server.url)
        assert store.breaker is link.breaker and store.inner._redis is link.client
        assert links.get(redis_server.url + "1") is not link  # another database, another link
        assert await bindings.set(f"k-{uuid.uuid4().hex}", "a1", 10) == "a1"
        await store.add(f"k-{uuid.uuid4().hex}", Entry(b"v", 0.0, 1e12, 1e12), 1, 1.0)

        redis_server.kill()
        try:
            assert await bindings.get("k") is None  # two failures in the bindings...
            assert await bindings.get("k") is None
            assert link.breaker.state == "open"
            with pytest.raises(StoreError, match="circuit open"):  # ...and the store skips Redis too
                await store.get("k", 1.0)
            assert store.short_circuited == 1
        finally:
            redis_server.start()
    finally:
        await store.close()
        await bindings.close()
        await other.close()
        await links.close()
