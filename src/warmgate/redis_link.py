"""The one place that builds a Redis client, and the one circuit breaker per Redis server.

The cache store (`stores.redis`) and the routing bindings (`routing.bindings_redis`) may point at
the same server. The app owns one `RedisLinks`; each user asks it for the `RedisLink` of its URL and
gets the same client (one connection pool) and the same `CircuitBreaker`: when Redis dies, the first
failures of either user open the circuit for both, and neither waits on a dead server again until
the breaker's trial call finds it back.

Deadlines are the caller's (`asyncio.timeout` around each call: the store's `store_timeout`, the
bindings' 50 ms); the client's own socket timeouts are only a backstop. Nothing connects at
construction, so the gateway starts while Redis is down.

redis is an optional dependency: it is imported only when a link is built (a store or bindings in
Redis are configured), so the app can own a `RedisLinks` without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from warmgate.breaker import CircuitBreaker

if TYPE_CHECKING:
    import redis.asyncio as aioredis

DEFAULT_FAILURES = 5
DEFAULT_RESET = 5.0


def build_client(url: str, *, max_connections: int = 64, connect_timeout: float = 1.0,
                 socket_timeout: float = 2.0) -> aioredis.Redis:
    """A client on a bounded pool (callers beyond `max_connections` wait up to `connect_timeout`
    for a free connection). One immediate retry, so a pooled connection that died with a server
    restart is replaced transparently; no backoff, the callers' deadlines are short. Replies are
    bytes (`decode_responses` off)."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=connect_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 1),
    )
    return aioredis.Redis.from_pool(pool)


class RedisLink:
    """One Redis server as the gateway uses it: a shared client and a shared breaker."""

    def __init__(self, url: str, *, failures: int = DEFAULT_FAILURES, reset: float = DEFAULT_RESET,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.client = build_client(url)
        self.breaker = CircuitBreaker(failures=failures, reset=reset, clock=clock, what=f"redis {_safe(url)}")

    async def close(self) -> None:
        await self.client.aclose()


class RedisLinks:
    """The app's Redis links, one per URL, created on first request and closed together."""

    def __init__(self, *, failures: int = DEFAULT_FAILURES, reset: float = DEFAULT_RESET,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._failures = failures
        self._reset = reset
        self._clock = clock
        self._links: dict[str, RedisLink] = {}

    def get(self, url: str) -> RedisLink:
        link = self._links.get(url)
        if link is None:
            link = self._links[url] = RedisLink(url, failures=self._failures, reset=self._reset, clock=self._clock)
        return link

    async def close(self) -> None:
        links, self._links = list(self._links.values()), {}
        for link in links:
            await link.close()


def _safe(url: str) -> str:
    """The URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    return scheme + sep + rest
