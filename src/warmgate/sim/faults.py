"""Fault injection rules (pure): which of the next requests of an account fail, and how.

Modes: ``status`` answers ``status`` with a provider-shaped error body (429 adds ``retry-after``);
``stall`` never answers; ``close`` drops the connection without a response; ``cut`` starts the
response and aborts the connection mid-body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODES = ("status", "stall", "close", "cut")


@dataclass(slots=True)
class Fault:
    status: int = 500
    mode: str = "status"
    count: int | None = None  # None: until cleared
    retry_after: float | None = None


class FaultError(ValueError):
    """A fault specification is invalid."""


def parse_fault(doc: Any) -> tuple[str, Fault]:
    """Validate a ``POST /sim/faults`` document into ``(account selector, Fault)``."""
    if not isinstance(doc, dict):
        raise FaultError("body must be a JSON object")
    account = doc.get("account", "*")
    if not isinstance(account, str) or not account:
        raise FaultError("account must be an API key or '*'")
    mode = doc.get("mode", "status")
    if mode not in MODES:
        raise FaultError(f"mode must be one of {', '.join(MODES)}")
    status = doc.get("status", 500 if mode == "status" else 200)
    count = doc.get("count")
    retry_after = doc.get("retry_after")
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise FaultError("status must be an HTTP status code")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise FaultError("count must be a positive integer")
    if retry_after is not None and (not isinstance(retry_after, int | float) or retry_after < 0):
        raise FaultError("retry_after must be a non-negative number")
    return account, Fault(status, mode, count, retry_after)


class FaultTable:
    """At most one rule per account selector; a rule for the exact key wins over ``"*"``."""

    def __init__(self) -> None:
        self._rules: dict[str, Fault] = {}

    def __bool__(self) -> bool:
        return bool(self._rules)

    def set(self, account: str, fault: Fault) -> None:
        self._rules[account] = fault

    def clear(self) -> None:
        self._rules.clear()

    def take(self, key: str) -> Fault | None:
        """The fault the next request of ``key`` suffers (consuming one of its count), or None."""
        for selector in (key, "*"):
            fault = self._rules.get(selector)
            if fault is None:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    del self._rules[selector]
            return fault
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            sel: {"status": f.status, "mode": f.mode, "count": f.count, "retry_after": f.retry_after}
            for sel, f in self._rules.items()
        }
