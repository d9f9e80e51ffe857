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


# A bucket as kept: one entry bare (the common bucket of size 1: no list object per key, which
# measurably costs a server that stores every miss), several in a list.
Slot = Entry | list[Entry]


def _entries(slot: Slot) -> list[Entry]:
    """A bucket's entries, in a list of their own (the caller may change it)."""
    return list(slot) if type(slot) is list else [slot]  # type: ignore[list-item]


def _slot(entries: list[Entry]) -> Slot:
    return entries[0] if len(entries) == 1 else entries


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
        self._buckets: OrderedDict[str, Slot] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket_bytes(self, key: str, bucket: list[Entry]) -> int:
        return BUCKET_OVERHEAD + len(key) + sum(_size(e) for e in bucket)

    def _live(self, key: str, slot: Slot, now: float) -> list[Entry] | None:
        """The live entries of `key`'s bucket `slot`, in a new list; dead ones are dropped from the
        store (and the bucket, if none is left: then None)."""
        entries = _entries(slot)
        for e in entries:
            if e.stale_until < now:
                break
        else:
            return entries
        live = [e for e in entries if e.stale_until >= now]
        if not live:
            self._drop(key, slot)
            return None
        self.bytes -= sum(_size(e) for e in entries if e.stale_until < now)
        self._buckets[key] = _slot(live)
        return live

    def _drop(self, key: str, slot: Slot) -> None:
        del self._buckets[key]
        self.bytes -= self._bucket_bytes(key, _entries(slot))

    def get_now(self, key: str, now: float) -> list[Entry]:
        slot = self._buckets.get(key)
        if slot is None:  # a miss: the common case of a lookup
            return []
        bucket = self._live(key, slot, now)
        if bucket is None:
            return []
        self._buckets.move_to_end(key)
        return bucket

    async def get(self, key: str, now: float) -> list[Entry]:
        return self.get_now(key, now)

    async def add(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        return self.add_now(key, entry, max_entries, now)

    def add_now(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        if entry.stale_until < now or max_entries < 1:
            return None
        slot = self._buckets.get(key)
        if slot is None:  # the common case: a first answer for the key
            grow = len(entry.value) + ENTRY_OVERHEAD + BUCKET_OVERHEAD + len(key)
            if grow > self.max_bytes:
                return None
            self._buckets[key] = entry
            self.bytes += grow
            if self.bytes > self.max_bytes:
                self._evict(keep=key)
            return 0
        bucket = self._live(key, slot, now)
        if bucket is None:  # every entry was dead: the bucket is gone, start it again
            return self.add_now(key, entry, max_entries, now)
        if len(bucket) >= max_entries:
            return None
        grow = len(entry.value) + ENTRY_OVERHEAD
        if self._bucket_bytes(key, bucket) + grow > self.max_bytes:
            return None
        bucket.append(entry)
        self._buckets[key] = bucket
        self._buckets.move_to_end(key)
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
        slot = self._buckets.get(key)
        bucket = self._live(key, slot, now) if slot is not None else None
        if bucket is None or not 0 <= index < len(bucket) or entry.stale_until < now:
            return False
        delta = len(entry.value) - len(bucket[index].value)
        if self._bucket_bytes(key, bucket) + delta > self.max_bytes:
            return False
        bucket[index] = entry
        self._buckets[key] = _slot(bucket)
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
