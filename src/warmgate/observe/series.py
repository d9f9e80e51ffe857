"""A ring buffer of per-interval aggregates for the dashboard: the last `points` intervals of
`interval` seconds each, plus the one being filled.

Nothing is added per request: the observer keeps cumulative totals anyway, so when an interval
ends the series takes a snapshot of them (`totals()`) and stores the difference from the previous
one. A request only pays for the clock check in `tick`."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

FIELDS = (
    "requests", "hit", "stale", "miss", "bypass", "none", "errors",
    "exact", "coalesced", "semantic",
    "tokens_saved", "cost", "saved_cache", "saved_prompt_cache", "latency_saved",
    "hit_latency", "hit_count", "miss_latency", "miss_count", "upstream_latency", "upstream_count",
)
INDEX = {name: i for i, name in enumerate(FIELDS)}

Snapshot = tuple[list[float], dict[str, tuple[float, float]]]  # FIELDS values, account -> (prompt, cached)
Totals = Callable[[], Snapshot]


class Point:
    __slots__ = ("accounts", "start", "values")

    def __init__(self, start: float, values: list[float], accounts: dict[str, tuple[float, float]]):
        self.start = start
        self.values = values
        self.accounts = accounts

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(zip(FIELDS, self.values, strict=True))
        out["t"] = self.start
        out["accounts"] = {a: {"prompt": p, "cached": c} for a, (p, c) in self.accounts.items()}
        return out


def _delta(now: Snapshot, before: Snapshot) -> tuple[list[float], dict[str, tuple[float, float]]]:
    values = [a - b for a, b in zip(now[0], before[0], strict=True)]
    accounts = {}
    for name, (p, c) in now[1].items():
        p0, c0 = before[1].get(name, (0.0, 0.0))
        if p != p0 or c != c0:
            accounts[name] = (p - p0, c - c0)
    return values, accounts


class Series:
    def __init__(self, interval: float, points: int, totals: Totals, clock: Callable[[], float] = time.time):
        self.interval = interval
        self.totals = totals
        self.clock = clock
        self.done: deque[Point] = deque(maxlen=points)
        self._done_raw: orjson.Fragment | None = None  # `raw`'s encoding of `done`, until it changes
        now = clock()
        self.start = now - now % interval
        self._end = self.start + interval
        self._last = totals()

    def tick(self) -> None:
        """Close the interval being filled if its time is up (called before counting a request)."""
        if self.clock() >= self._end:
            self._roll(self.clock())

    def _roll(self, now: float) -> None:
        self._done_raw = None
        snap = self.totals()
        self.done.append(Point(self.start, *_delta(snap, self._last)))
        self._last = snap
        start = self._end
        zeros = [0.0] * len(FIELDS)
        gaps = 0
        while start + self.interval <= now and gaps < (self.done.maxlen or 0):  # idle intervals stay visible
            self.done.append(Point(start, list(zeros), {}))
            start += self.interval
            gaps += 1
        if start + self.interval <= now:
            start = now - now % self.interval
        self.start = start
        self._end = start + self.interval

    def as_json(self) -> list[dict[str, Any]]:
        self.tick()
        current = Point(self.start, *_delta(self.totals(), self._last))
        return [p.as_json() for p in (*self.done, current)]

    def raw(self) -> dict[str, Any]:
        """The points as plain lists, `[start, values (FIELDS), accounts]`: the closed ones
        (`done`, JSON already: encoded once per interval) and the one being filled (`current`).
        A worker publishes this every second (observe.workers): the per-point dicts of `as_json`,
        encoded afresh, took 1.4 ms of the event loop for 360 points."""
        self.tick()
        if self._done_raw is None:
            self._done_raw = orjson.Fragment(orjson.dumps([[p.start, p.values, p.accounts] for p in self.done]))
        current = Point(self.start, *_delta(self.totals(), self._last))
        return {"done": self._done_raw, "current": [current.start, current.values, current.accounts]}
