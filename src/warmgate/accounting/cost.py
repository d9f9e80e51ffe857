"""What one request cost and saved, from its usage and the model's price. Pure.

    provider cost        uncached prompt x input + cached x cached_input + cache writes x their price
                         + completion x output (0 for an answer the gateway served from its cache)
    saved by the cache   on a gateway cache hit: what the original answer cost (the call not made)
    saved by prompt cache  cached prompt tokens x (input - cached_input): the provider's prompt-cache
                         discount on a call that was made
    latency saved        on a hit: the original's upstream latency minus the hit's own latency

Usage shapes (see `dialects.usage`): `prompt` counts every prompt token, cached or written or not,
so OpenAI's `prompt_tokens` and Anthropic's `input_tokens + cache_read + cache_creation` both fit.
"""

from __future__ import annotations

from typing import NamedTuple

from warmgate.accounting.prices import Price
from warmgate.dialects.usage import Usage

_M = 1_000_000.0


def usage_cost(price: Price, usage: Usage) -> float:
    """Dollars the provider bills for `usage`."""
    write_1h = min(usage.cache_write_1h, usage.cache_write)
    plain = max(0, usage.prompt - usage.cached - usage.cache_write)
    return (
        plain * price.input
        + usage.cached * price.cached_input
        + (usage.cache_write - write_1h) * price.cache_write
        + write_1h * price.cache_write_1h
        + usage.completion * price.output
    ) / _M


def prompt_cache_saving(price: Price, usage: Usage) -> float:
    """Dollars the provider's prompt cache took off `usage` (cache reads at the discounted price)."""
    return usage.cached * (price.input - price.cached_input) / _M


class Costs(NamedTuple):
    cost: float  # dollars the provider bills for this request
    saved_cache: float  # dollars not spent because the gateway answered from its cache
    saved_prompt_cache: float  # dollars the provider's prompt cache took off this request
    latency_saved: float  # seconds the client did not wait thanks to the gateway cache


NOTHING = Costs(0.0, 0.0, 0.0, 0.0)


def miss_costs(price: Price | None, usage: Usage | None) -> Costs:
    """A request the provider answered."""
    if price is None or usage is None:
        return NOTHING
    return Costs(usage_cost(price, usage), 0.0, prompt_cache_saving(price, usage), 0.0)


def hit_costs(price: Price | None, original: Usage, original_upstream_s: float, hit_s: float) -> Costs:
    """A request the gateway answered from its cache: the original call's cost (including its own
    prompt-cache discount) is saved whole."""
    saved = usage_cost(price, original) if price is not None else 0.0
    return Costs(0.0, saved, 0.0, max(0.0, original_upstream_s - hit_s))
