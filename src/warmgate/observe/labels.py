"""Bounded label values: a metric label keeps at most `limit` distinct values; later ones become
"other", so a flood of model names (glob routes) or tenants cannot grow memory or the scrape."""

from __future__ import annotations

OTHER = "other"


class BoundedLabel:
    __slots__ = ("limit", "seen")

    def __init__(self, limit: int):
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        seen = self.seen
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        return OTHER
