"""GuardedStore: the deadline, error conversion and the circuit breaker; then a real Redis outage."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.redis_server import RedisServer
from tests.stores.conftest import NOW, entry
from warmgate.stores.base import Entry, StoreError
from warmgate.stores.guard import GuardedStore
from warmgate.stores.memory import MemoryStore
from warmgate.stores.redis import RedisStore


class FakeStore:
    """A CacheStore that answers after `delay` seconds, or raises `fail` (when set)."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.fail: Exception | None = None
        self.calls = 0
        self.entries: list[Entry] = []

    async def _act(self) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail

    async def get(self, key: str, now: float) -> list[Entry]:
        await self._act()
        return list(self.entries)

    async def add(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        await self._act()
        self.entries.append(entry)
        return len(self.entries) - 1

    async def replace(self, key: str, index: int, entry: Entry, now: float) -> bool:
        await self._act()
        return False

    async def delete(self, key: str) -> int:
        await self._act()
        return 0

    async def delete_prefix(self, prefix: str) -> int:
        await self._act()
        return 0

    async def close(self) -> None:
        await self._act()


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def guarded(inner: FakeStore, clock: Clock, *, timeout: float = 0.05, failures: int = 3) -> GuardedStore:
    return GuardedStore(inner, timeout=timeout, failures=failures, reset=5.0, clock=clock)


async def test_calls_pass_through() -> None:
    fake = FakeStore()
    store = guarded(fake, Clock())
    assert await store.add("k", entry(), 1, NOW) == 0
    assert await store.get("k", NOW) == [entry()]
    assert await store.replace("k", 0, entry(), NOW) is False
    assert await store.delete("k") == 0
    assert await store.delete_prefix("") == 0
    await store.close()
    assert fake.calls == 6 and store.state == "closed"
    # and any real store fits the seam
    mem = GuardedStore(MemoryStore(1 << 20), timeout=1, failures=1, reset=1, clock=time.monotonic)
    assert await mem.add("k", entry(), 1, NOW) == 0


async def test_a_slow_call_is_cut_off_at_the_timeout() -> None:
    fake = FakeStore()
    fake.delay = 5
    store = guarded(fake, Clock(), timeout=0.05)
    started = time.monotonic()
    with pytest.raises(StoreError, match="longer than"):
        await store.get("k", NOW)
    assert time.monotonic() - started < 0.5
    assert (store.timeouts, store.errors, store.state) == (1, 0, "closed")


async def test_any_exception_becomes_a_store_error() -> None:
    fake = FakeStore()
    store = guarded(fake, Clock())
    fake.fail = RuntimeError("driver bug")
    with pytest.raises(StoreError, match="driver bug") as info:
        await store.get("k", NOW)
    assert isinstance(info.value.__cause__, RuntimeError)
    fake.fail = StoreError("down")
    with pytest.raises(StoreError, match="down"):
        await store.add("k", entry(), 1, NOW)
    assert store.errors == 2


async def test_only_consecutive_failures_open_the_circuit() -> None:
    fake = FakeStore()
    store = guarded(fake, Clock(), failures=3)
    for _ in range(3):
        fake.fail = StoreError("down")
        for _ in range(2):
            with pytest.raises(StoreError):
                await store.get("k", NOW)
        fake.fail = None
        await store.get("k", NOW)
    assert store.state == "closed" and store.errors == 6


async def test_the_breaker_opens_fails_fast_tries_once_and_closes() -> None:
    fake, clock = FakeStore(), Clock()
    store = guarded(fake, clock, failures=3)
    fake.fail = StoreError("down")
    for _ in range(3):
        with pytest.raises(StoreError):
            await store.get("k", NOW)
    assert store.state == "open" and fake.calls == 3

    # open: fail fast, the inner store is not touched
    clock.t += 4.9
    for _ in range(10):
        with pytest.raises(StoreError, match="circuit open"):
            await store.add("k", entry(), 1, NOW)
    assert fake.calls == 3 and store.short_circuited == 10

    # after `reset`: one trial; it fails, so the circuit opens for another `reset`
    clock.t += 0.1
    assert store.state == "half_open"
    with pytest.raises(StoreError, match="down"):
        await store.get("k", NOW)
    assert fake.calls == 4 and store.state == "open"
    with pytest.raises(StoreError, match="circuit open"):
        await store.get("k", NOW)

    # the next trial succeeds and closes the circuit; while it runs, others still fail fast
    clock.t += 5
    fake.fail, fake.delay = None, 0.01
    trial = asyncio.create_task(store.get("k", NOW))
    await asyncio.sleep(0)
    assert store.state == "half_open"
    with pytest.raises(StoreError, match="circuit open"):
        await store.get("k", NOW)
    assert await trial == []
    assert store.state == "closed" and fake.calls == 5
    assert await store.get("k", NOW) == []


async def test_a_cancelled_trial_does_not_wedge_the_breaker() -> None:
    fake, clock = FakeStore(), Clock()
    store = guarded(fake, clock, failures=1, timeout=10)
    fake.fail = StoreError("down")
    with pytest.raises(StoreError):
        await store.get("k", NOW)
    clock.t += 5
    fake.fail, fake.delay = None, 5
    trial = asyncio.create_task(store.get("k", NOW))
    await asyncio.sleep(0)
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    fake.delay = 0
    assert await store.get("k", NOW) == []  # a new trial is let through
    assert store.state == "closed"


async def test_a_redis_outage_fails_fast_and_recovers(redis_server: RedisServer) -> None:
    reset = 0.5
    store = GuardedStore(
        RedisStore(redis_server.url, "test-outage:"),
        timeout=0.25,
        failures=2,
        reset=reset,
        clock=time.monotonic,
    )
    try:
        assert await store.add("k", entry(b"before"), 1, NOW) == 0
        redis_server.kill()
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(StoreError):
                await store.get("k", NOW)
            assert time.monotonic() - started < 0.25 + 0.1
        assert store.state == "open"
        started = time.monotonic()
        with pytest.raises(StoreError, match="circuit open"):
            await store.get("k", NOW)
        assert time.monotonic() - started < 0.01

        redis_server.start()
        await asyncio.sleep(reset)
        assert store.state == "half_open"
        assert await store.get("k", NOW) == []  # the server came back empty (no persistence)
        assert store.state == "closed"
        assert await store.add("k", entry(b"after"), 1, NOW) == 0
        assert [e.value for e in await store.get("k", NOW)] == [b"after"]
        assert store.errors + store.timeouts == 2 and store.short_circuited == 1
    finally:
        if redis_server.proc is None or redis_server.proc.poll() is not None:
            redis_server.start()
        await store.delete_prefix("")
        await store.close()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        GuardedStore(FakeStore(), timeout=0, failures=1, reset=1, clock=time.monotonic)
