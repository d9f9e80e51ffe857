"""A circuit breaker: after `failures` consecutive failures a backend is shunned for `reset`
seconds, then one trial call decides. Pure state, no I/O; the clock is injected.

    closed --(`failures` consecutive failures)--> open --(`reset` seconds)--> half_open
    half_open --(the one trial call succeeds)--> closed;   --(it fails)--> open again

Used by the cache store guard (`stores.guard`) and the Redis bindings; one breaker per Redis server
(`redis_link.RedisLink`) is shared by both, so a Redis that is down is known to be down everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]

log = logging.getLogger("warmgate.breaker")


class CircuitBreaker:
    """`acquire()` before a call: None means refuse it (open, or another call is the trial); else
    whether this call is the half-open trial. Then `succeeded()` or `failed()`, and always
    `release(trial)` (in a `finally`: a cancelled trial must not block the next one)."""

    def __init__(self, *, failures: int, reset: float, clock: Callable[[], float], what: str = "backend") -> None:
        if failures < 1 or reset <= 0:
            raise ValueError("failures must be at least 1 and reset positive")
        self.failures = failures
        self.reset = reset
        self.what = what
        self._clock = clock
        self._consecutive = 0
        self._opened_at = 0.0
        self._open = False
        self._trial_running = False

    @property
    def state(self) -> State:
        if not self._open:
            return "closed"
        if self._trial_running or self._clock() - self._opened_at >= self.reset:
            return "half_open"
        return "open"

    def acquire(self) -> bool | None:
        if not self._open:
            return False
        if self._trial_running or self._clock() - self._opened_at < self.reset:
            return None
        self._trial_running = True
        return True

    def release(self, trial: bool | None) -> None:
        if trial:
            self._trial_running = False

    def succeeded(self) -> None:
        self._consecutive = 0
        if self._open:
            self._open = False
            log.info("%s recovered; circuit closed", self.what)

    def failed(self) -> None:
        self._consecutive += 1
        if self._open or self._consecutive >= self.failures:
            if not self._open:
                log.warning("%s failed %d times in a row; circuit open for %gs", self.what, self._consecutive, self.reset)
            self._open = True
            self._opened_at = self._clock()
