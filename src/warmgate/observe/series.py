"""A ring buffer of per-interval aggregates for the dashboard: the last `points` intervals of
`interval` seconds each, plus the one being filled. Recording is a few float additions.

Each point is a list of floats indexed by the field constants below, and a dict of per-account
provider prompt tokens (account -> [prompt, cached])."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

FIELDS = (
    "requests", "hit", "stale", "miss", "bypass", "none", "errors",
    "exact", "coalesced", "semantic",
    "tokens_saved", "cost", "saved_cache", "saved_prompt_cache", "latency_saved",
    "hit_latency", "hit_count", "miss_latency", "miss_count", "upstream_latency", "upstream_count",
)
INDEX = {name: i for i, name in enumerate(FIELDS)}
(REQUESTS, HIT, STALE, MISS, BYPASS, NONE, ERRORS, EXACT, COALESCED, SEMANTIC, TOKENS_SAVED, COST,
 SAVED_CACHE, SAVED_PROMPT_CACHE, LATENCY_SAVED, HIT_LATENCY, HIT_COUNT, MISS_LATENCY, MISS_COUNT,
 UPSTREAM_LATENCY, UPSTREAM_COUNT) = range(len(FIELDS))


class Point:
    __slots__ = ("accounts", "start", "values")

    def __init__(self, start: float):
        self.start = start
        self.values = [0.0] * len(FIELDS)
        self.accounts: dict[str, list[float]] = {}

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(zip(FIELDS, self.values, strict=True))
        out["t"] = self.start
        out["accounts"] = {a: {"prompt": p, "cached": c} for a, (p, c) in self.accounts.items()}
        return out


class Series:
    def __init__(self, interval: float, points: int, clock: Callable[[], float] = time.time):
        self.interval = interval
        self.clock = clock
        self.done: deque[Point] = deque(maxlen=points)
        start = clock()
        self.current = Point(start - start % interval)
        self._end = self.current.start + interval

    def point(self) -> Point:
        """The point being filled now (rolling over to a new interval when its time came)."""
        now = self.clock()
        if now >= self._end:
            self._roll(now)
        return self.current

    def _roll(self, now: float) -> None:
        self.done.append(self.current)
        start = self._end
        gaps = 0
        while start + self.interval <= now and gaps < (self.done.maxlen or 0):  # empty intervals stay visible
            self.done.append(Point(start))
            start += self.interval
            gaps += 1
        if start + self.interval <= now:
            start = now - now % self.interval
        self.current = Point(start)
        self._end = start + self.interval

    def as_json(self) -> list[dict[str, Any]]:
        self.point()
        return [p.as_json() for p in (*self.done, self.current)]
