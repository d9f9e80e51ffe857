"""The cache store seam: one small async Protocol, implemented by memory, SQLite and Redis.

A key holds a *bucket*: up to N entries (N = the bucket size of the request that stores). Entries
are opaque bytes to the store, plus three timestamps (unix seconds, from an injected clock):

    stored_at <= expires_at <= stale_until

An entry is fresh until `expires_at`, may be served as STALE until `stale_until`, and must be gone
(never returned) after `stale_until`; stores drop it physically then or later (Redis: key TTL).
Keys are strings built by the cache layer as `<scope>|<namespace>|<digest>`, so purges can work by
prefix: `delete_prefix("t.team-a|")` drops a tenant, `delete_prefix("t.team-a|ns|")` a namespace,
`delete_prefix("")` everything.

Any store error surfaces as `StoreError` (never a raw driver exception), so the cache layer can
treat it as a miss.
"""

from __future__ import annotations

from collections.abc import Container
from typing import NamedTuple, Protocol


class StoreError(Exception):
    """The store failed or timed out; the request goes on as a pass-through miss."""


class Entry(NamedTuple):
    """One cached answer in a bucket (a NamedTuple: cheap to build, one per stored answer)."""

    value: bytes
    stored_at: float
    expires_at: float
    stale_until: float


class CacheStore(Protocol):
    async def get(self, key: str, now: float) -> list[Entry]:
        """The bucket's entries not past `stale_until` at `now`, in bucket-index order (may be empty)."""
        ...

    async def add(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        """Append `entry` to the bucket if it holds fewer than `max_entries` live entries; return its
        index, or None when the bucket is already full. Dead entries (past stale_until) do not count
        and may be dropped. The bucket lives at least until the latest `stale_until` of its entries."""
        ...

    async def replace(self, key: str, index: int, entry: Entry, now: float) -> bool:
        """Overwrite entry `index` of the bucket (a background refresh of a stale entry); False if
        that index does not exist (any more)."""
        ...

    async def delete(self, key: str) -> int:
        """Drop a whole bucket; returns the number of keys removed (0 or 1)."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Drop every bucket whose key starts with `prefix` ("" = everything); returns how many."""
        ...

    async def close(self) -> None: ...


class NowStore(Protocol):
    """A store that works without I/O (memory): the edge answers fresh hits from it without
    starting a task (see `server/protocol.py`), and answers are stored without one."""

    keys: Container[str]
    """The keys that hold a bucket (live or not yet dropped): `key not in keys` is a miss, found
    without a call or a clock reading."""

    def get_packed_now(self, key: str, now: float) -> list[bytes]:
        """`CacheStore.get`, synchronously, with each entry as the store keeps it (`stores.memory.unpack`
        makes an `Entry` of it): the same object on every call while the entry lives."""
        ...

    def put_now(self, key: str, packed: bytes, max_entries: int, now: float) -> int | None:
        """`CacheStore.add`, synchronously, of an entry packed as the store keeps it
        (`stores.memory.pack`), alive at `now`."""
        ...

    def replace_now(self, key: str, index: int, entry: Entry, now: float) -> bool:
        """`CacheStore.replace`, synchronously."""
        ...
