"""A deadline and a circuit breaker (`warmgate.breaker`) around any cache store, so a slow or dead
backend costs each request at most `timeout` and, once it is known to be down, nothing at all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from warmgate.breaker import CircuitBreaker, State
from warmgate.stores.base import CacheStore, Entry, StoreError

T = TypeVar("T")


class GuardedStore:
    """Implements `CacheStore` around `inner`. Every call is bounded by `timeout` seconds, and every
    failure (a timeout or any exception of `inner`) is raised as `StoreError`. `clock` is any
    monotonic clock in seconds.

    `delete_prefix` (a purge, which may walk the whole store) gets `purge_timeout` instead.

    `breaker` shares a circuit breaker with other users of the same backend (the Redis bindings,
    through `redis_link.RedisLink`); by default the guard has its own (`failures`, `reset`).

    Counters for metrics: `errors` (inner calls that raised), `timeouts` (inner calls cut off),
    `short_circuited` (calls refused without touching `inner`), and the breaker's `state`.
    A call that is cut off may still complete inside the backend (a late `add` stores its entry)."""

    def __init__(
        self,
        inner: CacheStore,
        *,
        timeout: float,
        failures: int,
        reset: float,
        clock: Callable[[], float],
        purge_timeout: float = 30.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if timeout <= 0 or failures < 1 or reset <= 0:
            raise ValueError("timeout and reset must be positive, failures at least 1")
        self.inner = inner
        self.timeout = timeout
        self.purge_timeout = max(purge_timeout, timeout)
        self.breaker = breaker or CircuitBreaker(failures=failures, reset=reset, clock=clock, what="cache store")
        self.errors = 0
        self.timeouts = 0
        self.short_circuited = 0

    @property
    def state(self) -> State:
        return self.breaker.state

    async def _guard(self, op: str, call: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        timeout = self.timeout if timeout is None else timeout
        trial = self.breaker.acquire()
        if trial is None:
            self.short_circuited += 1
            raise StoreError(f"cache store unavailable (circuit open), {op} skipped")
        try:
            async with asyncio.timeout(timeout):
                result = await call()
        except TimeoutError as exc:
            self.timeouts += 1
            self.breaker.failed()
            raise StoreError(f"cache store {op} took longer than {timeout:g}s") from exc
        # The guard is the edge of the store plug-in seam: whatever an implementation raises
        # (its contract says StoreError; a bug may raise anything) must not fail the request.
        except Exception as exc:
            self.errors += 1
            self.breaker.failed()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cache store {op} failed: {exc!r}") from exc
        finally:
            self.breaker.release(trial)
        self.breaker.succeeded()
        return result

    async def get(self, key: str, now: float) -> list[Entry]:
        return await self._guard("get", lambda: self.inner.get(key, now))

    async def add(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        return await self._guard("add", lambda: self.inner.add(key, entry, max_entries, now))

    async def replace(self, key: str, index: int, entry: Entry, now: float) -> bool:
        return await self._guard("replace", lambda: self.inner.replace(key, index, entry, now))

    async def delete(self, key: str) -> int:
        return await self._guard("delete", lambda: self.inner.delete(key))

    async def delete_prefix(self, prefix: str) -> int:
        return await self._guard(
            "delete_prefix", lambda: self.inner.delete_prefix(prefix), self.purge_timeout
        )

    async def close(self) -> None:
        """Closes `inner` without a deadline or the breaker: shutting down should finish its work."""
        try:
            await self.inner.close()
        except StoreError:
            raise
        except Exception as exc:  # same edge as in `_guard`
            raise StoreError(f"cache store close failed: {exc!r}") from exc
