"""Affinity keys: every form, real agent requests, precedence, malformed values, the prefix hash."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.routing.agents import CC_SESSION, CODEX_SESSION, claude_code, codex
from warmgate.config import RoutingConfig
from warmgate.routing.affinity import (
    MAX_ID_CHARS,
    AffinityKey,
    affinity_key,
    affinity_keys,
    id_binding_key,
    id_binding_ttl,
    prefix_hash,
    response_ids,
    shared_prefix_hash,
)

MIN = 1024
LONG_SYSTEM = "You are a careful assistant. " * 200  # ~5 800 characters: over 1 024 tokens


def key(endpoint: str, headers: list[tuple[bytes, bytes]] | None = None, body: dict[str, Any] | None = None,
        min_prefix_tokens: int = MIN) -> AffinityKey | None:
    return affinity_key(endpoint, headers or [], body, min_prefix_tokens=min_prefix_tokens)


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-sim", "messages": list(messages), **extra}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# -- Real coding agents ---------------------------------------------------------------------------

def test_claude_code_request_binds_by_its_session() -> None:
    path, headers, body = claude_code()
    assert key(path, headers, body) == AffinityKey("session", CC_SESSION)


def test_claude_code_header_alone_and_metadata_alone_give_the_same_key() -> None:
    path, headers, body = claude_code()
    no_header = [(k, v) for k, v in headers if k != b"x-claude-code-session-id"]
    no_metadata = {k: v for k, v in body.items() if k != "metadata"}
    assert key(path, no_header, body) == key(path, headers, no_metadata) == AffinityKey("session", CC_SESSION)


def test_claude_code_turns_share_a_prefix_hash_without_the_session() -> None:
    path, _, first = claude_code()
    _, _, later = claude_code([{"role": "assistant", "content": [{"type": "text", "text": "Looking."}]},
                               {"role": "user", "content": [{"type": "text", "text": "go on",
                                                             "cache_control": {"type": "ephemeral"}}]}])
    for body in (first, later):
        del body["metadata"]
    a, b = key(path, [], first), key(path, [], later)
    assert a is not None and a.kind == "prefix"
    assert a == b


def test_codex_request_binds_by_prompt_cache_key() -> None:
    path, headers, body = codex()
    assert key(path, headers, body) == AffinityKey("session", CODEX_SESSION)


def test_codex_session_header_alone() -> None:
    path, headers, body = codex()
    del body["prompt_cache_key"]
    assert key(path, headers, body) == AffinityKey("session", CODEX_SESSION)
    underscore = [(b"session_id" if k == b"session-id" else k, v) for k, v in headers]
    assert key(path, underscore, body) == AffinityKey("session", CODEX_SESSION)


def test_codex_turns_share_a_prefix_hash_without_the_session() -> None:
    path, _, first = codex()
    _, _, later = codex([{"type": "reasoning", "summary": [], "encrypted_content": "gAAAA" + "x" * 400},
                         {"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"ls\"]}",
                          "call_id": "call_1"},
                         {"type": "function_call_output", "call_id": "call_1", "output": "src tests"}])
    for body in (first, later):
        del body["prompt_cache_key"]
    a = key(path, [], first)
    assert a is not None and a.kind == "prefix" and a == key(path, [], later)


# -- Each explicit form ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        ("sess_abc123789", "sess_abc123789"),
        ("user_" + "a" * 64 + "_account_" + "b7a3c2d1-e4f5-4a6b-8c7d-9e0f1a2b3c4d" + "_session_" + CC_SESSION, CC_SESSION),
        ("user_" + "a" * 64 + "_account__session_" + CC_SESSION, CC_SESSION),
        (json.dumps({"device_id": "d", "account_uuid": "", "session_id": CC_SESSION}), CC_SESSION),
        ('  {"session_id": "s-1"}  ', "s-1"),
    ],
)
def test_metadata_user_id_forms(user_id: str, expected: str) -> None:
    assert key("/v1/messages", [], {"metadata": {"user_id": user_id}}) == AffinityKey("session", expected)


@pytest.mark.parametrize(
    "metadata",
    [
        "user_1",  # metadata not an object
        ["user_1"],
        {"user_id": 42},
        {"user_id": None},
        {"user_id": ""},
        {"user_id": "   "},
        {"user_id": "{not json"},
        {"user_id": '{"device_id": "d"}'},  # JSON without a session
        {"user_id": '{"session_id": 7}'},
        {"user_id": '["session_id"]'},
        {"user_id": "user_x_session_"},  # legacy form with an empty session
    ],
)
def test_malformed_metadata_falls_through(metadata: Any) -> None:
    body = {"metadata": metadata, "prompt_cache_key": "pck"}
    assert key("/v1/messages", [], body) == AffinityKey("session", "pck")
    assert key("/v1/messages", [(b"x-claude-code-session-id", b"hdr")], body) == AffinityKey("session", "hdr")


@pytest.mark.parametrize("value", [5, None, "", ["a"], {"id": "x"}, True])
def test_malformed_prompt_cache_key_falls_through(value: Any) -> None:
    assert key("/v1/responses", [(b"session-id", b"s")], {"prompt_cache_key": value}) == AffinityKey("session", "s")


def test_conversation_header() -> None:
    assert key("/v1/chat/completions", [(b"x-conversation-id", b" sess_abc123789 ")]) == AffinityKey(
        "conversation", "sess_abc123789"
    )


def test_response_and_request_headers() -> None:
    assert key("/v1/messages", [(b"x-response-id", b"msg_01")]) == AffinityKey("response", "msg_01")
    assert key("/v1/messages", [(b"x-request-id", b"a1b2c3")]) == AffinityKey("request", "a1b2c3")


@pytest.mark.parametrize(
    ("endpoint", "body", "expected"),
    [
        ("/v1/responses", {"previous_response_id": "resp_1"}, "resp_1"),
        ("/v1/responses", {"conversation": "conv_1"}, "conv_1"),
        ("/v1/responses", {"conversation": {"id": "conv_2"}}, "conv_2"),
        ("/v1/responses/resp_3", None, "resp_3"),
        ("/v1/responses/resp_4/input_items", None, "resp_4"),
        ("/v1/responses/resp_5/cancel", {}, "resp_5"),
    ],
)
def test_stored_response_forms(endpoint: str, body: dict[str, Any] | None, expected: str) -> None:
    assert key(endpoint, [], body) == AffinityKey("stored_response", expected)


@pytest.mark.parametrize("endpoint", ["/v1/responses/compact", "/v1/responses/input_tokens", "/v1/responses/"])
def test_responses_operations_are_not_ids(endpoint: str) -> None:
    assert key(endpoint, [], {}) is None


@pytest.mark.parametrize(
    ("endpoint", "body", "expected"),
    [
        ("/v1/video/generations", {"task_id": "task_9", "prompt": "longer"}, "task_9"),
        ("/mj/submit/action", {"task_id": 1712345678901}, "1712345678901"),
        ("/v1/videos/video_1/remix", {"prompt": "at night"}, "video_1"),
        ("/v1/videos/video_2", None, "video_2"),
        ("/v1/videos/video_3/content", None, "video_3"),
        ("/v1/videos/extensions", {"video": {"id": "video_4"}, "prompt": "zoom out", "seconds": "8"}, "video_4"),
        ("/v1/videos/edits", {"video": "video_5", "prompt": "p"}, "video_5"),
        ("/v1/videos/extensions", {"video_id": "video_6"}, "video_6"),
        ("/v1/video/generations/task_7", None, "task_7"),
        ("/v1/images/edits", {"images": [{"file_id": "file-1"}, {"image_url": "https://x"}], "prompt": "p"}, "file-1"),
        ("/v1/images/edits", {"images": [{"image_url": "https://x"}], "mask": {"file_id": "file-2"}}, "file-2"),
        (
            "/v1/responses",
            {"model": "gpt-image", "input": [
                {"role": "user", "content": "draw a cat"},
                {"type": "image_generation_call", "id": "ig_1"},
                {"role": "user", "content": "make it blue"},
                {"type": "image_generation_call", "id": "ig_2"},
                {"role": "user", "content": "and smaller"},
            ], "tools": [{"type": "image_generation"}]},
            "ig_2",
        ),
    ],
)
def test_task_forms(endpoint: str, body: dict[str, Any] | None, expected: str) -> None:
    assert key(endpoint, [], body) == AffinityKey("task", expected)


@pytest.mark.parametrize("endpoint", ["/v1/videos/extensions", "/v1/videos/edits", "/v1/videos/characters", "/v1/videos"])
def test_video_operations_are_not_ids(endpoint: str) -> None:
    assert key(endpoint, [], {"prompt": "a fox"}) is None


# -- Precedence -----------------------------------------------------------------------------------

ALL_FORMS: list[tuple[str, list[tuple[bytes, bytes]], dict[str, Any], AffinityKey]] = [
    ("conversation", [(b"x-conversation-id", b"c")], {}, AffinityKey("conversation", "c")),
    ("metadata", [], {"metadata": {"user_id": "m"}}, AffinityKey("session", "m")),
    ("claude header", [(b"x-claude-code-session-id", b"h")], {}, AffinityKey("session", "h")),
    ("prompt_cache_key", [], {"prompt_cache_key": "p"}, AffinityKey("session", "p")),
    ("codex header", [(b"session-id", b"s")], {}, AffinityKey("session", "s")),
    ("response", [(b"x-response-id", b"r")], {}, AffinityKey("response", "r")),
    ("request", [(b"x-request-id", b"q")], {}, AffinityKey("request", "q")),
    ("stored", [], {"previous_response_id": "resp_1"}, AffinityKey("stored_response", "resp_1")),
    ("task", [], {"task_id": "t"}, AffinityKey("task", "t")),
]


def test_every_form_in_precedence_order() -> None:
    headers = [h for _, hs, _, _ in ALL_FORMS for h in reversed(hs)]
    body: dict[str, Any] = {"model": "gpt-sim", "messages": [{"role": "system", "content": LONG_SYSTEM}, user("hi")]}
    for _, _, b, _ in ALL_FORMS:
        body.update(b)
    keys = list(affinity_keys("/v1/chat/completions", headers, body, min_prefix_tokens=MIN))
    assert keys[:-1] == [expected for *_, expected in ALL_FORMS]
    assert keys[-1].kind == "prefix"


@pytest.mark.parametrize("drop", range(len(ALL_FORMS)))
def test_first_present_form_wins(drop: int) -> None:
    present = ALL_FORMS[drop:]
    headers = [h for _, hs, _, _ in present for h in hs]
    body: dict[str, Any] = {}
    for _, _, b, _ in present:
        body.update(b)
    assert key("/v1/chat/completions", headers, body) == present[0][3]


def test_header_names_are_matched_exactly_lower_case() -> None:
    assert key("/v1/chat/completions", [(b"x-conversation-idx", b"c"), (b"xsession-id", b"s")]) is None


# -- Prefix ---------------------------------------------------------------------------------------

def test_short_prompt_needs_no_affinity() -> None:
    assert key("/v1/chat/completions", [], chat(user("hi"))) is None


def test_long_system_prompt_gives_a_prefix_key() -> None:
    k = key("/v1/chat/completions", [], chat({"role": "system", "content": LONG_SYSTEM}, user("hi")))
    assert k is not None and k.kind == "prefix" and len(k.value) == 32


def test_long_conversation_behind_a_short_prefix_counts() -> None:
    """The provider caches the whole prompt; the key is still only the stable prefix."""
    turns = [user("hi"), {"role": "assistant", "content": "x" * 5000}, user("more")]
    k = key("/v1/chat/completions", [], chat(*turns))
    assert k is not None and k.kind == "prefix"
    assert k == key("/v1/chat/completions", [], chat(*turns[:1], {"role": "assistant", "content": "y" * 6000}))
    assert key("/v1/chat/completions", [], chat(*turns), min_prefix_tokens=5000) is None


def test_min_prefix_tokens_zero_always_keys() -> None:
    k = key("/v1/chat/completions", [], chat(user("hi")), min_prefix_tokens=0)
    assert k is not None and k.kind == "prefix"


def test_prefix_is_the_system_tools_model_and_first_user_message() -> None:
    base = chat({"role": "system", "content": LONG_SYSTEM}, {"role": "developer", "content": "be brief"}, user("q1"))
    k = key("/v1/chat/completions", [], base)
    later = copy.deepcopy(base)
    later["messages"] += [{"role": "assistant", "content": "a1"}, user("q2")]
    assert key("/v1/chat/completions", [], later) == k
    variants = [
        {**base, "model": "other"},
        {**base, "tools": [{"type": "function", "function": {"name": "f"}}]},
        chat({"role": "system", "content": LONG_SYSTEM + "!"}, base["messages"][1], user("q1")),
        chat(*base["messages"][:2], user("q1 changed")),
        chat(base["messages"][0], user("q1")),  # without the developer message
    ]
    for v in variants:
        assert key("/v1/chat/completions", [], v) != k


def test_prefix_ignores_cache_control_and_key_order() -> None:
    a = {
        "model": "claude-sim",
        "system": [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": "t", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}],
    }
    b = {
        "messages": [{"content": [{"text": "q", "type": "text"}], "role": "user"}],
        "tools": [{"input_schema": {"type": "object"}, "name": "t"}],
        "system": [{"text": LONG_SYSTEM, "type": "text"}],
        "model": "claude-sim",
    }
    assert key("/v1/messages", [], a) == key("/v1/messages", [], b) is not None


def test_responses_prefix_with_string_input() -> None:
    body = {"model": "gpt-sim", "instructions": LONG_SYSTEM, "input": "hello"}
    k = key("/v1/responses", [], body)
    assert k is not None and k.kind == "prefix"
    assert key("/v1/responses", [], {**body, "input": "bye"}) != k
    assert key("/v1/responses", [], {**body, "instructions": "short"}) is None


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("/v1/embeddings", {"model": "e", "input": "x" * 10_000}),
        ("/v1/messages/count_tokens", {"model": "c", "system": LONG_SYSTEM, "messages": [user("hi")]}),
        ("/v1/chat/completions", {"model": "m", "messages": "not a list"}),
        ("/v1/responses", {"model": "m", "input": 3}),
    ],
)
def test_no_prefix_key(endpoint: str, body: dict[str, Any]) -> None:
    assert key(endpoint, [], body) is None


def test_unserializable_prefix_is_skipped() -> None:
    deep: Any = "x" * 9000
    for _ in range(300):
        deep = [deep]
    assert prefix_hash("/v1/chat/completions", {"model": "m", "messages": [user(deep)]}, min_prefix_tokens=1) is None


# -- Values ---------------------------------------------------------------------------------------

def test_long_ids_are_hashed_not_kept() -> None:
    k = key("/v1/chat/completions", [(b"x-conversation-id", b"c" * 5000)])
    assert k is not None and len(k.value) == 64 and k.value != "c" * 64
    assert k == key("/v1/chat/completions", [(b"x-conversation-id", b"c" * 5000)])
    ok = key("/v1/chat/completions", [(b"x-conversation-id", b"c" * MAX_ID_CHARS)])
    assert ok is not None and ok.value == "c" * MAX_ID_CHARS


def test_digest_hides_the_value() -> None:
    k = AffinityKey("session", "alice@example.com")
    assert len(k.digest()) == 16 and "alice" not in k.digest()
    assert k.digest() == AffinityKey("session", "alice@example.com").digest() != AffinityKey("conversation", "alice@example.com").digest()


def test_pointer_kinds_share_the_id_namespace() -> None:
    expected = id_binding_key("pool", "resp_1")
    for kind in ("response", "request", "stored_response", "task"):
        assert AffinityKey(kind, "resp_1").pointer
        assert AffinityKey(kind, "resp_1").binding_key("pool") == expected
    assert not AffinityKey("session", "resp_1").pointer
    assert AffinityKey("session", "resp_1").binding_key("pool") != AffinityKey("conversation", "resp_1").binding_key("pool")


# -- Ids of responses -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("endpoint", "body", "expected"),
    [
        ("/v1/chat/completions", {"id": "chatcmpl-1", "object": "chat.completion", "choices": []}, ["chatcmpl-1"]),
        ("/v1/chat/completions", {"id": "chatcmpl-1", "object": "chat.completion.chunk"}, ["chatcmpl-1"]),
        ("/v1/messages", {"id": "msg_1", "type": "message", "content": []}, ["msg_1"]),
        ("/v1/messages", {"type": "message_start", "message": {"id": "msg_2", "type": "message"}}, ["msg_2"]),
        ("/v1/messages", {"type": "content_block_delta", "delta": {"text": "x"}}, []),
        ("/v1/responses", {"id": "resp_1", "object": "response", "output": [
            {"type": "message", "id": "msg_x"}, {"type": "image_generation_call", "id": "ig_1", "result": "b64"}]},
         ["resp_1", "ig_1"]),
        ("/v1/responses", {"type": "response.created", "response": {"id": "resp_2", "output": []}}, ["resp_2"]),
        ("/v1/responses", {"type": "response.completed", "response": {"id": "resp_3", "output": [
            {"type": "image_generation_call", "id": "ig_3"}]}}, ["resp_3", "ig_3"]),
        ("/v1/responses", {"type": "response.output_item.done", "item": {"type": "image_generation_call", "id": "ig_4"}},
         ["ig_4"]),
        ("/v1/videos", {"id": "video_1", "object": "video", "status": "queued"}, ["video_1"]),
        ("/v1/videos/video_1/remix", {"id": "video_2", "object": "video", "remixed_from_video_id": "video_1"},
         ["video_2"]),
        ("/v1/video/generations", {"task_id": "task_1"}, ["task_1"]),
        ("/v1/files", {"id": "file-1", "object": "file"}, ["file-1"]),
        ("/v1/embeddings", {"object": "list", "data": []}, []),
        ("/v1/models/gpt-sim", {"id": "gpt-sim", "object": "model"}, []),
        ("/v1/chat/completions", {"id": 5}, []),
    ],
)
def test_response_ids(endpoint: str, body: dict[str, Any], expected: list[str]) -> None:
    assert response_ids(endpoint, body) == expected


def test_id_binding_ttl() -> None:
    cfg = RoutingConfig(response_binding_ttl=300, stored_response_ttl=86400)
    assert id_binding_ttl("/v1/responses", {"store": True}, cfg) == 86400
    assert id_binding_ttl("/v1/responses", {}, cfg) == 86400  # store defaults to true
    assert id_binding_ttl("/v1/responses", {"store": False}, cfg) == 300
    assert id_binding_ttl("/v1/videos", None, cfg) == 86400
    assert id_binding_ttl("/v1/messages", {}, cfg) == 300
    assert id_binding_ttl("/v1/chat/completions", {"store": True}, cfg) == 300


# -- Never raises ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = ["model", "messages", "system", "tools", "input", "instructions", "metadata", "prompt_cache_key",
          "previous_response_id", "task_id", "video", "video_id", "images", "mask", "conversation"]


@settings(max_examples=100, deadline=None)
@given(
    endpoint=st.sampled_from(["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/videos/extensions",
                              "/v1/images/edits", "/v1/responses/x", "/v1/embeddings"]),
    body=st.one_of(st.none(), st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)),
    headers=st.lists(st.tuples(st.sampled_from([b"x-conversation-id", b"x-request-id", b"session-id", b"x"]),
                               st.binary(max_size=10)), max_size=3),
)
def test_any_input_gives_a_key_or_none(endpoint: str, body: dict[str, Any] | None,
                                       headers: list[tuple[bytes, bytes]]) -> None:
    for k in affinity_keys(endpoint, headers, body, min_prefix_tokens=1):
        assert isinstance(k.value, str) and k.value
    if body is not None:
        response_ids(endpoint, body)


def test_a_body_that_is_not_an_object_is_ignored() -> None:
    not_an_object: Any = ["x" * 9000]
    assert key("/v1/chat/completions", [(b"session-id", b"s")], not_an_object) == AffinityKey("session", "s")
    assert key("/v1/chat/completions", [], not_an_object, min_prefix_tokens=0) is None


def test_the_shared_prefix_leaves_the_first_user_message_out() -> None:
    system = {"role": "system", "content": " ".join(f"rule{i}" for i in range(2000))}
    tool = {"type": "function", "function": {"name": "grep", "parameters": {"type": "object"}}}

    def body(first: str, **extra: Any) -> dict[str, Any]:
        return {"model": "m", "messages": [system, {"role": "user", "content": first}], **extra}

    h = shared_prefix_hash("/v1/chat/completions", body("fix the bug"), min_prefix_tokens=1024)
    assert h is not None
    assert shared_prefix_hash("/v1/chat/completions", body("write a test"), min_prefix_tokens=1024) == h
    assert shared_prefix_hash("/v1/chat/completions", body("fix the bug", tools=[tool]), min_prefix_tokens=1024) != h
    assert shared_prefix_hash("/v1/chat/completions", {**body("x"), "model": "n"}, min_prefix_tokens=1024) != h
    # the first user messages differ, so the conversations' own prefix keys do
    assert prefix_hash("/v1/chat/completions", body("fix the bug"), min_prefix_tokens=1024) != prefix_hash(
        "/v1/chat/completions", body("write a test"), min_prefix_tokens=1024)
    # a system prompt too short to be cached alone gives no shared prefix, however long the rest is
    short = {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "word " * 10_000}]}
    assert shared_prefix_hash("/v1/chat/completions", short, min_prefix_tokens=1024) is None
    # Anthropic's system field, with its cache markers ignored
    anth = {"model": "m", "system": [{"type": "text", "text": system["content"], "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hi"}]}
    plain = {**anth, "system": [{"type": "text", "text": system["content"]}]}
    assert shared_prefix_hash("/v1/messages", anth, min_prefix_tokens=1024) == shared_prefix_hash(
        "/v1/messages", plain, min_prefix_tokens=1024) is not None


@pytest.mark.parametrize("kind", ["conversation", "session", "response", "request", "stored_response", "task"])
def test_binding_keys_do_not_carry_the_ids_themselves(kind: str) -> None:
    """Bindings may live in a shared Redis; a conversation or session id can identify a user."""
    secret = "user_3f9a-session-42"
    key = AffinityKey(kind, secret).binding_key("pool")
    assert secret not in key and key.startswith("pool|")
    assert key == AffinityKey(kind, secret).binding_key("pool")  # stable: every instance computes the same
    assert key != AffinityKey(kind, secret + "x").binding_key("pool")
