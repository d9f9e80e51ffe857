"""The shared store: Redis, used by many gateway instances at once.

A bucket is one Redis hash under `key_prefix + key`:

    "m"            the live entries' headers in bucket-index order, 28 bytes each:
                   little-endian uint32 slot, then stored_at, expires_at, stale_until as doubles
    "<slot>"       the value of the entry whose header names that slot

`add` and `replace` are Lua scripts, so the size check, the write and the key's TTL change are one
atomic step however many instances share the server. The key's TTL is the latest `stale_until` of
its live entries, *relative to the caller's `now`* (so a gateway whose clock differs from the
server's, or a test clock, still gets the intended lifetime); Redis then drops the bucket by itself.

Imported only by the store factory (redis is an optional dependency).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from warmgate.redis_link import build_client
from warmgate.stores.base import Entry, StoreError

HEADER = struct.Struct("<Iddd")
TIMES = struct.Struct("<ddd")

# Shared by both scripts: parse the headers of KEYS[1] at `now`, HDEL the values of dead entries.
_PRELUDE = """
local now = tonumber(ARGV[1])
local m = redis.call('HGET', KEYS[1], 'm')
local recs, slots, stales, dead = {}, {}, {}, {}
if m then
  for pos = 1, #m, 28 do
    local slot, _, _, stale = struct.unpack('<I4ddd', m, pos)
    if stale < now then
      dead[#dead + 1] = tostring(slot)
    else
      recs[#recs + 1] = string.sub(m, pos, pos + 27)
      slots[#slots + 1] = slot
      stales[#stales + 1] = stale
    end
  end
end
if #dead > 0 then
  redis.call('HDEL', KEYS[1], unpack(dead))
end
local function save()
  if #recs == 0 then
    redis.call('DEL', KEYS[1])
    return
  end
  local latest = stales[1]
  for i = 2, #stales do
    if stales[i] > latest then latest = stales[i] end
  end
  redis.call('HSET', KEYS[1], 'm', table.concat(recs))
  redis.call('PEXPIRE', KEYS[1], math.floor((latest - now) * 1000) + 1)
end
"""

# ARGV: now, max_entries, times (<ddd), value -> the new index, or nil when full.
_ADD = (
    _PRELUDE
    + """
if #recs >= tonumber(ARGV[2]) then
  if #dead > 0 then save() end
  return false
end
local top = -1
for i = 1, #slots do
  if slots[i] > top then top = slots[i] end
end
local times = ARGV[3]
recs[#recs + 1] = struct.pack('<I4', top + 1) .. times
stales[#stales + 1] = struct.unpack('<d', times, 17)
redis.call('HSET', KEYS[1], tostring(top + 1), ARGV[4])
save()
return #recs - 1
"""
)

# ARGV: now, index, times (<ddd), value -> 1 if replaced, 0 if there is no such live index.
_REPLACE = (
    _PRELUDE
    + """
local i = tonumber(ARGV[2]) + 1
if i > #recs then
  if #dead > 0 then save() end
  return 0
end
local times = ARGV[3]
recs[i] = struct.pack('<I4', slots[i]) .. times
stales[i] = struct.unpack('<d', times, 17)
redis.call('HSET', KEYS[1], tostring(slots[i]), ARGV[4])
save()
return 1
"""
)

_GLOB_SPECIAL = {c: "\\" + c for c in "\\*?[]^"}

UNLINK_BATCH = 500


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis MATCH pattern."""
    return "".join(_GLOB_SPECIAL.get(c, c) for c in text)


@contextmanager
def _driver_errors() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:  # ConnectionError, TimeoutError, ResponseError, ... share this base
        raise StoreError(f"redis: {exc}") from exc
    except struct.error as exc:  # a key under our prefix that we did not write
        raise StoreError(f"redis: malformed bucket ({exc})") from exc


class RedisStore:
    """Buckets as Redis hashes (see the module docstring). Bucket indexes are positions among the
    live entries; dead ones are dropped by `add` and `replace`, and skipped by `get`. An entry that
    is already dead is not stored (`add` -> None).

    Nothing connects at construction, so the gateway starts while Redis is down; the pool
    reconnects by itself once it is back (`redis_link.build_client`). `key_prefix` separates this store's keys from others'
    (two stores must not use prefixes where one starts with the other)."""

    def __init__(self, url: str, key_prefix: str = "wg:", *, client: aioredis.Redis | None = None) -> None:
        self.key_prefix = key_prefix
        # The client comes from the one place that builds them (`redis_link`); one passed in is
        # shared (the app's link, also used by the bindings) and closed by its owner, not here.
        self._owns_client = client is None
        self._redis = client if client is not None else build_client(url)
        self._add = self._redis.register_script(_ADD)
        self._replace = self._redis.register_script(_REPLACE)

    async def get(self, key: str, now: float) -> list[Entry]:
        with _driver_errors():
            # decode_responses is off, so names and values are bytes
            fields = cast("dict[bytes, bytes]", await self._redis.hgetall(self.key_prefix + key))
            meta = fields.get(b"m")
            if not meta:
                return []
            out = []
            for slot, stored_at, expires_at, stale_until in HEADER.iter_unpack(meta):
                if stale_until >= now:
                    value = fields.get(str(slot).encode())
                    if value is not None:
                        out.append(Entry(value, stored_at, expires_at, stale_until))
            return out

    async def add(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        if entry.stale_until < now or max_entries < 1:
            return None
        times = TIMES.pack(entry.stored_at, entry.expires_at, entry.stale_until)
        with _driver_errors():
            index = await self._add(
                keys=[self.key_prefix + key], args=[repr(now), max_entries, times, entry.value]
            )
        return None if index is None else int(index)

    async def replace(self, key: str, index: int, entry: Entry, now: float) -> bool:
        if index < 0 or entry.stale_until < now:
            return False
        times = TIMES.pack(entry.stored_at, entry.expires_at, entry.stale_until)
        with _driver_errors():
            done = await self._replace(
                keys=[self.key_prefix + key], args=[repr(now), index, times, entry.value]
            )
        return bool(done)

    async def delete(self, key: str) -> int:
        with _driver_errors():
            return int(await self._redis.unlink(self.key_prefix + key))

    async def delete_prefix(self, prefix: str) -> int:
        pattern = glob_escape(self.key_prefix + prefix) + "*"
        removed = 0
        batch: list[bytes] = []
        with _driver_errors():
            async for name in self._redis.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= UNLINK_BATCH:
                    removed += int(await self._redis.unlink(*batch))
                    batch.clear()
            if batch:
                removed += int(await self._redis.unlink(*batch))
        return removed

    async def close(self) -> None:
        if self._owns_client:
            with _driver_errors():
                await self._redis.aclose()
