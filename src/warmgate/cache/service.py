"""The response cache over a store: lookup (fresh, stale, buckets), save, purge.

Any store failure makes the lookup a miss and the save a no-op, counted in metrics: a broken store
degrades the gateway to pass-through, it never fails a request.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Literal, NamedTuple

from warmgate.cache.entry import CachedAnswer, CorruptEntry, decode, encode, encode_timed
from warmgate.cache.policy import CachePolicy
from warmgate.dialects.usage import Usage
from warmgate.metrics import Metrics
from warmgate.stores.base import CacheStore, Entry, NowStore, StoreError
from warmgate.stores.memory import pack, unpack

_MEMO_ENTRIES = 512  # decoded answers kept (memory store), at most this many of at most ...
_MEMO_VALUE_BYTES = 64 * 1024  # ... this size each


class Found(NamedTuple):
    state: Literal["hit", "stale"]
    answer: CachedAnswer
    slot: int  # the bucket index served
    age: float  # seconds since it was stored


def _entry(value: bytes, now: float, policy: CachePolicy) -> Entry:
    expires = now + policy.ttl
    return Entry(value, now, expires, expires + policy.stale)


class ResponseCache:
    def __init__(
        self,
        store: CacheStore,
        store_name: str,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        choose: Callable[[int], int] = random.randrange,
        now: NowStore | None = None,
    ):
        """`now`: the store again when it works without I/O (memory; see `stores.factory.now_store`):
        fresh hits are then answered at the edge, and answers stored, without a task."""
        self.store = store
        self.now = now
        self.store_name = store_name
        self.metrics = metrics
        self._clock = clock
        self._choose = choose
        # memory store: its packed entries are the same objects on every hit, so their decoded
        # form is kept (bytes cache their hash: a lookup here is one dict probe)
        self._decoded: dict[bytes, tuple[CachedAnswer, float, float]] = {}
        self.purge_hooks: list[Callable[[str], Awaitable[int]]] = []
        """Called with the key or prefix after each purge (the semantic index drops those items too)."""

    async def lookup(self, key: str, policy: CachePolicy) -> Found | None:
        """A fresh or stale entry for `key`; None on a miss, including a bucket not yet full."""
        now = self._clock()
        try:
            entries = await self.store.get(key, now)
        except StoreError:
            self.metrics.store_errors.inc((self.store_name, "get"))
            return None
        try:
            return self._pick(entries, policy, now)
        except CorruptEntry:
            with contextlib.suppress(StoreError):
                await self.store.delete(key)
            return None

    def lookup_now(self, key: str, policy: CachePolicy) -> Found | None:
        """`lookup` without I/O, for a store that works `now` (memory); None also when the entry
        needs the async path (a corrupt entry to delete)."""
        store = self.now
        assert store is not None
        if key not in store.keys:  # a miss: the common case of a lookup
            return None
        now = self._clock()
        packed = store.get_packed_now(key, now)
        if len(packed) < policy.bucket_size or not packed:
            return None
        index = 0 if len(packed) == 1 else self._choose(len(packed))
        memo = self._decoded
        known = memo.get(packed[index])
        if known is None:
            entry = unpack(packed[index])
            try:
                known = (decode(entry.value), entry.stored_at, entry.expires_at)
            except CorruptEntry:
                return None
            if len(entry.value) <= _MEMO_VALUE_BYTES:
                if len(memo) >= _MEMO_ENTRIES:
                    memo.clear()
                memo[packed[index]] = known
        return self._found(known[0], known[1], known[2], index, policy, now)

    def _pick(self, entries: list[Entry], policy: CachePolicy, now: float) -> Found | None:
        if len(entries) < policy.bucket_size or not entries:
            return None
        index = 0 if len(entries) == 1 else self._choose(len(entries))
        entry = entries[index]
        return self._found(decode(entry.value), entry.stored_at, entry.expires_at, index, policy, now)

    @staticmethod
    def _found(
        answer: CachedAnswer, stored_at: float, expires_at: float, index: int, policy: CachePolicy, now: float
    ) -> Found | None:
        age = max(0.0, now - stored_at)
        if policy.max_entry_age is not None and age > policy.max_entry_age:
            return None  # older than the request accepts
        state: Literal["hit", "stale"] = "hit" if now < expires_at else "stale"
        return Found(state, answer, index, age)

    def save_now(self, key: str, policy: CachePolicy, answer: CachedAnswer, index: int | None = None) -> int | None:
        """`save` without I/O, for a store that works `now` (memory)."""
        store = self.now
        assert store is not None
        if index is None:
            status, body, events, upstream_ms, tokens, usage = answer
            return self.store_now(key, policy, status, body, events, upstream_ms, tokens, usage)
        if policy.ttl <= 0:
            return None
        now = self._clock()
        entry = _entry(encode(answer), now, policy)
        if store.replace_now(key, index, entry, now):
            return index
        return store.put_now(key, pack(now, entry.expires_at, entry.stale_until, entry.value), policy.bucket_size, now)

    def store_now(
        self, key: str, policy: CachePolicy, status: int, body: bytes, events: bytes | None, upstream_ms: float,
        tokens: int, usage: Usage, marked: bool = True,
    ) -> int | None:
        """`save_now` (added to the bucket) of an answer given by its parts: a stored miss's way,
        which needs no `CachedAnswer` (nor any copy of the body but the stored one). `marked=False`:
        see `entry.encode_timed`."""
        assert self.now is not None
        if policy.ttl <= 0:
            return None
        now = self._clock()
        expires = now + policy.ttl
        packed = encode_timed(now, expires, expires + policy.stale, status, body, events, upstream_ms, tokens, usage,
                              marked)
        return self.now.put_now(key, packed, policy.bucket_size, now)

    async def save(self, key: str, policy: CachePolicy, answer: CachedAnswer, index: int | None = None) -> int | None:
        """Store an answer: appended to the bucket, or replacing entry `index` (a stale refresh).
        Returns the bucket index, or None when nothing was stored."""
        if policy.ttl <= 0:
            return None
        now = self._clock()
        entry = _entry(encode(answer), now, policy)
        try:
            if index is not None and await self.store.replace(key, index, entry, now):
                stored: int | None = index
            else:
                stored = await self.store.add(key, entry, policy.bucket_size, now)
        except StoreError:
            self.metrics.store_errors.inc((self.store_name, "save"))
            return None
        return stored

    async def purge_key(self, key: str) -> int:
        try:
            dropped = await self.store.delete(key)
        except StoreError:
            self.metrics.store_errors.inc((self.store_name, "delete"))
            raise
        for hook in self.purge_hooks:  # keys have one length: as a prefix, a key matches only itself
            await hook(key)
        return dropped

    async def purge_prefix(self, prefix: str) -> int:
        try:
            dropped = await self.store.delete_prefix(prefix)
        except StoreError:
            self.metrics.store_errors.inc((self.store_name, "delete"))
            raise
        for hook in self.purge_hooks:
            await hook(prefix)
        return dropped
