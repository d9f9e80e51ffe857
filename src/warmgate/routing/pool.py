"""Account pools: the accounts of a provider, their in-flight counts and cooldowns, and the
key-less strategies (least loaded, round robin, random).

The affinity router's load measure (`loads`) estimates the requests an account is about to serve.
In-flight counts alone miss what placement decides: a conversation placed on an account brings all
its later turns there (its binding bypasses the load bound while its cache is warm), so an account
already carrying busy conversations should take fewer new ones even when few of their requests happen
to be in flight at the moment. An account's load is therefore its requests in flight plus a blend of

* its warm conversations (the affinity keys it served within the provider's `cache_ttl`), each
  counted as the pool's mean recent requests per warm conversation, and
* its own recent requests: an exponentially decayed count of request starts (time constant
  `RECENT_TTLS` cache lifetimes),

weighed `CONVERSATION_SHARE` : 1 - `CONVERSATION_SHARE`. Both terms are in requests and sum to the
same total over the pool. Conversations differ a lot in how many requests they bring (agent bursts
against a human's pauses, a few long conversations), so counting every warm conversation the same
lets an account hold few conversations but many requests; counting only recent requests undervalues
conversations that have just started (one request so far, many to come), so an account that was
quiet for a moment soaks up a run of new conversations. The blend keeps both from happening. It costs
O(accounts) per placement, with no state per conversation beyond the warm keys. A conversation idle
for longer than the cache lifetime no longer counts as warm: its cache is cold, and its next turn is
placed again like a new one (`router`); its requests fade out of the recent count.

Accounts cooling down after a failure (a 429 honours `retry-after`) are skipped while another
account is available. The affinity router places keyed requests itself (`routing.placement`) and
uses the pool for health, load and names.
"""

from __future__ import annotations

import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from warmgate.config import Account, Provider, Timeouts

MAX_COOLDOWN = 300.0
# Load measure (see the module docstring). Both measured with bench/affinity/replay.py over 80 seeds:
# the blend keeps pool-8 peak/mean of request totals lowest and steadiest (README there).
RECENT_TTLS = 2.0  # time constant of an account's recent request count, in provider cache lifetimes
CONVERSATION_SHARE = 1.0 / 3.0  # weight of the warm-conversation count against the recent requests


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
    # request starts decayed with time constant RECENT_TTLS x cache_ttl, as of `recent_at`
    recent: float = 0.0
    recent_at: float = 0.0
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
        self._recent_tau = RECENT_TTLS * provider.cache_ttl
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
        acct.recent = self._recent(acct, now) + 1.0
        acct.recent_at = now

    def _recent(self, acct: AccountState, now: float) -> float:
        """`acct`'s decayed count of request starts, as of `now`."""
        if not acct.recent:
            return 0.0
        return acct.recent * math.exp((acct.recent_at - now) / self._recent_tau)

    def loads(self) -> dict[str, float]:
        """Each account's load for placement, in requests: in flight + CONVERSATION_SHARE x its warm
        conversations x the pool's recent requests per warm conversation + (1 - CONVERSATION_SHARE) x
        its own recent requests (see the module docstring)."""
        now = self._clock()
        horizon = now - self._cache_ttl
        recent = []
        warm = 0
        for a in self.accounts:
            self._forget_cold(a, horizon)
            recent.append(self._recent(a, now))
            warm += len(a.warm)
        per_conversation = CONVERSATION_SHARE * sum(recent) / warm if warm else 0.0
        own = 1.0 - CONVERSATION_SHARE
        return {
            a.name: a.in_flight + per_conversation * len(a.warm) + own * r
            for a, r in zip(self.accounts, recent, strict=True)
        }

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
