"""Cost accounting against figures computed by hand, for the usage shapes of each wire format
(cached and uncached, streamed and not), the price table's matching, and the cache entry that
carries an answer's original usage."""

from __future__ import annotations

import math

import pytest

from warmgate.accounting.cost import latency_saved, prompt_cache_saving, usage_cost
from warmgate.accounting.prices import Price, PriceTable, load_prices, price_of
from warmgate.cache.entry import CachedAnswer, decode, encode
from warmgate.config_file import parse_config
from warmgate.dialects.usage import Usage, read_stream_usage, read_usage
from warmgate.observe.setup import price_overrides

GPT_4O = Price(input=2.50, cached_input=1.25, cache_write=2.50, cache_write_1h=2.50, output=10.00)
SONNET = Price(input=3.00, cached_input=0.30, cache_write=3.75, cache_write_1h=6.00, output=15.00)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def test_openai_chat_uncached() -> None:
    usage = read_usage("chat.completions", {"usage": {"prompt_tokens": 1200, "completion_tokens": 300}})
    assert usage == Usage(1200, 0, 0, 300)
    # 1200 x $2.50 + 300 x $10 = $3000 + $3000 per million
    assert close(usage_cost(GPT_4O, usage), 0.006)
    assert prompt_cache_saving(GPT_4O, usage) == 0.0


def test_openai_chat_with_prompt_cache_read() -> None:
    body = {"usage": {"prompt_tokens": 2000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 1536}}}
    usage = read_usage("chat.completions", body)
    assert usage == Usage(2000, 1536, 0, 100)
    # 464 x 2.50 = 1160; 1536 x 1.25 = 1920; 100 x 10 = 1000 -> $4080 per million
    assert close(usage_cost(GPT_4O, usage), 0.00408)
    # 1536 x (2.50 - 1.25) = 1920 per million
    assert close(prompt_cache_saving(GPT_4O, usage), 0.00192)


def test_openai_responses_usage_shape() -> None:
    body = {"usage": {"input_tokens": 3000, "output_tokens": 50, "input_tokens_details": {"cached_tokens": 2048}}}
    usage = read_usage("responses", body)
    assert usage == Usage(3000, 2048, 0, 50)
    # 952 x 2.50 = 2380; 2048 x 1.25 = 2560; 50 x 10 = 500 -> 5440
    assert close(usage_cost(GPT_4O, usage), 0.00544)


def test_anthropic_uncached() -> None:
    usage = read_usage("messages", {"usage": {"input_tokens": 500, "output_tokens": 120}})
    assert usage == Usage(500, 0, 0, 120)
    # 500 x 3 + 120 x 15 = 1500 + 1800
    assert close(usage_cost(SONNET, usage), 0.0033)


def test_anthropic_cache_read_and_writes_5m_and_1h() -> None:
    body = {"usage": {
        "input_tokens": 50, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 2000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
        "output_tokens": 200,
    }}
    usage = read_usage("messages", body)
    assert usage == Usage(prompt=3050, cached=1000, cache_write=2000, completion=200, cache_write_1h=500)
    # 50 x 3 = 150; 1000 x 0.30 = 300; 1500 x 3.75 = 5625; 500 x 6 = 3000; 200 x 15 = 3000 -> 12075
    assert close(usage_cost(SONNET, usage), 0.012075)
    # 1000 x (3 - 0.30) = 2700
    assert close(prompt_cache_saving(SONNET, usage), 0.0027)


def test_streamed_openai_chat_usage_chunk() -> None:
    events = [
        {"choices": [{"delta": {"content": "hi"}}]},
        {"choices": [], "usage": {"prompt_tokens": 2000, "completion_tokens": 100,
                                  "prompt_tokens_details": {"cached_tokens": 1536}}},
    ]
    usage = read_stream_usage("chat.completions", events)
    assert close(usage_cost(GPT_4O, usage), 0.00408)


def test_streamed_anthropic_usage_merged_from_start_and_delta() -> None:
    events = [
        {"type": "message_start", "message": {"usage": {
            "input_tokens": 50, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 2000,
            "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
            "output_tokens": 1}}},
        {"type": "content_block_delta", "delta": {"text": "x"}},
        {"type": "message_delta", "usage": {"output_tokens": 200}},
    ]
    usage = read_stream_usage("messages", events)
    assert usage == Usage(3050, 1000, 2000, 200, 500)
    assert close(usage_cost(SONNET, usage), 0.012075)


def test_streamed_responses_completed_event() -> None:
    events = [{"type": "response.output_text.delta", "delta": "x"},
              {"type": "response.completed", "response": {"usage": {
                  "input_tokens": 3000, "output_tokens": 50, "input_tokens_details": {"cached_tokens": 2048}}}}]
    assert close(usage_cost(GPT_4O, read_stream_usage("responses", events)), 0.00544)


def test_latency_saved_by_a_hit() -> None:
    assert close(latency_saved(0.8, 0.0002), 0.7998)
    assert latency_saved(0.1, 0.5) == 0.0  # a hit slower than the original saved nothing


def test_packaged_table_and_matching() -> None:
    checked, prices = load_prices()
    assert checked and "gpt-4o" in prices and "claude-sonnet-4-5" in prices
    table = PriceTable.default()
    assert table.get("gpt-4o-mini-2024-07-18") == prices["gpt-4o-mini"]  # date suffix
    assert table.get("claude-sonnet-4-5-20250929") == prices["claude-sonnet-4-5"]
    assert table.get("claude-3-5-haiku-latest") == prices["claude-3-5-haiku"]
    assert table.get("gpt-4o-mini-search-preview") == prices["gpt-4o-mini"]  # longest listed prefix
    assert table.get("openai/gpt-4o") == prices["gpt-4o"]
    assert table.get("my-local-model") is None and table.get(None) is None
    # Opus 4.5 and later cost a third of Opus 4 / 4.1: a newer Opus must not fall back to `claude-opus-4`
    for name in ("claude-opus-4-6", "claude-opus-4-7-20260416", "claude-opus-4-8", "claude-opus-5"):
        assert table.get(name) == prices["claude-opus-4-5"] != prices["claude-opus-4"], name
    # every Anthropic model: read 0.1 x, 5-minute write 1.25 x, 1-hour write 2 x the input price
    # (within 2 cents: Claude 3 Haiku's published figures are rounded)
    for name, p in prices.items():
        if name.startswith("claude"):
            assert abs(p.cached_input - p.input / 10) <= 0.02 and abs(p.cache_write - p.input * 1.25) <= 0.02
            assert abs(p.cache_write_1h - p.input * 2) <= 0.02


def test_config_overrides_prices() -> None:
    cfg = parse_config(
        "providers: [{name: p, api: openai, base_url: 'http://x/v1', accounts: [{name: a, api_key: k}]}]\n"
        "prices:\n  gpt-4o: {input: 1, output: 2}\n  house-model: {input: 0.5, cached_input: 0.1, output: 1}\n"
    )
    table = PriceTable.default(price_overrides(cfg))
    assert table.get("gpt-4o") == Price(1.0, 1.0, 1.0, 1.0, 2.0)
    assert table.get("house-model-v2") == Price(0.5, 0.1, 0.5, 0.5, 1.0)
    with pytest.raises(ValueError):
        price_of({"output": 1})
    with pytest.raises(ValueError):
        price_of({"input": -1})


def test_cache_entry_carries_the_original_usage() -> None:
    usage = Usage(3050, 1000, 2000, 200, 500)
    answer = CachedAnswer(200, b'{"a":1}', b"data: x\n\n", 812.5, usage.total, usage)
    assert decode(encode(answer)) == answer
    plain = answer._replace(events=None)  # a non-streamed original
    assert decode(encode(plain)) == plain
    # an entry written by the previous version still decodes (its tokens count as prompt)
    import struct

    v1 = struct.pack("<4sHdIIi", b"WGC1", 200, 10.0, 42, 2, -1) + b"{}"
    old = decode(v1)
    assert old.tokens == 42 and old.usage == Usage(42) and old.body == b"{}"
