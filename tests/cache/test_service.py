"""ResponseCache over the memory store: the packed entries a stored miss writes."""

from __future__ import annotations

import orjson

from warmgate.cache.entry import CachedAnswer, encode
from warmgate.cache.policy import CachePolicy
from warmgate.cache.recording import HIT_MARK
from warmgate.cache.service import ResponseCache
from warmgate.dialects.usage import Usage
from warmgate.metrics import Metrics
from warmgate.stores.memory import MemoryStore, pack, unpack

NOW = 1_700_000_000.25
POLICY = CachePolicy(True, True, True, 60.0, 30.0, 1, "t", "ns", None)
USAGE = Usage(3050, 1000, 2000, 200, 500)


def _cache(store: MemoryStore) -> ResponseCache:
    return ResponseCache(store, "memory", Metrics(), clock=lambda: NOW, now=store)


def test_store_now_packs_what_pack_of_encode_packs() -> None:
    store = MemoryStore(1 << 20)
    cache = _cache(store)
    for key, events in (("k1", None), ("k2", b"data: x\n\n")):
        answer = CachedAnswer(201, b'{"a":1}', events, 812.5, 4321, USAGE)
        assert cache.store_now(key, POLICY, *answer) == 0
        (packed,) = store.get_packed_now(key, NOW)
        assert packed == pack(NOW, NOW + 60.0, NOW + 90.0, encode(answer))
        assert unpack(packed).value == encode(answer)
        found = cache.lookup_now(key, POLICY)
        assert found is not None and found.answer == answer and found.state == "hit"


def test_save_now_adds_and_replaces() -> None:
    store = MemoryStore(1 << 20)
    cache = _cache(store)
    policy = POLICY._replace(bucket_size=2)
    first = CachedAnswer(200, b'{"n":1}', None, 1.0, 3, Usage(1, 0, 0, 2))
    second = first._replace(body=b'{"n":2}')
    assert cache.save_now("k", policy, first) == 0
    assert cache.save_now("k", policy, first) == 1
    assert cache.save_now("k", policy, second, index=1) == 1  # a stale entry's refresh
    assert [unpack(p).value for p in store.get_packed_now("k", NOW)] == [encode(first), encode(second)]


def test_nothing_is_stored_without_a_ttl() -> None:
    store = MemoryStore(1 << 20)
    cache = _cache(store)
    answer = CachedAnswer(200, b"{}", None, 1.0, 0)
    assert cache.store_now("k", POLICY._replace(ttl=0.0), *answer) is None
    assert cache.save_now("k", POLICY._replace(ttl=0.0), answer) is None
    assert len(store) == 0


def test_an_answer_stored_unmarked_is_read_marked_as_a_hit() -> None:
    store = MemoryStore(1 << 20)
    cache = _cache(store)
    raw = orjson.dumps({"id": "x", "choices": [{"index": 0}]})
    assert cache.store_now("k", POLICY, 200, raw, None, 5.0, 3, USAGE, marked=False) == 0
    found = cache.lookup_now("k", POLICY)
    assert found is not None
    assert orjson.loads(found.answer.body) == {**orjson.loads(raw), **HIT_MARK}
    assert found.answer == CachedAnswer(200, found.answer.body, None, 5.0, 3, USAGE)
    # the same answer stored marked reads the same
    assert cache.store_now("m", POLICY, 200, found.answer.body, None, 5.0, 3, USAGE) == 0
    again = cache.lookup_now("m", POLICY)
    assert again is not None and again.answer == found.answer


def test_an_unmarked_body_that_is_not_an_object_is_a_corrupt_entry() -> None:
    store = MemoryStore(1 << 20)
    cache = _cache(store)
    assert cache.store_now("k", POLICY, 200, b"[1, 2]", None, 5.0, 3, USAGE, marked=False) == 0
    assert cache.lookup_now("k", POLICY) is None
