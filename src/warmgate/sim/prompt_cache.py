"""Per-account prompt-cache models of OpenAI and Anthropic (pure classes, clock passed in, no I/O).

``TtlLru`` holds entries keyed by a prefix hash. An entry expires when it has not been used for its
TTL (every hit refreshes it); the store is bounded by a token budget and evicts least recently used
entries first. Hashes use Python's ``hash`` of tuples: stable within one process, which is all a
simulator needs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from warmgate.sim.tokens import Block


@dataclass(slots=True)
class _Entry:
    tokens: int
    ttl: float
    last_used: float


class TtlLru:
    """Entries with an idle TTL, refreshed on use, bounded by ``capacity_tokens`` (LRU eviction)."""

    def __init__(self, capacity_tokens: int) -> None:
        self.capacity_tokens = capacity_tokens
        self.used_tokens = 0
        self._entries: OrderedDict[int, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: int, now: float) -> bool:
        """True (and the entry refreshed) when ``key`` is present and not expired at ``now``."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        if now - entry.last_used > entry.ttl:
            self._remove(key)
            return False
        entry.last_used = now
        self._entries.move_to_end(key)
        return True

    def put(self, key: int, tokens: int, ttl: float, now: float) -> None:
        """Insert or refresh ``key``; a refresh keeps the longer of the old and new TTLs."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.last_used = now
            entry.ttl = max(entry.ttl, ttl)
            self._entries.move_to_end(key)
            return
        self._entries[key] = _Entry(tokens, ttl, now)
        self.used_tokens += tokens
        self._prune(now)

    def _remove(self, key: int) -> None:
        entry = self._entries.pop(key)
        self.used_tokens -= entry.tokens

    def _prune(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if self.used_tokens > self.capacity_tokens or now - entry.last_used > entry.ttl:
                self._remove(key)
            else:
                break


class OpenAIPrefixCache:
    """Automatic prefix caching: whole blocks of ``block`` tokens, only for prompts >= ``min_tokens``.

    ``lookup_and_insert`` returns the cached token count of a prompt (a multiple of ``block``, at least
    ``min_tokens`` or else 0, and always leaving one token uncached), then records every block prefix of
    the prompt so later prompts sharing it hit.
    """

    def __init__(self, *, min_tokens: int, block: int, ttl: float, capacity_tokens: int) -> None:
        self.min_tokens = min_tokens
        self.block = block
        self.ttl = ttl
        self.store = TtlLru(capacity_tokens)

    def lookup_and_insert(self, tokens: Sequence[str], now: float) -> int:
        n = len(tokens)
        if n < self.min_tokens:
            return 0
        block = self.block
        chain: list[int] = []
        h = 0
        for start in range(0, n - block + 1, block):
            h = hash((h, tuple(tokens[start : start + block])))
            chain.append(h)
        matched = 0
        for h in chain:
            if not self.store.get(h, now):
                break
            matched += 1
        for h in chain[matched:]:
            self.store.put(h, block, self.ttl, now)
        usable = min(matched, (n - 1) // block)
        cached = usable * block
        return cached if cached >= self.min_tokens else 0


@dataclass(frozen=True, slots=True)
class AnthropicUsage:
    """Input-side usage of one Messages request; ``total == read + creation + input_tokens``."""

    input_tokens: int
    cache_read: int
    creation_5m: int
    creation_1h: int

    @property
    def cache_creation(self) -> int:
        return self.creation_5m + self.creation_1h

    @property
    def total(self) -> int:
        return self.input_tokens + self.cache_read + self.creation_5m + self.creation_1h


class TooManyBreakpoints(ValueError):
    """More than ``MAX_BREAKPOINTS`` blocks carry ``cache_control``."""


class AnthropicPromptCache:
    """Explicit-breakpoint caching as the Messages API does it.

    Read: for each breakpoint, look for a live entry at it or at up to ``lookback - 1`` earlier block
    boundaries; the longest prefix found is read (and refreshed). Write: every breakpoint after the read
    position whose prefix is >= ``min_tokens`` stores an entry; the tokens between the read position and
    the last written breakpoint are cache creation (split by the TTL of the breakpoint that ends each
    segment); the rest is ``input_tokens``.
    """

    MAX_BREAKPOINTS = 4

    def __init__(
        self, *, min_tokens: int, ttl: float, ttl_long: float, lookback: int, capacity_tokens: int
    ) -> None:
        self.min_tokens = min_tokens
        self.ttls = {"5m": ttl, "1h": ttl_long}
        self.lookback = lookback
        self.store = TtlLru(capacity_tokens)

    def process(self, blocks: Sequence[Block], now: float) -> AnthropicUsage:
        cum = [0]
        chain: list[int] = []
        h = 0
        breakpoints: list[int] = []
        for i, b in enumerate(blocks):
            cum.append(cum[-1] + b.tokens)
            h = hash((h, b.ident))
            chain.append(h)
            if b.ttl is not None:
                breakpoints.append(i)
        if len(breakpoints) > self.MAX_BREAKPOINTS:
            raise TooManyBreakpoints(
                f"A maximum of {self.MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {len(breakpoints)}."
            )
        read_blocks = 0
        for bp in breakpoints:
            for j in range(bp, max(-1, bp - self.lookback), -1):
                if j + 1 <= read_blocks:
                    break
                if self.store.get(chain[j], now):
                    read_blocks = j + 1
                    break
        read = cum[read_blocks]
        written = read
        split = {"5m": 0, "1h": 0}
        for bp in breakpoints:
            end = cum[bp + 1]
            if bp + 1 <= read_blocks or end < self.min_tokens:
                continue
            ttl = blocks[bp].ttl or "5m"
            self.store.put(chain[bp], end, self.ttls[ttl], now)
            split[ttl] += end - written
            written = end
        return AnthropicUsage(cum[-1] - written, read, split["5m"], split["1h"])
