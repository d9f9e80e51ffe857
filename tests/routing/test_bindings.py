"""One contract suite for every `Bindings` implementation (memory, and Redis on a real
redis-server), plus what only Redis has: sharing between instances and surviving an outage."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import redis.asyncio as redis

from tests.redis_server import RedisServer
from warmgate.config import RoutingConfig
from warmgate.routing.bindings import Bindings, Bound, MemoryBindings, open_bindings
from warmgate.routing.bindings_redis import RedisBindings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def acct(bound: Bound | None) -> str | None:
    return bound.account if bound is not None else None


@dataclass
class Subject:
    bindings: Bindings
    advance: Callable[[float], Awaitable[None]]
    unit: float  # seconds that count as "a while": fake for memory, real (short) for Redis


@pytest.fixture(params=["memory", "redis"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "memory":
        clock = FakeClock()

        async def tick(seconds: float) -> None:
            clock.now += seconds

        subject = Subject(MemoryBindings(max_entries=1000, clock=clock), tick, 10.0)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        subject = Subject(RedisBindings(server.url, f"test:{uuid.uuid4().hex}:", timeout=0.5), asyncio.sleep, 0.15)
    yield subject
    await subject.bindings.close()


# -- The contract ---------------------------------------------------------------------------------

async def test_unbound_key(subject: Subject) -> None:
    assert acct(await subject.bindings.get("k")) is None


async def test_set_then_get(subject: Subject) -> None:
    b = subject.bindings
    assert await b.set("k", "acct-1", 10 * subject.unit) == "acct-1"
    assert acct(await b.get("k")) == "acct-1"
    assert acct(await b.get("other")) is None


async def test_first_writer_wins_and_same_account_is_idempotent(subject: Subject) -> None:
    b = subject.bindings
    assert await b.set("k", "acct-1", 10 * subject.unit) == "acct-1"
    assert await b.set("k", "acct-2", 10 * subject.unit) == "acct-1"
    assert await b.set("k", "acct-1", 10 * subject.unit) == "acct-1"
    assert acct(await b.get("k")) == "acct-1"


async def test_concurrent_sets_agree(subject: Subject) -> None:
    b = subject.bindings
    results = await asyncio.gather(*(b.set("k", f"acct-{i % 3}", 10 * subject.unit) for i in range(12)))
    bound = acct(await b.get("k"))
    assert bound is not None and set(results) == {bound}


async def test_binding_expires(subject: Subject) -> None:
    b = subject.bindings
    await b.set("k", "acct-1", subject.unit)
    await subject.advance(subject.unit * 1.5)
    assert acct(await b.get("k")) is None
    assert await b.set("k", "acct-2", subject.unit) == "acct-2"  # an expired binding does not block


async def test_use_refreshes_the_ttl(subject: Subject) -> None:
    b, unit = subject.bindings, subject.unit
    await b.set("k", "acct-1", 2 * unit)
    for _ in range(3):
        await subject.advance(unit)
        assert acct(await b.get("k")) == "acct-1"  # 3 units after the write: alive because it was used
    await subject.advance(3 * unit)
    assert acct(await b.get("k")) is None


async def test_set_same_account_refreshes_the_ttl(subject: Subject) -> None:
    b, unit = subject.bindings, subject.unit
    await b.set("k", "acct-1", 2 * unit)
    await subject.advance(unit)
    await b.set("k", "acct-1", 2 * unit)
    await subject.advance(1.5 * unit)
    assert acct(await b.get("k")) == "acct-1"


async def test_each_binding_keeps_its_own_ttl(subject: Subject) -> None:
    b, unit = subject.bindings, subject.unit
    await b.set("short", "acct-1", unit)
    await b.set("long", "acct-1", 100 * unit)
    await subject.advance(0.5 * unit)
    await b.get("long")
    await b.get("short")  # refreshed by its own TTL (1 unit), not the long one
    await subject.advance(1.5 * unit)
    assert acct(await b.get("short")) is None
    assert acct(await b.get("long")) == "acct-1"


async def test_get_reports_how_long_the_binding_was_idle(subject: Subject) -> None:
    b, unit = subject.bindings, subject.unit
    await b.set("k", "acct-1", 100 * unit)
    await subject.advance(2 * unit)
    first = await b.get("k")
    assert first is not None and 2 * unit <= first.idle < 4 * unit  # since the write
    second = await b.get("k")
    assert second is not None and second.idle < unit  # a read is a use
    await subject.advance(unit)
    await b.move("k", "acct-1", "acct-2", 100 * unit)
    moved = await b.get("k")
    assert moved == ("acct-2", moved.idle) and moved.idle < unit  # so is a move


async def test_move_is_a_compare_and_set(subject: Subject) -> None:
    b, ttl = subject.bindings, 10 * subject.unit
    await b.set("k", "acct-1", ttl)
    assert await b.move("k", "acct-1", "acct-2", ttl) == "acct-2"
    assert acct(await b.get("k")) == "acct-2"
    # Another instance failing over from acct-1 too, to acct-3, does not undo the first move.
    assert await b.move("k", "acct-1", "acct-3", ttl) == "acct-2"
    assert acct(await b.get("k")) == "acct-2"
    assert await b.move("k", "acct-2", "acct-2", ttl) == "acct-2"


async def test_move_of_an_unbound_key_binds_it(subject: Subject) -> None:
    b = subject.bindings
    assert await b.move("k", "acct-1", "acct-2", 10 * subject.unit) == "acct-2"
    assert acct(await b.get("k")) == "acct-2"


async def test_move_sets_the_new_ttl(subject: Subject) -> None:
    b, unit = subject.bindings, subject.unit
    await b.set("k", "acct-1", 100 * unit)
    await b.move("k", "acct-1", "acct-2", unit)
    await subject.advance(1.5 * unit)
    assert acct(await b.get("k")) is None


# -- Memory only ----------------------------------------------------------------------------------

async def test_memory_drops_the_least_recently_used() -> None:
    b = MemoryBindings(max_entries=2, clock=FakeClock())
    await b.set("a", "x", 60)
    await b.set("b", "x", 60)
    await b.get("a")
    await b.set("c", "x", 60)
    assert len(b) == 2
    assert acct(await b.get("b")) is None
    assert acct(await b.get("a")) == acct(await b.get("c")) == "x"


def test_memory_rejects_a_zero_bound() -> None:
    with pytest.raises(ValueError):
        MemoryBindings(max_entries=0)


async def test_factory_picks_the_configured_store(redis_server: RedisServer) -> None:
    memory = open_bindings(RoutingConfig())
    assert isinstance(memory, MemoryBindings)
    shared = open_bindings(RoutingConfig(bindings="redis", redis_url=redis_server.url, redis_timeout=1))
    assert isinstance(shared, RedisBindings)
    await shared.set(f"factory-{uuid.uuid4().hex}", "a", 5)
    await memory.close()
    await shared.close()


# -- Redis only -----------------------------------------------------------------------------------

async def test_two_instances_share_bindings(redis_server: RedisServer) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    one, two = RedisBindings(redis_server.url, prefix, timeout=1), RedisBindings(redis_server.url, prefix, timeout=1)
    try:
        results = await asyncio.gather(one.set("conv", "acct-1", 30), two.set("conv", "acct-2", 30))
        assert results[0] == results[1]
        assert acct(await one.get("conv")) == acct(await two.get("conv")) == results[0]
        assert await two.move("conv", results[0], "acct-3", 30) == "acct-3"
        assert acct(await one.get("conv")) == "acct-3"
        other = RedisBindings(redis_server.url, f"test:{uuid.uuid4().hex}:", timeout=1)
        assert acct(await other.get("conv")) is None  # prefixes separate deployments
        await other.close()
    finally:
        await one.close()
        await two.close()


async def _until(check: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_dead_redis_reads_as_no_binding_then_recovers(redis_server: RedisServer) -> None:
    b = RedisBindings(redis_server.url, f"test:{uuid.uuid4().hex}:", breaker_failures=3, breaker_reset=0.2)
    try:
        await b.set("k", "acct-1", 60)
        assert acct(await b.get("k")) == "acct-1"
        redis_server.kill()
        for _ in range(6):  # fails fast before the circuit opens, and at once after
            started = time.monotonic()
            assert acct(await b.get("k")) is None
            assert await b.set("k2", "acct-1", 60) is None
            assert await b.move("k", "acct-1", "acct-2", 60) is None
            assert time.monotonic() - started < 0.2
        assert b.circuit_open
    finally:
        redis_server.start()
    try:
        # Data is gone (no persistence), but the store works again once the circuit closes.
        async def works() -> bool:
            return bool(await b.set("k3", "acct-2", 60) == "acct-2")

        assert await _until(works, 3.0)
        assert acct(await b.get("k3")) == "acct-2"
        assert not b.circuit_open
    finally:
        await b.close()


async def test_slow_redis_times_out_as_no_binding(redis_server: RedisServer) -> None:
    b = RedisBindings(redis_server.url, f"test:{uuid.uuid4().hex}:", timeout=0.05)
    admin = redis.Redis.from_url(redis_server.url)
    try:
        await b.set("k", "acct-1", 60)
        await admin.client_pause(400, all=True)
        started = time.monotonic()
        assert acct(await b.get("k")) is None
        assert time.monotonic() - started < 0.2
        await asyncio.sleep(0.45)

        async def works() -> bool:
            return bool(acct(await b.get("k")) == "acct-1")

        assert await _until(works, 2.0)
    finally:
        await admin.client_unpause()
        await admin.aclose()
        await b.close()
