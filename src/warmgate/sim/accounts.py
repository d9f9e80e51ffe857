"""Simulated provider accounts: one per API key, each with its own caches, stored objects and stats."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

from warmgate.sim.config import SimConfig
from warmgate.sim.prompt_cache import AnthropicPromptCache, OpenAIPrefixCache


def account_label(key: str) -> str:
    """Short stable label of an API key: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


@dataclass(slots=True)
class AccountStats:
    """Counters of what one account received. ``requests`` counts every authenticated /v1 request."""

    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    cancelled: int = 0  # answers abandoned because the caller disconnected
    in_flight: int = 0
    max_in_flight: int = 0


@dataclass
class Account:
    key: str
    label: str
    openai_cache: OpenAIPrefixCache
    anthropic_cache: AnthropicPromptCache
    stats: AccountStats = field(default_factory=AccountStats)
    # Responses API objects stored by this account: id -> conversation token sequence.
    responses: OrderedDict[str, list[str]] = field(default_factory=OrderedDict)
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)

    def remember_response(self, resp_id: str, tokens: list[str], limit: int) -> None:
        self.responses[resp_id] = tokens
        while len(self.responses) > limit:
            self.responses.popitem(last=False)


class Accounts:
    """Registry of accounts, created on first use of a key."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._by_key: dict[str, Account] = {}

    def get(self, key: str) -> Account:
        acct = self._by_key.get(key)
        if acct is None:
            cfg = self.config
            acct = Account(
                key=key,
                label=account_label(key),
                openai_cache=OpenAIPrefixCache(
                    min_tokens=cfg.openai_min_cache_tokens,
                    block=cfg.openai_block,
                    ttl=cfg.cache_ttl,
                    capacity_tokens=cfg.cache_capacity_tokens,
                ),
                anthropic_cache=AnthropicPromptCache(
                    min_tokens=cfg.anthropic_min_cache_tokens,
                    ttl=cfg.cache_ttl,
                    ttl_long=cfg.cache_ttl_long,
                    lookback=cfg.anthropic_lookback_blocks,
                    capacity_tokens=cfg.cache_capacity_tokens,
                ),
            )
            self._by_key[key] = acct
        return acct

    def clear(self) -> None:
        self._by_key.clear()

    def stats_json(self) -> dict[str, Any]:
        """The ``GET /sim/stats`` document: per account label (with its key) and totals."""
        accounts: dict[str, Any] = {}
        totals: dict[str, int] = dict.fromkeys(AccountStats.__slots__, 0)
        for acct in self._by_key.values():
            stats = asdict(acct.stats)
            accounts[acct.label] = {"key": acct.key, **stats}
            for name, value in stats.items():
                totals[name] += value
        return {"accounts": accounts, "totals": totals}
