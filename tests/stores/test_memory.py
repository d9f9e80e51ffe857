"""MemoryStore beyond the contract: the byte bound and the LRU order."""

from __future__ import annotations

import random

import pytest

from tests.stores.conftest import NOW, entry
from warmgate.stores.base import Entry
from warmgate.stores.memory import BUCKET_OVERHEAD, ENTRY_OVERHEAD, MemoryStore, Slot, _packed, unpack


def _entries(slot: Slot) -> list[Entry]:
    return [unpack(p) for p in _packed(slot)]


def cost(key: str, *sizes: int) -> int:
    return int(BUCKET_OVERHEAD + len(key) + sum(n + ENTRY_OVERHEAD for n in sizes))


async def test_bytes_are_counted_with_overheads() -> None:
    store = MemoryStore(max_bytes=1 << 20)
    await store.add("a", entry(b"x" * 100), 2, NOW)
    await store.add("a", entry(b"x" * 50), 2, NOW)
    await store.add("bb", entry(b""), 1, NOW)
    assert store.bytes == cost("a", 100, 50) + cost("bb", 0)
    await store.replace("a", 0, entry(b"y" * 10), NOW)
    assert store.bytes == cost("a", 10, 50) + cost("bb", 0)
    await store.delete("a")
    assert store.bytes == cost("bb", 0)
    await store.delete_prefix("")
    assert store.bytes == 0 and len(store) == 0


async def test_the_least_recently_used_bucket_goes_first() -> None:
    one = cost("k0", 1000)
    store = MemoryStore(max_bytes=3 * one)
    for i in range(3):
        await store.add(f"k{i}", entry(b"x" * 1000), 1, NOW)
    assert await store.get("k0", NOW)  # k0 is now the most recently used; k1 the least
    await store.add("k3", entry(b"x" * 1000), 1, NOW)
    assert await store.get("k1", NOW) == []
    assert [bool(await store.get(k, NOW)) for k in ("k0", "k2", "k3")] == [True, True, True]
    assert store.evictions == 1 and store.bytes <= store.max_bytes


async def test_an_add_refreshes_its_bucket() -> None:
    one = cost("k0", 1000)
    store = MemoryStore(max_bytes=3 * one + ENTRY_OVERHEAD + 10)
    for i in range(3):
        await store.add(f"k{i}", entry(b"x" * 1000), 2, NOW)
    await store.add("k0", entry(b"y" * 10), 2, NOW)  # touches k0 (and still fits)
    await store.add("k9", entry(b"x" * 1000), 1, NOW)
    assert await store.get("k1", NOW) == []
    assert len(await store.get("k0", NOW)) == 2


async def test_an_entry_larger_than_the_whole_store_is_refused_without_evicting() -> None:
    store = MemoryStore(max_bytes=4096)
    await store.add("small", entry(b"s"), 1, NOW)
    assert await store.add("big", entry(b"x" * 5000), 1, NOW) is None
    assert await store.get("small", NOW) == [entry(b"s")]
    # a bucket may not outgrow the store either, by adding or by replacing
    await store.add("b", entry(b"x" * 1500), 3, NOW)
    await store.add("b", entry(b"x" * 1500), 3, NOW)
    assert await store.add("b", entry(b"x" * 1500), 3, NOW) is None
    assert await store.replace("b", 0, entry(b"x" * 4000), NOW) is False


async def test_dead_entries_leave_the_byte_count_when_touched() -> None:
    store = MemoryStore(max_bytes=1 << 20)
    await store.add("k", entry(b"x" * 100, ttl=10), 2, NOW)
    await store.add("k", entry(b"y" * 100, ttl=100), 2, NOW)
    assert [e.value for e in await store.get("k", NOW + 50)] == [b"y" * 100]
    assert store.bytes == cost("k", 100)
    assert await store.get("k", NOW + 500) == []
    assert store.bytes == 0 and len(store) == 0


@pytest.mark.parametrize("max_bytes", [50_000, 1 << 24])  # exact eviction; in batches (16 MiB and more)
async def test_the_bound_holds_under_random_use(max_bytes: int) -> None:
    rnd = random.Random(7)
    store = MemoryStore(max_bytes=max_bytes)
    size = max_bytes // 16  # values up to 1/16 of the bound: evictions happen often
    now = NOW
    for step in range(3000):
        now += rnd.choice([0, 0.1, 1])
        key = f"k{rnd.randrange(60)}"
        if rnd.random() < 0.6:
            await store.add(key, entry(b"v" * rnd.randrange(size), at=now, ttl=rnd.choice([5, 50])), 3, now)
        elif rnd.random() < 0.9:
            await store.get(key, now)
        else:
            await store.replace(key, rnd.randrange(3), entry(b"r" * rnd.randrange(size), at=now), now)
        assert store.bytes <= store.max_bytes, step
    assert store.evictions > 0
    # the running count matches a recount
    buckets = {k: _entries(slot) for k, slot in store._buckets.items()}
    assert store.bytes == sum(cost(k, *(len(e.value) for e in b)) for k, b in buckets.items())


async def test_a_small_store_keeps_evicting_exactly_the_least_recently_used_across_many_evictions() -> None:
    """Under 16 MiB buckets go one at a time, and the store's dict is compacted now and then
    (every 1024 evictions at this size): the order and the count of bytes survive it."""
    value = b"x" * 600
    one = cost("k00000", len(value))
    store = MemoryStore(max_bytes=80 * one)
    for i in range(5000):
        await store.add(f"k{i:05d}", entry(value), 1, NOW)
        if i % 7 == 0:
            assert await store.get("k00000", NOW)  # kept as the most recently used throughout
    assert store.evictions == 5000 - 80 and store._dropped < 1024  # so compacted (four times)
    live = sorted(store._buckets)
    assert live == ["k00000", *(f"k{i:05d}" for i in range(5000 - 79, 5000))]
    assert store.bytes == 80 * one


async def test_a_large_store_evicts_its_least_recently_used_buckets_in_batches() -> None:
    """From 16 MiB on, an add past the bound evicts down to 1/256 below it, oldest first."""
    bound = 1 << 24
    store = MemoryStore(max_bytes=bound)
    value = b"x" * 4000
    one = cost("k00000", len(value))
    fits = bound // one
    for i in range(fits):
        await store.add(f"k{i:05d}", entry(value), 1, NOW)
    assert store.evictions == 0 and len(store) == fits
    assert await store.get("k00000", NOW)  # the oldest is used again: now the most recent
    await store.add("new", entry(value), 1, NOW)
    evicted = store.evictions
    assert store.bytes <= bound - bound // 256 + one
    assert evicted >= (bound // 256) // one  # a batch, not one bucket per add
    assert await store.get("k00000", NOW) and await store.get("new", NOW)
    gone = [i for i in range(1, fits) if not await store.get(f"k{i:05d}", NOW)]
    assert gone == list(range(1, evicted + 1))  # exactly the oldest ones
    # the next adds fit below the bound again without evicting
    await store.add("newer", entry(value), 1, NOW)
    assert store.evictions == evicted
    buckets = {k: _entries(slot) for k, slot in store._buckets.items()}
    assert store.bytes == sum(cost(k, *(len(e.value) for e in b)) for k, b in buckets.items())
