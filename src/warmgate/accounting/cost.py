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


def latency_saved(original_upstream_s: float, hit_s: float) -> float:
    """Seconds a cache hit spared: the original's upstream latency minus the hit's own (never < 0)."""
    saved = original_upstream_s - hit_s
    return saved if saved > 0.0 else 0.0
