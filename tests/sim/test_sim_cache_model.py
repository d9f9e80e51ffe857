"""The prompt-cache models and fault table as pure classes (no server)."""

from __future__ import annotations

import pytest
from sim_helpers import FakeClock, words

from warmgate.sim.faults import Fault, FaultError, FaultTable, parse_fault
from warmgate.sim.prompt_cache import AnthropicPromptCache, OpenAIPrefixCache, TooManyBreakpoints, TtlLru
from warmgate.sim.tokens import anthropic_blocks, chat_prompt_tokens, count_tokens, tokenize


def openai_cache(ttl: float = 300.0, capacity: int = 10_000_000) -> OpenAIPrefixCache:
    return OpenAIPrefixCache(min_tokens=1024, block=128, ttl=ttl, capacity_tokens=capacity)


def anthropic_cache(min_tokens: int = 1024) -> AnthropicPromptCache:
    return AnthropicPromptCache(
        min_tokens=min_tokens, ttl=300.0, ttl_long=3600.0, lookback=20, capacity_tokens=10_000_000
    )


def test_tokenizer_is_words_and_punctuation() -> None:
    assert tokenize("Hello, world!") == ["Hello", ", ", "world", "!"]
    assert count_tokens(words(2000)) == 2000
    assert count_tokens("") == 0


def test_chat_serialization_extends_with_the_conversation() -> None:
    short = chat_prompt_tokens({"messages": [{"role": "user", "content": "a b"}]})
    long = chat_prompt_tokens(
        {"messages": [{"role": "user", "content": "a b"}, {"role": "assistant", "content": "c"}]}
    )
    assert short == ["<|user|>", "a ", "b"]
    assert long[: len(short)] == short


def test_openai_second_identical_prompt_hits_in_whole_blocks() -> None:
    cache = openai_cache()
    prompt = tokenize(words(2000))
    assert cache.lookup_and_insert(prompt, 0.0) == 0
    assert cache.lookup_and_insert(prompt, 1.0) == 1920  # 15 blocks of 128


def test_openai_shared_prefix_and_minimum() -> None:
    cache = openai_cache()
    cache.lookup_and_insert(tokenize(words(1500) + " " + words(600, "a")), 0.0)
    assert cache.lookup_and_insert(tokenize(words(1500) + " " + words(600, "b")), 1.0) == 1408
    small = tokenize(words(1000))
    cache.lookup_and_insert(small, 2.0)
    assert cache.lookup_and_insert(small, 3.0) == 0  # below 1024 tokens: never cached
    # a match shorter than the minimum reports nothing
    cache.lookup_and_insert(tokenize(words(900, "p") + " " + words(400, "x")), 4.0)
    assert cache.lookup_and_insert(tokenize(words(900, "p") + " " + words(400, "y")), 5.0) == 0


def test_openai_exact_block_multiple_leaves_one_block_uncached() -> None:
    cache = openai_cache()
    prompt = tokenize(words(2048))
    cache.lookup_and_insert(prompt, 0.0)
    assert cache.lookup_and_insert(prompt, 1.0) == 1920


def test_openai_idle_ttl_is_refreshed_on_use() -> None:
    cache = openai_cache(ttl=300.0)
    prompt = tokenize(words(2000))
    cache.lookup_and_insert(prompt, 0.0)
    assert cache.lookup_and_insert(prompt, 250.0) == 1920
    assert cache.lookup_and_insert(prompt, 500.0) == 1920  # refreshed at 250
    assert cache.lookup_and_insert(prompt, 801.0) == 0  # idle for 301 s


def test_lru_capacity_evicts_least_recently_used() -> None:
    store = TtlLru(capacity_tokens=300)
    for key in range(3):
        store.put(key, 100, 60.0, 0.0)
    assert store.get(0, 1.0)  # 0 is now the most recent
    store.put(3, 100, 60.0, 2.0)
    assert not store.get(1, 3.0)
    assert store.get(0, 3.0) and store.get(2, 3.0) and store.get(3, 3.0)
    assert store.used_tokens == 300


def test_openai_capacity_bounds_an_account() -> None:
    cache = openai_cache(capacity=2000)
    first = tokenize(words(2000, "a"))
    cache.lookup_and_insert(first, 0.0)
    cache.lookup_and_insert(tokenize(words(2000, "b")), 1.0)
    assert cache.lookup_and_insert(first, 2.0) == 0
    assert cache.store.used_tokens <= 2000


def _body(system_tokens: int, turns: list[str], ttl: str | None = None) -> dict[str, object]:
    cc: dict[str, str] = {"type": "ephemeral"}
    if ttl:
        cc["ttl"] = ttl
    messages = [{"role": "user", "content": [{"type": "text", "text": t}]} for t in turns]
    messages[-1]["content"][0]["cache_control"] = {"type": "ephemeral"}  # type: ignore[index]
    return {
        "system": [{"type": "text", "text": words(system_tokens, "s"), "cache_control": cc}],
        "messages": messages,
    }


def test_anthropic_write_then_read_then_extend() -> None:
    cache = anthropic_cache()
    first = cache.process(anthropic_blocks(_body(2000, ["hello there"])), 0.0)
    # system 2000 tokens; message block: role marker + 2 words
    assert (first.cache_read, first.creation_5m, first.input_tokens) == (0, 2003, 0)
    again = cache.process(anthropic_blocks(_body(2000, ["hello there"])), 1.0)
    assert (again.cache_read, again.cache_creation, again.input_tokens) == (2003, 0, 0)
    longer = cache.process(anthropic_blocks(_body(2000, ["hello there", "and more words"])), 2.0)
    # the previous breakpoint (end of the first turn) is found by walking back from the new one
    assert (longer.cache_read, longer.cache_creation, longer.input_tokens) == (2003, 4, 0)


def test_anthropic_below_minimum_and_uncached_tail() -> None:
    cache = anthropic_cache()
    small = cache.process(anthropic_blocks(_body(500, ["x"])), 0.0)
    assert (small.cache_read, small.cache_creation, small.input_tokens) == (0, 0, 502)
    body = {
        "system": [
            {"type": "text", "text": words(1500), "cache_control": {"type": "ephemeral", "ttl": "1h"}}
        ],
        "messages": [{"role": "user", "content": "not cached tail"}],
    }
    first = cache.process(anthropic_blocks(body), 0.0)
    assert (first.creation_1h, first.creation_5m, first.input_tokens) == (1500, 0, 4)
    assert cache.process(anthropic_blocks(body), 3000.0).cache_read == 1500  # 1h entry survives 50 min


def test_anthropic_automatic_mode_and_ttl_expiry() -> None:
    cache = anthropic_cache()
    body = {"cache_control": {"type": "ephemeral"}, "messages": [{"role": "user", "content": words(1200)}]}
    assert cache.process(anthropic_blocks(body), 0.0).creation_5m == 1201
    assert cache.process(anthropic_blocks(body), 299.0).cache_read == 1201
    assert cache.process(anthropic_blocks(body), 700.0).cache_read == 0


def test_anthropic_lookback_is_limited_to_20_blocks() -> None:
    cache = anthropic_cache(min_tokens=10)
    head = [{"type": "text", "text": words(50), "cache_control": {"type": "ephemeral"}}]
    cache.process(anthropic_blocks({"messages": [{"role": "user", "content": head}]}), 0.0)

    def extended(n: int) -> list[object]:
        extra: list[dict[str, object]] = [{"type": "text", "text": f"b{i}"} for i in range(n)]
        extra[-1]["cache_control"] = {"type": "ephemeral"}
        return [{"role": "user", "content": [{"type": "text", "text": words(50)}, *extra]}]

    assert cache.process(anthropic_blocks({"messages": extended(19)}), 1.0).cache_read == 51
    assert cache.process(anthropic_blocks({"messages": extended(25)}), 2.0).cache_read == 51 + 19


def test_anthropic_more_than_four_breakpoints_is_an_error() -> None:
    cc = {"type": "ephemeral"}
    blocks = [{"type": "text", "text": f"t{i}", "cache_control": cc} for i in range(5)]
    with pytest.raises(TooManyBreakpoints):
        anthropic_cache().process(anthropic_blocks({"messages": [{"role": "user", "content": blocks}]}), 0.0)


def test_fault_table_counts_and_precedence() -> None:
    table = FaultTable()
    table.set("*", Fault(503))
    table.set("k1", Fault(429, count=2, retry_after=1))
    assert [f.status for f in (table.take("k1"), table.take("k1"), table.take("k1"))] == [429, 429, 503]
    table.clear()
    assert table.take("k1") is None and not table
    assert parse_fault({"account": "k", "mode": "stall"})[1].mode == "stall"
    with pytest.raises(FaultError):
        parse_fault({"mode": "explode"})


def test_fake_clock() -> None:
    clock = FakeClock(5.0)
    clock.advance(2.5)
    assert clock() == 7.5
