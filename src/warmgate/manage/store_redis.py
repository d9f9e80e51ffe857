"""The shared management store: Redis. Three keys under the prefix: `version` (an integer),
`doc` (the JSON document) and `audit` (a list, newest first, trimmed to 10 000 records).

The compare-and-set is one Lua script, so it is atomic however many instances share the server.
Durability is Redis's own: run it with `appendonly yes` and `appendfsync always` for "a crash loses
nothing acknowledged" (see docs/management.md). Imported only by the store factory.
"""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from warmgate.manage.store import AdminStoreError

_CAS = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], v + 1)
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], 0, 9999)
return 1
"""


class RedisAdminStore:
    def __init__(self, url: str, prefix: str):
        self._redis: Any = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._keys = [prefix + "version", prefix + "doc", prefix + "audit"]
        self._cas: Any = self._redis.register_script(_CAS)

    async def read(self) -> tuple[int, bytes | None]:
        try:
            version, doc = await self._redis.mget(self._keys[0], self._keys[1])
        except RedisError as e:
            raise AdminStoreError(f"redis: {e}") from e
        return int(version or 0), cast("bytes | None", doc)

    async def version(self) -> int:
        try:
            return int(await self._redis.get(self._keys[0]) or 0)
        except RedisError as e:
            raise AdminStoreError(f"redis: {e}") from e

    async def write(self, expected: int, doc: bytes, audit: bytes) -> bool:
        try:
            return bool(await self._cas(keys=self._keys, args=[expected, doc, audit]))
        except RedisError as e:
            raise AdminStoreError(f"redis: {e}") from e

    async def audit(self, limit: int) -> list[bytes]:
        try:
            return list(await self._redis.lrange(self._keys[2], 0, limit - 1))
        except RedisError as e:
            raise AdminStoreError(f"redis: {e}") from e

    async def close(self) -> None:
        await self._redis.aclose()
