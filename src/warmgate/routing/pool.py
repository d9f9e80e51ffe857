"""Account pools: which account of a provider serves a request, and which one to try next.

For now a simple spread: the account with the fewest requests in flight, ties broken in turn,
skipping accounts that are cooling down after a failure (429 honours `retry-after`). The
prompt-cache affinity router replaces `pick` with placement by key; the bookkeeping stays.
"""

from __future__ import annotations

import time
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
    requests: int = 0
    failures: int = 0
    # Ready-made header pair, so the hot path does not rebuild it per request.
    auth_header: tuple[str, str] = field(default=("", ""))

    @property
    def name(self) -> str:
        return self.account.name


class Pool:
    """The accounts of one provider and their in-flight counts and cooldowns."""

    def __init__(self, provider: Provider, clock: Callable[[], float] = time.monotonic):
        self.provider = provider
        self._clock = clock
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

    def pick(self, exclude: Collection[AccountState] = ()) -> AccountState | None:
        """The next account to try, or None when every account was tried already."""
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

    def cool_down(self, acct: AccountState, seconds: float) -> None:
        acct.failures += 1
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
