"""Record the simulator's real streams, compare the assembled body with its plain answer, and replay
(recorded and synthesized) through the official SDKs' own stream parsers and accumulators.

The SDK clients get the replayed bytes through an ``httpx2.MockTransport`` (their public
``http_client`` seam), served in small chunks, so the whole SDK path runs: request, SSE decoding,
event models, accumulation. Each simulator request uses a fresh API key (a cold account), so the
plain and the streamed answer of one request have the same usage.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2
import openai
import orjson
import pytest
from tests.http import request

from warmgate.cache.replay import (
    CHAT,
    MESSAGES,
    RESPONSES,
    StreamRecorder,
    hit_marker,
    is_storable,
    mark_cache_hit,
    replay_stream,
)
from warmgate.sim import SimConfig, SimHandle, run_in_thread

PATHS = {CHAT: "/v1/chat/completions", RESPONSES: "/v1/responses", MESSAGES: "/v1/messages"}
_WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"],
}
CASES: dict[str, dict[str, dict[str, Any]]] = {
    CHAT: {
        "plain": {"messages": [{"role": "user", "content": "Tell me about caches"}]},
        "tool": {
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": _WEATHER}}],
            "tool_choice": "required",
        },
        "reasoning": {"messages": [{"role": "user", "content": "Think first"}], "reasoning_effort": "low"},
    },
    RESPONSES: {
        "plain": {"input": "Tell me about caches"},
        "tool": {
            "input": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [{"type": "function", "name": "get_weather", "parameters": _WEATHER}],
            "tool_choice": "required",
        },
        "reasoning": {
            "input": "Think first",
            "reasoning": {"effort": "low"},
            "include": ["reasoning.encrypted_content"],
        },
        "reasoning+tool": {
            "input": "Weather?",
            "reasoning": {"effort": "low"},
            "tools": [{"type": "function", "name": "get_weather", "parameters": _WEATHER}],
            "tool_choice": "required",
        },
    },
    MESSAGES: {
        "plain": {"messages": [{"role": "user", "content": "Tell me about caches"}]},
        "tool": {
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [{"name": "get_weather", "input_schema": _WEATHER}],
            "tool_choice": {"type": "any"},
        },
        "thinking": {
            "messages": [{"role": "user", "content": "Think first"}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        },
        "thinking+tool": {
            "messages": [{"role": "user", "content": "Weather?"}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"name": "get_weather", "input_schema": _WEATHER}],
            "tool_choice": {"type": "any"},
        },
    },
}
MODELS = {CHAT: "gpt-4o-mini", RESPONSES: "gpt-5", MESSAGES: "claude-sonnet-4-6"}
ALL = [(endpoint, name) for endpoint, cases in CASES.items() for name in cases]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    handle = run_in_thread(SimConfig())
    yield handle
    handle.stop()


def call_sim(sim: SimHandle, endpoint: str, body: dict[str, Any]) -> bytes:
    body = {"model": MODELS[endpoint], **body}
    if endpoint == MESSAGES:
        body.setdefault("max_tokens", 256)
    key = "sk-replay-" + uuid.uuid4().hex[:12]
    headers = {"authorization": f"Bearer {key}", "x-api-key": key}
    return request("POST", sim.url + PATHS[endpoint], json=body, headers=headers).ok().body


def record(endpoint: str, stream: bytes, chunk: int = 37) -> Any:
    recorder = StreamRecorder(endpoint, max_bytes=1 << 20)
    for i in range(0, len(stream), chunk):
        recorder.feed(stream[i : i + chunk])
    return recorder.finish()


def without_ids(doc: Any) -> Any:
    """``doc`` without the keys that differ between two answers to one request."""
    if isinstance(doc, dict):
        return {
            k: without_ids(v) for k, v in doc.items() if k not in ("id", "call_id", "created", "created_at")
        }
    if isinstance(doc, list):
        return [without_ids(v) for v in doc]
    return doc


def serve(chunks: list[bytes]) -> httpx2.Client:
    """An HTTP client whose every request is answered 200 with ``chunks`` as an event stream."""
    pieces = [part[i : i + 23] for part in chunks for i in range(0, len(part), 23)]

    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=iter(pieces))

    return httpx2.Client(transport=httpx2.MockTransport(handler))


# -- what each SDK rebuilds from a stream, and the same view of a plain JSON body (ids left out: the
# -- replayed ids are checked by re-recording the replay) ------------------------------------------


def chat_view(completion: Any) -> dict[str, Any]:
    d = completion if isinstance(completion, dict) else completion.to_dict()
    msg = d["choices"][0]["message"]
    return {
        "content": msg.get("content"),
        "tool_calls": [
            (c["function"]["name"], c["function"]["arguments"]) for c in msg.get("tool_calls") or ()
        ],
        "finish": d["choices"][0]["finish_reason"],
        "usage": d.get("usage"),
    }


def responses_view(response: Any) -> dict[str, Any]:
    d = response if isinstance(response, dict) else response.to_dict()
    out: list[Any] = []
    for item in d["output"]:
        if item["type"] == "message":
            out.append(("text", "".join(p["text"] for p in item["content"])))
        elif item["type"] == "function_call":
            out.append(("call", item["name"], item["arguments"]))
        elif item["type"] == "reasoning":
            out.append(("reasoning", [s["text"] for s in item["summary"]], item.get("encrypted_content")))
    return {"output": out, "status": d["status"], "usage": d["usage"]}


def messages_view(message: Any) -> dict[str, Any]:
    d = message if isinstance(message, dict) else message.to_dict()
    blocks: list[Any] = []
    for b in d["content"]:
        if b["type"] == "text":
            blocks.append(("text", b["text"]))
        elif b["type"] == "thinking":
            blocks.append(("thinking", b["thinking"], b["signature"]))
        elif b["type"] == "tool_use":
            blocks.append(("tool_use", b["name"], b["input"]))
    usage = {k: d["usage"].get(k) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")}
    return {"content": blocks, "stop": d["stop_reason"], "usage": usage}


def sdk_chat(chunks: list[bytes]) -> tuple[dict[str, Any], Any]:
    with serve(chunks) as http, openai.OpenAI(api_key="k", base_url="http://cache/v1", http_client=http) as c:
        msgs = CASES[CHAT]["plain"]["messages"]
        with c.chat.completions.stream(model="m", messages=msgs) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion()
    return chat_view(final), final


def sdk_responses(chunks: list[bytes]) -> tuple[dict[str, Any], Any]:
    with (
        serve(chunks) as http,
        openai.OpenAI(api_key="k", base_url="http://cache/v1", http_client=http) as c,
        c.responses.stream(model="m", input="x") as stream,
    ):
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    return responses_view(final), final


def sdk_messages(chunks: list[bytes]) -> tuple[dict[str, Any], Any]:
    with (
        serve(chunks) as http,
        anthropic.Anthropic(api_key="k", base_url="http://cache", http_client=http) as c,
    ):
        msgs = CASES[MESSAGES]["plain"]["messages"]
        with c.messages.stream(model="m", max_tokens=10, messages=msgs) as stream:
            for _ in stream:
                pass
            final = stream.get_final_message()
    return messages_view(final), final


VIEWS: dict[str, Callable[[Any], dict[str, Any]]] = {
    CHAT: chat_view,
    RESPONSES: responses_view,
    MESSAGES: messages_view,
}
SDKS = {CHAT: sdk_chat, RESPONSES: sdk_responses, MESSAGES: sdk_messages}


def stream_body(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {"stream": True}
    if endpoint == CHAT:
        extra["stream_options"] = {"include_usage": True}
    return {**body, **extra}


@pytest.mark.parametrize(("endpoint", "case"), ALL)
def test_assembled_stream_equals_the_plain_answer(sim: SimHandle, endpoint: str, case: str) -> None:
    body = CASES[endpoint][case]
    plain = orjson.loads(call_sim(sim, endpoint, body))
    recorded = record(endpoint, call_sim(sim, endpoint, stream_body(endpoint, body)))
    assert recorded is not None
    assert is_storable(endpoint, 200, plain)
    assert without_ids(recorded.body) == without_ids(plain)
    assert recorded.body["id"]  # ids are kept, only not compared


@pytest.mark.parametrize(("endpoint", "case"), ALL)
@pytest.mark.parametrize("source", ["recorded", "synthesized-from-stream", "synthesized-from-plain"])
def test_sdk_rebuilds_the_answer_from_the_replay(
    sim: SimHandle, endpoint: str, case: str, source: str
) -> None:
    body = CASES[endpoint][case]
    plain = orjson.loads(call_sim(sim, endpoint, body))
    recorded = record(endpoint, call_sim(sim, endpoint, stream_body(endpoint, body)))
    assert recorded is not None
    if source == "recorded":
        chunks = replay_stream(endpoint, recorded.body, raw_events=recorded.events, include_usage=True)
        assert b"".join(chunks) == recorded.raw
        assert replay_stream(endpoint, recorded.body, raw_events=recorded.raw, include_usage=True) == chunks
        expected = recorded.body
    elif source == "synthesized-from-stream":
        chunks = replay_stream(endpoint, recorded.body, raw_events=None, include_usage=True)
        expected = recorded.body
    else:
        chunks = replay_stream(endpoint, plain, raw_events=None, include_usage=True)
        expected = plain
    got, _ = SDKS[endpoint](chunks)
    assert got == VIEWS[endpoint](expected)
    assert VIEWS[endpoint](expected) == VIEWS[endpoint](plain)
    again = record(endpoint, b"".join(chunks), chunk=5)  # a replay is itself a clean, storable stream
    assert again is not None and again.body == expected


@pytest.mark.parametrize("case", list(CASES[CHAT]))
def test_chat_include_usage_is_honoured(sim: SimHandle, case: str) -> None:
    body = CASES[CHAT][case]
    with_usage = record(CHAT, call_sim(sim, CHAT, stream_body(CHAT, body)))
    without_usage = record(CHAT, call_sim(sim, CHAT, {**body, "stream": True}))
    assert with_usage is not None and without_usage is not None
    assert "usage" not in without_usage.body
    plain = orjson.loads(call_sim(sim, CHAT, body))
    for events, source in (
        (with_usage.events, with_usage.body),
        (without_usage.events, plain),
        (None, plain),
    ):
        dropped = replay_stream(CHAT, source, raw_events=events, include_usage=False)
        got, final = sdk_chat(dropped)
        assert final.usage is None and b'"choices":[]' not in b"".join(dropped)
        kept = replay_stream(CHAT, source, raw_events=events, include_usage=True)
        got, final = sdk_chat(kept)
        assert got["usage"] == plain["usage"]


@pytest.mark.parametrize(("endpoint", "case"), [(e, "plain") for e in CASES] + [(e, "tool") for e in CASES])
@pytest.mark.parametrize("recorded_events", [True, False])
def test_the_hit_marker_reaches_sdk_objects(
    sim: SimHandle, endpoint: str, case: str, recorded_events: bool
) -> None:
    body = CASES[endpoint][case]
    recorded = record(endpoint, call_sim(sim, endpoint, stream_body(endpoint, body)))
    assert recorded is not None
    marker = hit_marker(cached_at=1_700_000_000)
    events = recorded.events if recorded_events else None
    chunks = replay_stream(endpoint, recorded.body, raw_events=events, include_usage=True, marker=marker)
    got, final = SDKS[endpoint](chunks)
    assert got == VIEWS[endpoint](recorded.body)
    assert final.to_dict()["warmgate"] == {"cache": "hit", "provider_cost": 0, "cached_at": 1_700_000_000}
    if not recorded_events:  # a body marked at store time carries its marker into a synthesized stream
        marked = mark_cache_hit(endpoint, recorded.body, cached_at=1_700_000_000)
        _, final = SDKS[endpoint](replay_stream(endpoint, marked, include_usage=True))
        assert final.to_dict()["warmgate"] == marker
