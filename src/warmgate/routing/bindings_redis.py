"""Bindings in Redis, shared by every gateway instance that points at the same server.

Each binding is one string key `<prefix><key>` holding "<ttl ms> <last used ms> <account>", with
that TTL as the key's expiry; "last used" is Redis' own clock (`TIME`), so instances whose clocks
differ still agree on how long a binding was idle. Every operation is one Lua script (one round
trip, atomic): `get` reads, reports the idle time and marks the binding used (re-arming the expiry
with the TTL stored in the value), `set` binds only if unbound or already bound to the same account
(first writer wins), `move` is a compare-and-set.

Redis must never slow or fail a request: each call is bounded by `timeout` (50 ms by default, no
retries beyond the client's one reconnect), and every Redis error or timeout reads as "no binding".
The client and the circuit breaker come from `redis_link` (shared with the cache store when both use
one Redis): while the circuit is open, calls return None at once.
"""

from __future__ import annotations

import asyncio
import time

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from warmgate.redis_link import DEFAULT_FAILURES, DEFAULT_RESET, RedisLink
from warmgate.routing.bindings import Bound, Clock

# Values are "<ttl ms> <last used ms> <account>"; account names never contain a space (config pattern).
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function parse(v)
  local a = string.find(v, ' ', 1, true)
  local b = string.find(v, ' ', a + 1, true)
  return tonumber(string.sub(v, 1, a - 1)), tonumber(string.sub(v, a + 1, b - 1)), string.sub(v, b + 1)
end
local function put(ttl, account)
  redis.call('SET', KEYS[1], ttl .. ' ' .. string.format('%.0f', now) .. ' ' .. account, 'PX', ttl)
end
"""

# -> "<idle ms> <account>" or nil
_GET = _PRELUDE + """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local ttl, used, account = parse(v)
put(ttl, account)
return string.format('%.0f', math.max(0, now - used)) .. ' ' .. account
"""

# ARGV: account, ttl ms
_SET = _PRELUDE + """
local v = redis.call('GET', KEYS[1])
if v then
  local _, _, account = parse(v)
  if account ~= ARGV[1] then return account end
end
put(ARGV[2], ARGV[1])
return ARGV[1]
"""

# ARGV: from account, to account, ttl ms
_MOVE = _PRELUDE + """
local v = redis.call('GET', KEYS[1])
if v then
  local _, _, account = parse(v)
  if account ~= ARGV[1] and account ~= ARGV[2] then return account end
end
put(ARGV[3], ARGV[2])
return ARGV[2]
"""


class RedisBindings:
    """`link` is the app's shared link to this Redis (client and breaker); without one the
    bindings build their own (`breaker_failures`, `breaker_reset`) and close it with themselves."""

    def __init__(
        self,
        url: str,
        prefix: str = "wg:bind:",
        *,
        timeout: float = 0.05,
        breaker_failures: int = DEFAULT_FAILURES,
        breaker_reset: float = DEFAULT_RESET,
        clock: Clock = time.monotonic,
        link: RedisLink | None = None,
    ):
        self._prefix = prefix
        self._timeout = timeout
        self._owns_link = link is None
        self._link = link or RedisLink(url, failures=breaker_failures, reset=breaker_reset, clock=clock)
        self._breaker = self._link.breaker
        client = self._link.client
        self._get = client.register_script(_GET)
        self._set = client.register_script(_SET)
        self._move = client.register_script(_MOVE)

    async def get(self, key: str) -> Bound | None:
        value = await self._call(self._get, key, ())
        if value is None:
            return None
        idle, _, account = value.partition(" ")
        try:
            return Bound(account, int(idle) / 1000.0)
        except ValueError:  # not a value this module wrote
            return None

    async def set(self, key: str, account: str, ttl: float) -> str | None:
        return await self._call(self._set, key, (account, _ms(ttl)))

    async def move(self, key: str, from_account: str, to_account: str, ttl: float) -> str | None:
        return await self._call(self._move, key, (from_account, to_account, _ms(ttl)))

    async def close(self) -> None:
        if self._owns_link:
            await self._link.close()

    @property
    def circuit_open(self) -> bool:
        return self._breaker.state != "closed"

    async def _call(self, script: AsyncScript, key: str, args: tuple[str | int, ...]) -> str | None:
        """Run one script; its string result, or None when Redis failed, timed out or is shunned."""
        trial = self._breaker.acquire()
        if trial is None:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                result = await script(keys=[self._prefix + key], args=list(args))
        except (RedisError, OSError, TimeoutError):
            self._breaker.failed()
            return None
        finally:
            self._breaker.release(trial)
        self._breaker.succeeded()
        if result is None:
            return None
        return result.decode() if isinstance(result, bytes) else str(result)


def _ms(ttl: float) -> int:
    return max(1, round(ttl * 1000))
