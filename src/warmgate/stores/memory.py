"""The in-process store: an LRU of buckets bounded by bytes.

One event loop owns it, so it needs no locks, and every call is O(bucket size) (at most 64).
"""

from __future__ import annotations

from collections import OrderedDict

from warmgate.stores.base import Entry

# Rough bookkeeping cost of a bucket and of an entry (dict slot, list, Entry object, bytes header),
# so that many tiny values are bounded too, not only the value bytes.
BUCKET_OVERHEAD = 200
ENTRY_OVERHEAD = 120


def _size(entry: Entry) -> int:
    return len(entry.value) + ENTRY_OVERHEAD


class MemoryStore:
    """Buckets in least- to most-recently-used order; `get` (of a live bucket) and `add` refresh a
    bucket, and adding past `max_bytes` evicts the least recently used buckets.

    Bucket indexes are positions among the live entries: dead ones (past `stale_until`) are dropped
    whenever a bucket is read or written, and the ones after them move up. An entry that is already
    dead, or a bucket that would not fit in `max_bytes` even alone, is not stored (`add` -> None)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0
        self._buckets: OrderedDict[str, list[Entry]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket_bytes(self, key: str, bucket: list[Entry]) -> int:
        return BUCKET_OVERHEAD + len(key) + sum(_size(e) for e in bucket)

    def _live(self, key: str, bucket: list[Entry], now: float) -> list[Entry] | None:
        """`bucket` (the one of `key`) with its dead entries dropped (and the bucket itself if none is left)."""
        for e in bucket:
            if e.stale_until < now:
                break
        else:
            return bucket
        live = [e for e in bucket if e.stale_until >= now]
        self.bytes -= sum(_size(e) for e in bucket if e.stale_until < now)
        if not live:
            self._drop(key, live)
            return None
        self._buckets[key] = live
        return live

    def _drop(self, key: str, bucket: list[Entry]) -> None:
        del self._buckets[key]
        self.bytes -= BUCKET_OVERHEAD + len(key) + sum(_size(e) for e in bucket)

    def get_now(self, key: str, now: float) -> list[Entry]:
        bucket = self._buckets.get(key)
        if bucket is None:  # a miss: the common case of a lookup
            return []
        bucket = self._live(key, bucket, now)
        if bucket is None:
            return []
        self._buckets.move_to_end(key)
        return list(bucket)

    async def get(self, key: str, now: float) -> list[Entry]:
        return self.get_now(key, now)

    async def add(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        return self.add_now(key, entry, max_entries, now)

    def add_now(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        if entry.stale_until < now or max_entries < 1:
            return None
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket = self._live(key, bucket, now)
        if bucket is not None and len(bucket) >= max_entries:
            return None
        grow = len(entry.value) + ENTRY_OVERHEAD + (0 if bucket is not None else BUCKET_OVERHEAD + len(key))
        current = self._bucket_bytes(key, bucket) if bucket is not None else 0
        if current + grow > self.max_bytes:
            return None
        if bucket is None:
            bucket = self._buckets[key] = []
        else:
            self._buckets.move_to_end(key)
        bucket.append(entry)
        self.bytes += grow
        if self.bytes > self.max_bytes:
            self._evict(keep=key)
        return len(bucket) - 1

    def _evict(self, keep: str) -> None:
        while self.bytes > self.max_bytes:
            key = next(iter(self._buckets))
            if key == keep:  # cannot happen while `add` checks the bucket fits alone; kept as a stop
                break
            self._drop(key, self._buckets[key])
            self.evictions += 1

    async def replace(self, key: str, index: int, entry: Entry, now: float) -> bool:
        return self.replace_now(key, index, entry, now)

    def replace_now(self, key: str, index: int, entry: Entry, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket = self._live(key, bucket, now)
        if bucket is None or not 0 <= index < len(bucket) or entry.stale_until < now:
            return False
        delta = len(entry.value) - len(bucket[index].value)
        if self._bucket_bytes(key, bucket) + delta > self.max_bytes:
            return False
        bucket[index] = entry
        self.bytes += delta
        self._buckets.move_to_end(key)
        self._evict(keep=key)
        return True

    async def delete(self, key: str) -> int:
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0
        self._drop(key, bucket)
        return 1

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self._buckets if k.startswith(prefix)]
        for key in doomed:
            self._drop(key, self._buckets[key])
        return len(doomed)

    async def close(self) -> None:
        self._buckets.clear()
        self.bytes = 0
