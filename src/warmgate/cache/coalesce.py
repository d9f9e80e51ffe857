"""Single flight: concurrent identical misses wait for one upstream call.

The first request for a key becomes the leader and calls the provider; the others wait for its
outcome (bounded by a timeout, after which they go upstream themselves). The outcome is the cached
answer when the leader stored one, or None (the leader's answer was not storable, or it failed):
then each waiter goes upstream on its own.
"""

from __future__ import annotations

import asyncio
import contextlib

from warmgate.cache.entry import CachedAnswer


class SingleFlight(dict[str, "asyncio.Future[CachedAnswer | None] | None"]):
    """The calls in flight: key -> the future the waiting requests hold, or None while none waits
    (a lone miss, the common case, costs a dict entry, not a future). A dict itself, so that
    `key in flights` (whether a leader is calling the provider for `key`) is a probe, not a call."""

    def join(self, key: str) -> asyncio.Future[CachedAnswer | None] | None:
        """None: the caller is the leader for `key` and must call `finish`. Otherwise the future
        to wait on."""
        if key not in self:
            self[key] = None
            return None
        fut = self[key]
        if fut is None:
            fut = self[key] = asyncio.get_running_loop().create_future()
        return fut

    def finish(self, key: str, answer: CachedAnswer | None) -> None:
        fut = self.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(answer)

    def take(self, key: str) -> asyncio.Future[CachedAnswer | None] | None:
        """`finish` in two steps, for a leader that builds its answer only if someone waits: ends
        the call of `key` and returns the future the waiting requests hold (set its result), or
        None when none waits."""
        fut = self.pop(key, None)
        return fut if fut is not None and not fut.done() else None


async def wait(fut: asyncio.Future[CachedAnswer | None], timeout: float) -> CachedAnswer | None:
    """The leader's answer, or None on timeout (the waiter then goes upstream itself)."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(asyncio.shield(fut), timeout)
    return None
