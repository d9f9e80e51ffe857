"""Configuration of the provider simulator (one frozen-by-convention dataclass, no I/O)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-5",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "claude-sonnet-4-6",
    "claude-opus-4-7",
    "claude-haiku-4-5",
)


def _monotonic() -> float:
    return time.monotonic()


@dataclass
class SimConfig:
    """Everything that shapes the simulator's behaviour.

    Times are seconds unless the name says ``_ms``. ``clock`` is the time source of the prompt caches
    (TTL); inject a callable returning seconds to advance time in tests without sleeping. When all the
    latency knobs are zero the simulator never sleeps.
    """

    host: str = "127.0.0.1"
    port: int = 0
    cache_ttl: float = 300.0
    cache_ttl_long: float = 3600.0
    cache_capacity_tokens: int = 50_000_000
    openai_min_cache_tokens: int = 1024
    openai_block: int = 128
    anthropic_min_cache_tokens: int = 1024
    anthropic_lookback_blocks: int = 20
    ttft_base_ms: float = 0.0
    ttft_per_1k_uncached_ms: float = 0.0
    per_token_ms: float = 0.0
    output_tokens: int = 16
    reasoning_tokens: int = 8
    seed: int = 0
    stall_seconds: float = 600.0
    shutdown_timeout: float = 2.0
    stored_responses_per_account: int = 1000
    models: tuple[str, ...] = DEFAULT_MODELS
    clock: Callable[[], float] = field(default=_monotonic)
