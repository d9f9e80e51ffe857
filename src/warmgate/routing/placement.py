"""Where a key goes: rendezvous hashing with a bounded-load guard. Pure, no I/O, no clock.

`rendezvous_order` ranks a pool's accounts for a key by highest random weight (HRW): every gateway
instance computes the same order from the key and the account names alone, adding an account moves
only the keys that now rank it first, and removing one moves only the keys it held. Weights make an
account's share of keys proportional to its weight (score = -weight / ln(h), h uniform in (0, 1)).

`place` walks that order and takes the first healthy account whose load, counting this request,
stays within `load_bound` times the mean (consistent hashing with bounded loads, as in
SMG's prefix_hash and HAProxy's hash-balance-factor), so a hot key spills to its next choices
instead of piling onto one account.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Container, Mapping, Sequence

_SCALE = 1.0 / 2.0**64


def rendezvous_order(key: str, accounts: Sequence[tuple[str, float]]) -> list[str]:
    """Account names, best first, for `key`. `accounts` are (name, weight) pairs, weight > 0
    (1.0 for an unweighted pool). Each account's score comes from a 64-bit BLAKE2b of key and name
    (stable across processes and versions, unlike `hash`); ties need a collision and go by
    name (descending)."""
    prefix = key.encode() + b"\x00"
    if all(w == 1.0 for _, w in accounts):
        ranked = sorted([(_hash64(prefix + name.encode()), name) for name, _ in accounts], reverse=True)
        return [name for _, name in ranked]
    # (x + 0.5) / 2^64 lies in (0, 1), so the log is finite and negative.
    scored = [
        (-weight / math.log((_hash64(prefix + name.encode()) + 0.5) * _SCALE), name) for name, weight in accounts
    ]
    scored.sort(reverse=True)
    return [name for _, name in scored]


def _hash64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def place(
    order: Sequence[str],
    in_flight: Mapping[str, float],
    healthy: Callable[[str], bool] | Container[str],
    load_bound: float,
    *,
    weights: Mapping[str, float] | None = None,
) -> str | None:
    """The account for a request whose key ranks accounts as `order`.

    `in_flight` is each account's load: requests in flight, or any load measure in the same unit
    (the router adds recent request starts, see `pool.loads`).
    The first healthy account (in `order`) whose load stays below load_bound x mean, where
    mean = (load over healthy accounts + 1) / healthy accounts, counting this request (or the
    account's weighted share of it when `weights` are given). For whole numbers this is "its load
    plus this request within ceil(load_bound x mean)", which keeps small numbers from starving the
    key's first choice; for fractional loads it is the same rule without rounding. With
    load_bound >= 1 the least-loaded account always qualifies; if none did (weights far apart), the
    least-loaded healthy one, relative to its weight. None when no account is healthy. `healthy` is
    a predicate or a collection of account names."""
    is_healthy = healthy if callable(healthy) else healthy.__contains__
    candidates = [a for a in order if is_healthy(a)]
    if not candidates:
        return None
    total = sum(in_flight.get(a, 0) for a in candidates) + 1
    if weights is None:
        cap = load_bound * total / len(candidates)
        for a in candidates:
            if in_flight.get(a, 0) < cap:
                return a
        return min(candidates, key=lambda a: in_flight.get(a, 0))
    weight_sum = sum(weights.get(a, 1.0) for a in candidates)
    for a in candidates:
        if in_flight.get(a, 0) < load_bound * total * weights.get(a, 1.0) / weight_sum:
            return a
    return min(candidates, key=lambda a: in_flight.get(a, 0) / weights.get(a, 1.0))
