"""Semantic partitions: only the last user turn is compared by meaning; everything else must match."""

from __future__ import annotations

from typing import Any

import pytest

from warmgate.cache.semantic_partition import (
    SemanticRequest,
    has_tool_calls,
    is_deterministic,
    last_user_text,
    semantic_request,
)


def part(body: dict[str, Any], endpoint: str = "chat.completions", **kw: Any) -> SemanticRequest | None:
    args: dict[str, Any] = {"scope": "t.acme", "namespace": "", "model": "gpt-x", "embedder": "minilm", "max_chars": 1000}
    args.update(kw)
    return semantic_request(endpoint=endpoint, body=body, **args)


def chat(*turns: tuple[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-x", "messages": [{"role": r, "content": c} for r, c in turns], **extra}


def test_only_the_last_user_turn_is_left_out() -> None:
    a = part(chat(("system", "be brief"), ("user", "How do I sort a list?")))
    b = part(chat(("system", "be brief"), ("user", "What's the way to sort a list?")))
    assert a is not None and b is not None
    assert a.partition == b.partition
    assert (a.text, b.text) == ("How do I sort a list?", "What's the way to sort a list?")


@pytest.mark.parametrize(
    ("change", "kw"),
    [
        ({"messages": [{"role": "system", "content": "be verbose"}, {"role": "user", "content": "q"}]}, {}),
        ({"temperature": 0.5}, {}),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, {}),
        ({"response_format": {"type": "json_object"}}, {}),
        ({"max_tokens": 5}, {}),
        ({}, {"scope": "t.other"}),
        ({}, {"namespace": "n2"}),
        ({}, {"model": "gpt-y"}),
        ({}, {"embedder": "remote:x"}),
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                       {"role": "user", "content": "q"}]}, {}),
        ({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q", "name": "bob"}]}, {}),
    ],
)
def test_everything_else_splits_the_partition(change: dict[str, Any], kw: dict[str, Any]) -> None:
    base = chat(("system", "be brief"), ("user", "q"))
    a = part(base)
    b = part({**base, **change}, **kw)
    assert a is not None and b is not None
    assert a.partition != b.partition


def test_canonicalization_is_the_exact_caches() -> None:
    a = part(chat(("user", "q"), temperature=1.0, stream=True))
    b = part(chat(("user", "q")))
    assert a is not None and b is not None and a.partition == b.partition  # default temperature, stream excluded


def test_endpoints_never_share_a_partition() -> None:
    body = chat(("user", "q"))
    a, b = part(body), part(body, endpoint="messages")
    assert a is not None and b is not None and a.partition != b.partition


def test_text_parts_are_joined_and_non_text_is_not_eligible() -> None:
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]
    sem = part(chat(("user", parts)))
    assert sem is not None and sem.text == "Hello\nworld"
    image = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "x"}}]
    assert part(chat(("user", image))) is None


@pytest.mark.parametrize(
    "body",
    [
        chat(("user", "q"), ("assistant", "prefill")),
        chat(("user", "q"), ("tool", "42")),
        chat(("user", "   ")),
        chat(("user", "x" * 1001)),
        {"model": "m", "messages": []},
        {"model": "m"},
    ],
)
def test_not_eligible(body: dict[str, Any]) -> None:
    assert part(body) is None


def test_embeddings_are_never_semantic() -> None:
    assert last_user_text("embeddings", {"input": "q"}) is None


def test_responses_string_and_items() -> None:
    a = part({"model": "m", "input": "How do I sort?", "instructions": "be brief"}, endpoint="responses")
    b = part({"model": "m", "input": "How can I sort?", "instructions": "be brief"}, endpoint="responses")
    c = part({"model": "m", "input": "How do I sort?", "instructions": "be long"}, endpoint="responses")
    assert a is not None and b is not None and c is not None
    assert a.partition == b.partition != c.partition
    items = {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi there"}]}]}
    sem = part(items, endpoint="responses")
    assert sem is not None and sem.text == "hi there"
    call = {"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": "1"}]}
    assert part(call, endpoint="responses") is None
    prev = {"model": "m", "input": "How do I sort?", "instructions": "be brief", "previous_response_id": "r1"}
    p = part(prev, endpoint="responses")
    assert p is not None and p.partition != a.partition


def test_messages_system_and_blocks() -> None:
    body = {"model": "m", "max_tokens": 100, "system": "be brief",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}]}
    sem = part(body, endpoint="messages")
    other = part({**body, "system": "be long"}, endpoint="messages")
    assert sem is not None and other is not None and sem.text == "q" and sem.partition != other.partition
    tool = {**body, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "1"}]}]}
    assert part(tool, endpoint="messages") is None


def test_tool_calls_in_answers() -> None:
    assert has_tool_calls("chat.completions", {"choices": [{"message": {"tool_calls": [{"id": "c"}]}}]})
    assert not has_tool_calls("chat.completions", {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]})
    assert has_tool_calls("responses", {"output": [{"type": "function_call"}]})
    assert not has_tool_calls("responses", {"output": [{"type": "reasoning"}, {"type": "message"}]})
    assert has_tool_calls("messages", {"content": [{"type": "tool_use"}], "stop_reason": "tool_use"})
    assert not has_tool_calls("messages", {"content": [{"type": "text", "text": "x"}], "stop_reason": "end_turn"})


def test_determinism() -> None:
    assert is_deterministic("chat.completions", {"temperature": 0})
    assert is_deterministic("chat.completions", {"temperature": 0.0})
    assert not is_deterministic("chat.completions", {})
    assert not is_deterministic("chat.completions", {"temperature": 0, "n": 2})
    assert is_deterministic("messages", {"top_k": 1})
    assert not is_deterministic("chat.completions", {"top_k": 1})
