"""The in-process store: an LRU of buckets bounded by bytes.

One event loop owns it, so it needs no locks, and every call is O(bucket size) (at most 64),
eviction aside (see `MemoryStore._evict`).

What a stored answer leaves behind is kept to two objects, its key and one `bytes` (the entry
packed: its three timestamps in front of its value), held by a plain dict in LRU order (a dict
keeps insertion order; a refreshed bucket is re-inserted at the end). Measured with
`bench/overhead/duel.py`: small long-lived objects (an `Entry` tuple and its floats, an
`OrderedDict` node per key) left behind by every stored miss slowed all later requests by
several per cent, more than the store's own work (`bench/cache/README.md`, "What a stored miss
leaves behind": a uniform slowdown, not the collector or page faults).
"""

from __future__ import annotations

import struct
from collections.abc import Container

from warmgate.stores.base import Entry

# Rough bookkeeping cost of a bucket and of an entry (dict slot, list, Entry object, bytes header),
# so that many tiny values are bounded too, not only the value bytes.
BUCKET_OVERHEAD = 200
ENTRY_OVERHEAD = 120

_TIMES = struct.Struct("<ddd")  # stored_at, expires_at, stale_until: in front of the value
_STALE = struct.Struct("<d")
_STALE_AT = 16
_HEAD = _TIMES.size


def pack(stored_at: float, expires_at: float, stale_until: float, value: bytes) -> bytes:
    """An entry as the store keeps it (`MemoryStore.put_now`). (The response cache packs its
    answers' entries at once, times and answer head: `cache.entry.encode_timed`.)"""
    return _TIMES.pack(stored_at, expires_at, stale_until) + value


def unpack(packed: bytes) -> Entry:
    return Entry(packed[_HEAD:], *_TIMES.unpack_from(packed))


def _dead(packed: bytes, now: float) -> bool:
    return _STALE.unpack_from(packed, _STALE_AT)[0] < now  # type: ignore[no-any-return]


def _size(packed: bytes) -> int:
    return len(packed) - _HEAD + ENTRY_OVERHEAD


_NEW_BUCKET = BUCKET_OVERHEAD + ENTRY_OVERHEAD - _HEAD  # what a bucket of one costs beyond its key and packed entry


# A bucket as kept: one packed entry bare (the common bucket of size 1: no list object per key),
# several in a list.
Slot = bytes | list[bytes]


def _packed(slot: Slot) -> list[bytes]:
    """A bucket's packed entries, in a list of their own (the caller may change it)."""
    return list(slot) if type(slot) is list else [slot]  # type: ignore[list-item]


def _slot(packed: list[bytes]) -> Slot:
    return packed[0] if len(packed) == 1 else packed


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
        self._buckets: dict[str, Slot] = {}  # least recently used first
        self.keys: Container[str] = self._buckets  # `key in store.keys`: a probe without a call
        # Stores of 16 MiB and more evict 1/256 of their bound at a time (see `_evict`): at the
        # default 256 MiB, 1 MiB (about a thousand answers) per pass, well under a millisecond.
        self._low_water = max_bytes - max_bytes // 256 if max_bytes >= 1 << 24 else max_bytes
        self._dropped = 0  # buckets evicted one at a time since the dict was last compacted (see `_evict`)

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket_bytes(self, key: str, bucket: list[bytes]) -> int:
        return BUCKET_OVERHEAD + len(key) + sum(_size(p) for p in bucket)

    def _live(self, key: str, slot: Slot, now: float) -> list[bytes] | None:
        """The live packed entries of `key`'s bucket `slot`, in a new list; dead ones are dropped
        from the store (and the bucket, if none is left: then None)."""
        bucket = _packed(slot)
        for p in bucket:
            if _dead(p, now):
                break
        else:
            return bucket
        live = [p for p in bucket if not _dead(p, now)]
        if not live:
            self._drop(key, slot)
            return None
        self.bytes -= sum(_size(p) for p in bucket if _dead(p, now))
        self._buckets[key] = _slot(live)
        return live

    def _drop(self, key: str, slot: Slot) -> None:
        del self._buckets[key]
        self.bytes -= self._bucket_bytes(key, _packed(slot))

    def _touch(self, key: str) -> None:
        """Make `key` the most recently used bucket."""
        buckets = self._buckets
        buckets[key] = buckets.pop(key)

    def get_packed_now(self, key: str, now: float) -> list[bytes]:
        """The live entries of `key`'s bucket as kept (see `unpack`); the same `bytes`
        objects on every call, so a caller may memoise what it makes of them."""
        slot = self._buckets.get(key)
        if slot is None:  # a miss: the common case of a lookup
            return []
        bucket = self._live(key, slot, now)
        if bucket is None:
            return []
        self._touch(key)
        return bucket

    def get_now(self, key: str, now: float) -> list[Entry]:
        return [unpack(p) for p in self.get_packed_now(key, now)]

    async def get(self, key: str, now: float) -> list[Entry]:
        return self.get_now(key, now)

    async def add(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        return self.add_now(key, entry, max_entries, now)

    def add_now(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        if entry.stale_until < now:
            return None
        return self.put_now(key, pack(entry.stored_at, entry.expires_at, entry.stale_until, entry.value), max_entries, now)

    def put_now(self, key: str, packed: bytes, max_entries: int, now: float) -> int | None:
        """`add_now` of an entry already packed (`pack`), alive at `now`."""
        if max_entries < 1:
            return None
        buckets = self._buckets
        slot = buckets.setdefault(key, packed)  # (one probe of the dict where `get` and a store take two)
        if slot is packed:  # the common case: a first answer for the key, now its bucket
            grow = len(packed) + len(key) + _NEW_BUCKET
            if grow > self.max_bytes:
                del buckets[key]
                return None
            self.bytes = total = self.bytes + grow
            if total > self.max_bytes:
                self._evict(keep=key)
            return 0
        bucket = self._live(key, slot, now)
        if bucket is None:  # every entry was dead: the bucket is gone, start it again
            return self.put_now(key, packed, max_entries, now)
        if len(bucket) >= max_entries:
            return None
        grow = _size(packed)
        if self._bucket_bytes(key, bucket) + grow > self.max_bytes:
            return None
        bucket.append(packed)
        self._buckets[key] = bucket
        self._touch(key)
        self.bytes += grow
        if self.bytes > self.max_bytes:
            self._evict(keep=key)
        return len(bucket) - 1

    def _evict(self, keep: str) -> None:
        """Drop the least recently used buckets while the store is over its bound: down to the low
        water mark, found in one pass. (The oldest buckets are first in the dict's order, behind the
        empty slots of those dropped before, which a pass walks over: evicting in batches keeps that
        walk amortised O(1) per bucket; stores under 16 MiB, which evict one bucket at a time,
        compact the dict now and then instead.)"""
        if self.bytes <= self.max_bytes:
            return
        buckets = self._buckets
        doomed: list[str] = []
        left, low = self.bytes, self._low_water
        for key, slot in buckets.items():
            if left <= low or key == keep:  # `keep`: cannot happen while `add` checks the bucket fits
                break  # alone; kept as a stop
            doomed.append(key)
            if type(slot) is bytes:  # the common bucket of one
                left -= BUCKET_OVERHEAD + len(key) + len(slot) - _HEAD + ENTRY_OVERHEAD
            else:
                left -= self._bucket_bytes(key, slot)  # type: ignore[arg-type]
        for key in doomed:
            del buckets[key]
        self.bytes = left
        self.evictions += len(doomed)
        if self._low_water == self.max_bytes:
            # Evicting one bucket at a time, each pass walks the empty slots of all those dropped
            # since the dict last grew: O(number of buckets) per stored answer once the store is
            # full (7.8 µs at 8 MiB of 700-byte answers). A copy of the dict has none of them:
            # made every `len / 8` evictions (at least 1024), it costs about 8 buckets' copy per
            # eviction and keeps the walk to 512 slots, or a sixteenth of the buckets, on average
            # (2.2-2.9 µs per stored answer at 1-15 MiB).
            self._dropped += len(doomed)
            if self._dropped >= max(1024, len(buckets) >> 3):
                compact = dict(buckets)  # (in place: `keys` is the same dict; refilled from a
                buckets.clear()  # dict without holes, it is a copy of that one's table)
                buckets.update(compact)
                self._dropped = 0

    async def replace(self, key: str, index: int, entry: Entry, now: float) -> bool:
        return self.replace_now(key, index, entry, now)

    def replace_now(self, key: str, index: int, entry: Entry, now: float) -> bool:
        slot = self._buckets.get(key)
        bucket = self._live(key, slot, now) if slot is not None else None
        if bucket is None or not 0 <= index < len(bucket) or entry.stale_until < now:
            return False
        delta = len(entry.value) + ENTRY_OVERHEAD - _size(bucket[index])
        if self._bucket_bytes(key, bucket) + delta > self.max_bytes:
            return False
        bucket[index] = pack(entry.stored_at, entry.expires_at, entry.stale_until, entry.value)
        self._buckets[key] = _slot(bucket)
        self.bytes += delta
        self._touch(key)
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
