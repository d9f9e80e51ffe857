"""The CacheStore contract (see warmgate.stores.base), run against memory, SQLite and Redis."""

from __future__ import annotations

import random

import pytest

from tests.stores.conftest import NOW, entry
from warmgate.stores.base import CacheStore, Entry


async def test_get_on_a_missing_key_is_empty(store: CacheStore) -> None:
    assert await store.get("t|ns|missing", NOW) == []


async def test_add_until_full_then_none(store: CacheStore) -> None:
    key = "t|ns|k"
    assert [await store.add(key, entry(b"%d" % i), 3, NOW) for i in range(3)] == [0, 1, 2]
    assert await store.add(key, entry(b"x"), 3, NOW) is None
    assert [e.value for e in await store.get(key, NOW)] == [b"0", b"1", b"2"]
    # a larger bucket size later makes room again
    assert await store.add(key, entry(b"3"), 4, NOW) == 3
    assert await store.add(key, entry(b"y"), 1, NOW) is None


async def test_entries_keep_their_timestamps_exactly(store: CacheStore) -> None:
    e = Entry(b"v", NOW + 0.123456789, NOW + 3600.000001, NOW + 7200.5)
    assert await store.add("k", e, 1, NOW) == 0
    assert await store.get("k", NOW) == [e]


async def test_an_entry_lives_until_stale_until_inclusive(store: CacheStore) -> None:
    e = entry(ttl=10, stale=5)
    await store.add("k", e, 1, NOW)
    assert await store.get("k", NOW + 10) == [e]  # expired but still servable as stale
    assert await store.get("k", NOW + 15) == [e]
    assert await store.get("k", NOW + 15.001) == []


async def test_dead_entries_do_not_count_and_are_never_returned_after_add(store: CacheStore) -> None:
    key = "k"
    await store.add(key, entry(b"old", ttl=10), 1, NOW)
    later = NOW + 11
    assert await store.add(key, entry(b"new", at=later), 1, later) == 0
    assert [e.value for e in await store.get(key, later)] == [b"new"]


async def test_indexes_are_positions_among_live_entries(store: CacheStore) -> None:
    key = "k"
    await store.add(key, entry(b"a", ttl=100), 3, NOW)
    await store.add(key, entry(b"b", ttl=10), 3, NOW)
    await store.add(key, entry(b"c", ttl=100), 3, NOW)
    later = NOW + 20
    assert [e.value for e in await store.get(key, later)] == [b"a", b"c"]
    assert await store.replace(key, 1, entry(b"C", at=later), later) is True
    assert await store.add(key, entry(b"d", at=later), 3, later) == 2
    assert [e.value for e in await store.get(key, later)] == [b"a", b"C", b"d"]


async def test_an_entry_already_dead_is_not_stored(store: CacheStore) -> None:
    assert await store.add("k", entry(ttl=10), 1, NOW + 11) is None
    assert await store.get("k", NOW) == []


async def test_replace(store: CacheStore) -> None:
    key = "k"
    await store.add(key, entry(b"a"), 2, NOW)
    await store.add(key, entry(b"b"), 2, NOW)
    fresh = entry(b"B", at=NOW + 30, ttl=600)
    assert await store.replace(key, 1, fresh, NOW + 30) is True
    assert await store.get(key, NOW + 30) == [entry(b"a"), fresh]
    # the replaced entry carries the bucket past the others' stale_until
    assert await store.get(key, NOW + 300) == [fresh]
    assert await store.replace(key, 2, fresh, NOW) is False
    assert await store.replace(key, -1, fresh, NOW) is False
    assert await store.replace("missing", 0, fresh, NOW) is False


async def test_replace_of_an_index_that_died_is_false(store: CacheStore) -> None:
    await store.add("k", entry(b"a", ttl=10), 1, NOW)
    assert await store.replace("k", 0, entry(b"b", at=NOW + 20), NOW + 20) is False
    assert await store.get("k", NOW + 20) == []


async def test_delete(store: CacheStore) -> None:
    await store.add("a|x", entry(), 1, NOW)
    await store.add("a|y", entry(), 1, NOW)
    assert await store.delete("a|x") == 1
    assert await store.delete("a|x") == 0
    assert await store.get("a|x", NOW) == []
    assert await store.get("a|y", NOW) == [entry()]


async def test_delete_prefix_by_tenant_namespace_and_everything(store: CacheStore) -> None:
    keys = ["t.a|ns1|1", "t.a|ns1|2", "t.a|ns2|1", "t.ab|ns1|1", "t.b|ns1|1", "t.b||1"]
    for k in keys:
        await store.add(k, entry(k.encode()), 2, NOW)
        await store.add(k, entry(k.encode()), 2, NOW)  # a second entry: counts are of buckets
    assert await store.delete_prefix("t.a|ns1|") == 2
    assert await store.delete_prefix("t.a|") == 1
    assert await store.get("t.ab|ns1|1", NOW) != []
    assert await store.delete_prefix("t.zz|") == 0
    assert await store.delete_prefix("") == 3
    for k in keys:
        assert await store.get(k, NOW) == []


@pytest.mark.parametrize("special", ["%", "_", "*", "?", "[", "]", "[a-z]", "\\", "^", "%_"])
async def test_delete_prefix_takes_special_characters_literally(store: CacheStore, special: str) -> None:
    inside = f"t{special}|ns|1"
    # keys that a wildcard or an unescaped pattern would also match
    outside = ["tx|ns|1", "t|ns|1", "tt|ns|1", "ta|ns|1", "t\\|ns|1" if special != "\\" else "t|x"]
    for k in [inside, *outside]:
        await store.add(k, entry(), 1, NOW)
    assert await store.delete_prefix(f"t{special}|") == 1
    assert await store.get(inside, NOW) == []
    for k in outside:
        assert await store.get(k, NOW) == [entry()], k


async def test_delete_prefix_with_characters_beyond_the_bmp(store: CacheStore) -> None:
    keys = ["t|\U0001f600|1", "t|\uffff|1", "t|\u00e9|1", "u|1"]
    for k in keys:
        await store.add(k, entry(), 1, NOW)
    assert await store.delete_prefix("t|") == 3
    assert await store.get("u|1", NOW) == [entry()]
    assert await store.delete_prefix("u|\U0010ffff") == 0


@pytest.mark.parametrize(
    "value",
    [b"", b"\x00", bytes(range(256)) * 4, b"\xff" * (1024 * 1024 + 7)],
    ids=["empty", "nul", "all-bytes", "1mb"],
)
async def test_binary_values_round_trip(store: CacheStore, value: bytes) -> None:
    assert await store.add("k", entry(value), 2, NOW) == 0
    assert await store.add("k", entry(b"after"), 2, NOW) == 1
    assert [e.value for e in await store.get("k", NOW)] == [value, b"after"]


async def test_many_keys(store: CacheStore) -> None:
    keys = [f"t.{i % 7}|ns|{i:05d}" for i in range(400)]
    for k in keys:
        assert await store.add(k, entry(k.encode()), 1, NOW) == 0
    for k in keys:
        assert [e.value for e in await store.get(k, NOW)] == [k.encode()]
    assert await store.delete_prefix("t.3|") == len([k for k in keys if k.startswith("t.3|")])
    assert await store.delete_prefix("") == 400 - len([k for k in keys if k.startswith("t.3|")])


class Model:
    """The contract as a few lines of Python, to compare stores with."""

    def __init__(self) -> None:
        self.buckets: dict[str, list[Entry]] = {}

    def live(self, key: str, now: float) -> list[Entry]:
        self.buckets[key] = [e for e in self.buckets.get(key, []) if e.stale_until >= now]
        return self.buckets[key]

    def add(self, key: str, e: Entry, n: int, now: float) -> int | None:
        bucket = self.live(key, now)
        if e.stale_until < now or len(bucket) >= n:
            return None
        bucket.append(e)
        return len(bucket) - 1

    def replace(self, key: str, i: int, e: Entry, now: float) -> bool:
        bucket = self.live(key, now)
        if not 0 <= i < len(bucket) or e.stale_until < now:
            return False
        bucket[i] = e
        return True


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_operations_match_the_model(store: CacheStore, seed: int) -> None:
    rnd = random.Random(seed)
    model = Model()
    now = NOW
    keys = [f"t{rnd.randrange(3)}|{i}" for i in range(8)]
    for step in range(300):
        now += rnd.choice([0, 0, 0.5, 3, 20])
        key = rnd.choice(keys)
        op = rnd.random()
        e = Entry(b"%d" % step, now, now + rnd.choice([1, 10, 40]), now + rnd.choice([40, 60]))
        if op < 0.4:
            n = rnd.randint(1, 4)
            assert await store.add(key, e, n, now) == model.add(key, e, n, now), step
        elif op < 0.7:
            assert await store.get(key, now) == model.live(key, now), step
        elif op < 0.85:
            i = rnd.randrange(4)
            assert await store.replace(key, i, e, now) == model.replace(key, i, e, now), step
        elif op < 0.95:
            await store.delete(key)  # a bucket of only dead entries may count as 0 or 1
            model.buckets.pop(key, None)
        else:
            prefix = key[:3]
            await store.delete_prefix(prefix)
            for k in [k for k in model.buckets if k.startswith(prefix)]:
                del model.buckets[k]
    for key in keys:
        assert await store.get(key, now) == model.live(key, now)
