"""Bindings in Redis, shared by every gateway instance that points at the same server.

Each binding is one string key `<prefix><key>` holding "<ttl in ms> <account>", with that TTL as
the key's expiry. Every operation is one Lua script (one round trip, atomic): `get` reads and
re-arms the expiry with the TTL stored in the value, `set` binds only if unbound or already bound
to the same account (first writer wins), `move` is a compare-and-set.

Redis must never slow or fail a request: each call is bounded by `timeout` (50 ms by default,
connect included, no retries), and every Redis error or timeout reads as "no binding". After
`breaker_failures` consecutive failures the circuit opens: calls return None at once for
`breaker_reset` seconds, then a single call probes Redis again.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from warmgate.routing.bindings import Clock

log = logging.getLogger("warmgate.routing")

# Values are "<ttl ms> <account>"; account names never contain a space (config pattern).
_ACCOUNT = """
local function account(v)
  local sp = string.find(v, ' ', 1, true)
  if sp then return string.sub(v, sp + 1) end
  return v
end
"""

_GET = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local sp = string.find(v, ' ', 1, true)
if sp then redis.call('PEXPIRE', KEYS[1], tonumber(string.sub(v, 1, sp - 1))) end
return v
"""

# ARGV: account, ttl ms
_SET = _ACCOUNT + """
local v = redis.call('GET', KEYS[1])
if v and account(v) ~= ARGV[1] then return account(v) end
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""

# ARGV: from account, to account, ttl ms
_MOVE = _ACCOUNT + """
local v = redis.call('GET', KEYS[1])
if v and account(v) ~= ARGV[1] and account(v) ~= ARGV[2] then return account(v) end
redis.call('SET', KEYS[1], ARGV[3] .. ' ' .. ARGV[2], 'PX', ARGV[3])
return ARGV[2]
"""


class RedisBindings:
    def __init__(
        self,
        url: str,
        prefix: str = "wg:bind:",
        *,
        timeout: float = 0.05,
        breaker_failures: int = 5,
        breaker_reset: float = 5.0,
        clock: Clock = time.monotonic,
    ):
        self._prefix = prefix
        self._timeout = timeout
        self._breaker_failures = breaker_failures
        self._breaker_reset = breaker_reset
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
        )
        self._get = self._redis.register_script(_GET)
        self._set = self._redis.register_script(_SET)
        self._move = self._redis.register_script(_MOVE)

    async def get(self, key: str) -> str | None:
        value = await self._call(self._get, key, ())
        if value is None:
            return None
        return value.partition(" ")[2] or value

    async def set(self, key: str, account: str, ttl: float) -> str | None:
        return await self._call(self._set, key, (account, _ms(ttl)))

    async def move(self, key: str, from_account: str, to_account: str, ttl: float) -> str | None:
        return await self._call(self._move, key, (from_account, to_account, _ms(ttl)))

    async def close(self) -> None:
        await self._redis.aclose()

    @property
    def circuit_open(self) -> bool:
        return self._clock() < self._open_until

    async def _call(self, script: AsyncScript, key: str, args: tuple[str | int, ...]) -> str | None:
        """Run one script; its string result, or None when Redis failed, timed out or is shunned."""
        now = self._clock()
        if now < self._open_until:
            return None
        if self._failures >= self._breaker_failures:
            # Half-open: this call probes; the others keep skipping until it has answered.
            self._open_until = now + self._breaker_reset
        try:
            async with asyncio.timeout(self._timeout):
                result = await script(keys=[self._prefix + key], args=list(args))
        except (RedisError, OSError, TimeoutError) as e:
            self._failures += 1
            if self._failures >= self._breaker_failures:
                if self._open_until <= now:
                    log.warning("bindings: redis failing (%s); not asking it for %.1f s", type(e).__name__, self._breaker_reset)
                self._open_until = self._clock() + self._breaker_reset
            return None
        self._failures = 0
        self._open_until = 0.0
        if result is None:
            return None
        return result.decode() if isinstance(result, bytes) else str(result)


def _ms(ttl: float) -> int:
    return max(1, round(ttl * 1000))
