"""The one place that picks a concrete cache store from the configuration."""

from __future__ import annotations

from collections.abc import Callable

from warmgate.config import CacheConfig
from warmgate.redis_link import RedisLinks
from warmgate.stores.base import CacheStore, NowStore
from warmgate.stores.guard import GuardedStore
from warmgate.stores.memory import MemoryStore


def open_store(cfg: CacheConfig, clock: Callable[[], float], links: RedisLinks | None = None) -> CacheStore:
    """The store named by `cfg.store`. SQLite and Redis come wrapped in a `GuardedStore` (deadline
    `store_timeout`, circuit breaker `breaker_failures` / `breaker_reset` on the monotonic `clock`);
    memory needs neither, it cannot block or fail.

    Nothing here waits on the backend: the Redis store connects on first use, so the gateway starts
    while Redis is down, and the SQLite file is opened on the store's worker thread.

    With `links` (the app's), a Redis store shares its client and circuit breaker with every other
    user of the same Redis URL (the routing bindings)."""
    inner: CacheStore
    if cfg.store == "memory":
        return MemoryStore(cfg.memory.max_bytes)
    if cfg.store == "sqlite":
        from warmgate.stores.sqlite import SqliteStore

        inner = SqliteStore(cfg.sqlite.path)
    else:
        # redis is an optional dependency: imported only when configured (STYLE habit 1).
        from warmgate.stores.redis import RedisStore

        if links is not None:
            link = links.get(cfg.redis.url)
            inner = RedisStore(cfg.redis.url, cfg.redis.key_prefix, client=link.client)
            return GuardedStore(inner, timeout=cfg.store_timeout, failures=cfg.breaker_failures,
                                reset=cfg.breaker_reset, clock=clock, breaker=link.breaker)
        inner = RedisStore(cfg.redis.url, cfg.redis.key_prefix)
    return GuardedStore(
        inner,
        timeout=cfg.store_timeout,
        failures=cfg.breaker_failures,
        reset=cfg.breaker_reset,
        clock=clock,
    )


def now_store(store: CacheStore) -> NowStore | None:
    """The store itself when it works without I/O (memory), else None."""
    return store if isinstance(store, MemoryStore) else None
