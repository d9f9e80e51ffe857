"""Bindings: which account a conversation (or an object it created) is bound to.

One small async Protocol with two implementations: `MemoryBindings` here (one process) and
`RedisBindings` in `bindings_redis` (shared by many gateway instances; redis is imported only
there, and only `open_bindings` imports that module).

Contract, the same for every implementation:

* A binding maps a key to an account name and lives `ttl` seconds from its last use: `get`
  refreshes it by the TTL it was written with. `get` also tells how long the binding had been idle
  (seconds since its previous `get`, `set` or `move`), so the router can see whether the bound
  account's prompt cache for it can still be warm (the "return only if cheaper" rule in `router`).
* Bindings are written only after a success (the caller guarantees it). `set` is idempotent and
  **first writer wins**: if the key is bound to another account already, the existing binding is
  kept and returned. Two instances that placed the first requests of one conversation on different
  accounts (different health views, load spill) thus agree on the first that succeeded, and the
  conversation does not flip between them. Setting the account it is already bound to refreshes
  the TTL (concurrent requests of one conversation are harmless).
* `move` is a compare-and-set for failover: the binding moves from `from_account` to `to_account`
  only if it still names `from_account` (or is gone), so two instances failing over the same
  conversation at once do not undo each other's move.
* A store that cannot answer (Redis down or slow) degrades to "no binding": `get` returns None,
  `set`/`move` return None and change nothing. Nothing raises into the request path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from warmgate.config import RoutingConfig

if TYPE_CHECKING:
    from warmgate.redis_link import RedisLinks

Clock = Callable[[], float]

DEFAULT_MAX_ENTRIES = 100_000


class Bound(NamedTuple):
    account: str
    idle: float  # seconds since the binding was last used (read or written), before this read


class Bindings(Protocol):
    async def get(self, key: str) -> Bound | None:
        """The bound account and how long the binding was idle, marking it used now (its TTL
        starts again); None if unbound, expired or unknown."""
        ...

    async def set(self, key: str, account: str, ttl: float) -> str | None:
        """Bind `key` to `account` for `ttl` seconds unless it is bound to another account already.
        Returns the account bound after the call (None if the store could not answer)."""
        ...

    async def move(self, key: str, from_account: str, to_account: str, ttl: float) -> str | None:
        """Rebind `key` from `from_account` to `to_account` if it is still bound to `from_account`
        or not bound at all. Returns the account bound after the call (None: store unavailable)."""
        ...

    async def close(self) -> None: ...


class MemoryBindings:
    """Bindings in a dict, least recently used dropped beyond `max_entries`. `clock` is monotonic
    seconds (injected for tests)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Clock = time.monotonic):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = clock
        # key -> (account, ttl, last used); expires at last used + ttl
        self._entries: OrderedDict[str, tuple[str, float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> Bound | None:
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            return None
        account, ttl, used = entry
        self._entries[key] = (account, ttl, now)
        self._entries.move_to_end(key)
        return Bound(account, now - used)

    async def set(self, key: str, account: str, ttl: float) -> str | None:
        entry = self._live(key)
        if entry is not None and entry[0] != account:
            return entry[0]
        self._put(key, account, ttl)
        return account

    async def move(self, key: str, from_account: str, to_account: str, ttl: float) -> str | None:
        entry = self._live(key)
        if entry is not None and entry[0] not in (from_account, to_account):
            return entry[0]
        self._put(key, to_account, ttl)
        return to_account

    async def close(self) -> None:
        self._entries.clear()

    def _live(self, key: str, now: float | None = None) -> tuple[str, float, float] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[2] + entry[1] <= (self._clock() if now is None else now):
            del self._entries[key]
            return None
        return entry

    def _put(self, key: str, account: str, ttl: float) -> None:
        self._entries[key] = (account, ttl, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def open_bindings(cfg: RoutingConfig, clock: Clock = time.monotonic, links: RedisLinks | None = None) -> Bindings:
    """The bindings store the configuration asks for (the only place that picks one). With `links`
    (the app's), Redis bindings share the client and circuit breaker of their Redis URL with the
    cache store."""
    if cfg.bindings == "redis":
        from warmgate.routing.bindings_redis import RedisBindings

        link = links.get(cfg.redis_url) if links is not None else None
        return RedisBindings(cfg.redis_url, timeout=cfg.redis_timeout, clock=clock, link=link)
    return MemoryBindings(clock=clock)
