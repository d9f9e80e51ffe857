"""The response cache over a store: lookup (fresh, stale, buckets), save, purge.

Any store failure makes the lookup a miss and the save a no-op, counted in metrics: a broken store
degrades the gateway to pass-through, it never fails a request.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from warmgate.cache.entry import CachedAnswer, CorruptEntry, decode, encode
from warmgate.cache.policy import CachePolicy
from warmgate.metrics import Metrics
from warmgate.stores.base import CacheStore, Entry, StoreError


@dataclass(frozen=True, slots=True)
class Found:
    state: Literal["hit", "stale"]
    answer: CachedAnswer
    index: int  # the bucket index served
    age: float  # seconds since it was stored


class ResponseCache:
    def __init__(
        self,
        store: CacheStore,
        store_name: str,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        choose: Callable[[int], int] = random.randrange,
    ):
        self.store = store
        self.store_name = store_name
        self.metrics = metrics
        self._clock = clock
        self._choose = choose

    async def lookup(self, key: str, policy: CachePolicy) -> Found | None:
        """A fresh or stale entry for `key`; None on a miss, including a bucket not yet full."""
        now = self._clock()
        try:
            entries = await self.store.get(key, now)
        except StoreError:
            self.metrics.store_errors.inc((self.store_name, "get"))
            return None
        if not entries or len(entries) < policy.bucket_size:
            return None
        index = 0 if len(entries) == 1 else self._choose(len(entries))
        entry = entries[index]
        try:
            answer = decode(entry.value)
        except CorruptEntry:
            with contextlib.suppress(StoreError):
                await self.store.delete(key)
            return None
        age = max(0.0, now - entry.stored_at)
        if policy.max_entry_age is not None and age > policy.max_entry_age:
            return None  # older than the request accepts
        state: Literal["hit", "stale"] = "hit" if now < entry.expires_at else "stale"
        return Found(state, answer, index, age)

    async def save(self, key: str, policy: CachePolicy, answer: CachedAnswer, index: int | None = None) -> int | None:
        """Store an answer: appended to the bucket, or replacing entry `index` (a stale refresh).
        Returns the bucket index, or None when nothing was stored."""
        if policy.ttl <= 0:
            return None
        now = self._clock()
        entry = Entry(encode(answer), now, now + policy.ttl, now + policy.ttl + policy.stale)
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
            return await self.store.delete(key)
        except StoreError:
            self.metrics.store_errors.inc((self.store_name, "delete"))
            raise

    async def purge_prefix(self, prefix: str) -> int:
        try:
            return await self.store.delete_prefix(prefix)
        except StoreError:
            self.metrics.store_errors.inc((self.store_name, "delete"))
            raise
