"""Account pools: the accounts of a provider, their in-flight counts and cooldowns, and the
key-less strategies (least loaded, round robin, random).

The affinity router's load measure (`loads`) is an account's requests in flight plus its warm
conversations: the affinity keys it served within the provider's `cache_ttl`. In-flight counts
alone miss what placement decides: a conversation placed on an account brings all its later turns
there (its binding bypasses the load bound while its cache is warm), so an account already carrying
many live conversations should take fewer new ones even when few of their requests happen to be in
flight at the moment. A conversation idle for longer than the cache lifetime no longer counts: its
cache is cold, and its next turn is placed again like a new one (`router`).

Accounts cooling down after a failure (a 429 honours `retry-after`) are skipped while another
account is available. The affinity router places keyed requests itself (`routing.placement`) and
uses the pool for health, load and names.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from warmgate.config import Account, Provider, Timeouts

MAX_COOLDOWN = 300.0


@dataclass(slots=True, eq=False)
class AccountState:
    provider: Provider
    account: Account
    base_url: str
    timeouts: Timeouts
    in_flight: int = 0
    cooldown_until: float = 0.0
    # affinity keys served within the cache TTL -> when last, oldest first (see `Pool.loads`)
    warm: OrderedDict[str, float] = field(default_factory=OrderedDict)
    # Ready-made header pair, so the hot path does not rebuild it per request.
    auth_header: tuple[str, str] = field(default=("", ""))

    @property
    def name(self) -> str:
        return self.account.name


class Pool:
    """The accounts of one provider and their in-flight counts and cooldowns."""

    def __init__(self, provider: Provider, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None):
        self.provider = provider
        self._clock = clock
        self._cache_ttl = provider.cache_ttl
        self._warm_on: dict[str, AccountState] = {}  # affinity key -> the account it is warm on
        self._rng = rng or random.Random()
        self._turn = 0
        self.accounts = [
            AccountState(
                provider=provider,
                account=a,
                base_url=provider.account_base_url(a),
                timeouts=provider.account_timeouts(a),
                auth_header=_auth_header(provider, a),
            )
            for a in provider.accounts
        ]
        self._by_name = {a.name: a for a in self.accounts}
        self.weights = [(a.account.name, a.account.weight) for a in self.accounts]
        self.weight_map = (
            None if all(w == 1.0 for _, w in self.weights) else {name: w for name, w in self.weights}
        )

    def account(self, name: str | None) -> AccountState | None:
        return self._by_name.get(name) if name is not None else None

    def healthy(self, acct: AccountState | None) -> bool:
        return acct is not None and acct.cooldown_until <= self._clock()

    def pick(self, exclude: Collection[AccountState] = (), strategy: str = "least_loaded") -> AccountState | None:
        """The next account to try for a request without affinity, or None when every account was
        tried already. Healthy accounts first; `least_loaded` (fewest in flight, ties in turn),
        `round_robin` or `random` among them."""
        if strategy == "round_robin" or strategy == "random":
            now = self._clock()
            left = [a for a in self.accounts if a not in exclude]
            if not left:
                return None
            healthy = [a for a in left if a.cooldown_until <= now] or left
            if strategy == "random":
                return self._rng.choice(healthy)
            self._turn = (self._turn + 1) % len(self.accounts)
            return healthy[self._turn % len(healthy)]
        now = self._clock()
        n = len(self.accounts)
        best: AccountState | None = None
        best_rank: tuple[bool, int] = (True, 0)
        for i in range(n):
            acct = self.accounts[(self._turn + i) % n]
            if acct in exclude:
                continue
            rank = (acct.cooldown_until > now, acct.in_flight)
            if best is None or rank < best_rank:
                best, best_rank = acct, rank
        self._turn = (self._turn + 1) % n
        return best

    def started(self, acct: AccountState, key: str) -> None:
        """A request of affinity key `key` starts on `acct`: the key is warm there (and nowhere else)."""
        previous = self._warm_on.get(key)
        if previous is not None and previous is not acct:
            previous.warm.pop(key, None)
        self._warm_on[key] = acct
        now = self._clock()
        acct.warm[key] = now
        acct.warm.move_to_end(key)
        self._forget_cold(acct, now - self._cache_ttl)

    def loads(self) -> dict[str, int]:
        """Each account's load for placement: requests in flight + warm conversations."""
        horizon = self._clock() - self._cache_ttl
        out = {}
        for a in self.accounts:
            self._forget_cold(a, horizon)
            out[a.name] = a.in_flight + len(a.warm)
        return out

    def _forget_cold(self, acct: AccountState, horizon: float) -> None:
        """Drop `acct`'s keys last served at or before `horizon` (oldest first: amortized O(1))."""
        warm = acct.warm
        while warm:
            key, last = next(iter(warm.items()))
            if last > horizon:
                return
            del warm[key]
            if self._warm_on.get(key) is acct:
                del self._warm_on[key]

    def cool_down(self, acct: AccountState, seconds: float) -> None:
        until = self._clock() + min(max(seconds, 0.0), MAX_COOLDOWN)
        acct.cooldown_until = max(acct.cooldown_until, until)

    def usable(self) -> bool:
        now = self._clock()
        return any(a.cooldown_until <= now for a in self.accounts)


def _auth_header(provider: Provider, account: Account) -> tuple[str, str]:
    key = account.api_key.get_secret_value()
    if provider.api == "anthropic":
        return ("x-api-key", key)
    return ("authorization", f"Bearer {key}")
