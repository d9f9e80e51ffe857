"""What is never recorded or stored: cut streams, error events, empty answers, cuts by a filter,
errors; what is (max-token cuts); the hit marker on plain bodies as the SDKs parse them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import orjson
import pytest
from tests.http import request

from warmgate.cache.replay import (
    CHAT,
    ENDPOINTS,
    MESSAGES,
    RESPONSES,
    StreamRecorder,
    assemble,
    is_storable,
    mark_cache_hit,
    replay_events,
    replay_stream,
)
from warmgate.sim import SimConfig, SimHandle, run_in_thread
from warmgate.sse import DONE, Event, encode, parse

PATHS = {CHAT: "/v1/chat/completions", RESPONSES: "/v1/responses", MESSAGES: "/v1/messages"}
PLAIN: dict[str, dict[str, Any]] = {
    CHAT: {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
    RESPONSES: {"model": "gpt-5", "input": "hello"},
    MESSAGES: {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hello"}],
    },
}
TERMINAL = {CHAT: DONE, RESPONSES: b'"response.completed"', MESSAGES: b'"message_stop"'}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    handle = run_in_thread(SimConfig())
    yield handle
    handle.stop()


def call(sim: SimHandle, endpoint: str, stream: bool, **extra: Any) -> tuple[int, bytes]:
    key = "sk-gates-" + uuid.uuid4().hex[:12]
    body = {**PLAIN[endpoint], **extra, **({"stream": True} if stream else {})}
    resp = request(
        "POST",
        sim.url + PATHS[endpoint],
        json=body,
        headers={"authorization": f"Bearer {key}", "x-api-key": key},
    )
    return resp.status, resp.body


def finish(endpoint: str, data: bytes, max_bytes: int = 1 << 20) -> Any:
    recorder = StreamRecorder(endpoint, max_bytes)
    recorder.feed(data)
    return recorder.finish()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_cut_of_a_stream_is_refused(sim: SimHandle, endpoint: str) -> None:
    _, data = call(sim, endpoint, stream=True)
    assert finish(endpoint, data) is not None
    end = len(data)
    cuts = {*range(0, end, 11), *range(max(0, end - 120), end)}  # everywhere, and densely near the end
    for cut in sorted(cuts):
        assert finish(endpoint, data[:cut]) is None, cut


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_stream_without_its_terminal_event_is_refused(sim: SimHandle, endpoint: str) -> None:
    _, data = call(sim, endpoint, stream=True)
    events = parse(data)
    assert TERMINAL[endpoint] in events[-1].data
    assert finish(endpoint, encode(events[:-1])) is None
    assert finish(endpoint, encode(events[:-1]) + b"\n\n: trailing comment\n\n") is None


def test_chat_done_without_a_finish_reason_is_refused(sim: SimHandle) -> None:
    _, data = call(sim, CHAT, stream=True)
    events = [e for e in parse(data) if b'"finish_reason":"stop"' not in e.data]
    assert finish(CHAT, encode(events)) is None


ERRORS = {
    CHAT: Event(None, b'{"error":{"message":"The server had an error","type":"server_error"}}'),
    RESPONSES: Event("error", b'{"type":"error","code":"server_error","message":"boom","sequence_number":9}'),
    MESSAGES: Event("error", b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_error_event_anywhere_is_refused(sim: SimHandle, endpoint: str) -> None:
    _, data = call(sim, endpoint, stream=True)
    events = parse(data)
    for at in (1, len(events) // 2, len(events) - 1):
        spoiled = [*events[:at], ERRORS[endpoint], *events[at:]]
        assert finish(endpoint, encode(spoiled)) is None, at


def test_responses_failed_and_filtered_are_refused(sim: SimHandle) -> None:
    _, data = call(sim, RESPONSES, stream=True)
    events = parse(data)
    failed = orjson.loads(events[-1].data)
    failed.update(type="response.failed")
    failed["response"].update(status="failed", error={"code": "server_error", "message": "x"})
    assert finish(RESPONSES, encode([*events[:-1], Event("response.failed", orjson.dumps(failed))])) is None
    filtered = orjson.loads(events[-1].data)
    filtered.update(type="response.incomplete")
    filtered["response"].update(status="incomplete", incomplete_details={"reason": "content_filter"})
    assert finish(RESPONSES, encode([*events[:-1], Event("response.incomplete", orjson.dumps(filtered))])) is None
    assert not is_storable(RESPONSES, 200, filtered["response"])


@pytest.mark.parametrize(
    ("endpoint", "limit"),
    [(CHAT, {"max_tokens": 3}), (MESSAGES, {"max_tokens": 3}), (RESPONSES, {"max_output_tokens": 3})],
)
def test_a_max_tokens_cut_is_stored(sim: SimHandle, endpoint: str, limit: dict[str, int]) -> None:
    _, data = call(sim, endpoint, stream=True, **limit)
    recorded = finish(endpoint, data)
    assert recorded is not None
    if endpoint == CHAT:
        assert recorded.body["choices"][0]["finish_reason"] == "length"
    elif endpoint == MESSAGES:
        assert recorded.body["stop_reason"] == "max_tokens"
    else:
        assert recorded.body["status"] == "incomplete"
        assert recorded.body["incomplete_details"] == {"reason": "max_output_tokens"}
    _, plain = call(sim, endpoint, stream=False, **limit)
    assert is_storable(endpoint, 200, orjson.loads(plain))


def test_an_incomplete_response_replays_as_incomplete(sim: SimHandle) -> None:
    _, plain = call(sim, RESPONSES, stream=False, max_output_tokens=3)
    body = orjson.loads(plain)
    events = parse(b"".join(replay_stream(RESPONSES, body)))
    assert events[-1].event == "response.incomplete"
    assert orjson.loads(events[-1].data)["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert assemble(RESPONSES, events) == body


def _emptied(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    body = orjson.loads(orjson.dumps(body))
    if endpoint == CHAT:
        body["choices"][0]["message"]["content"] = ""
    elif endpoint == RESPONSES:
        body["output"][0]["content"][0]["text"] = ""
    else:
        body["content"][0]["text"] = ""
    return body


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_empty_answers_are_refused_streamed_or_not(sim: SimHandle, endpoint: str) -> None:
    _, plain = call(sim, endpoint, stream=False)
    empty = _emptied(endpoint, orjson.loads(plain))
    assert is_storable(endpoint, 200, orjson.loads(plain))
    assert not is_storable(endpoint, 200, empty)
    assert finish(endpoint, b"".join(replay_stream(endpoint, empty, include_usage=True))) is None


def test_empty_choices_and_other_bodies_are_refused() -> None:
    assert not is_storable(CHAT, 200, {"object": "chat.completion", "choices": []})
    assert not is_storable(CHAT, 200, {"choices": [{"index": 0, "message": {"role": "assistant"}}]})
    assert not is_storable(
        RESPONSES, 200, {"status": "completed", "output": [{"type": "reasoning", "summary": []}]}
    )
    assert not is_storable(MESSAGES, 200, {"type": "message", "content": [], "stop_reason": "end_turn"})
    for endpoint in ENDPOINTS:
        assert not is_storable(endpoint, 200, [])
        assert not is_storable(endpoint, 200, {})


def _with_stop(endpoint: str, body: dict[str, Any], reason: str) -> dict[str, Any]:
    if endpoint == CHAT:
        return {**body, "choices": [{**body["choices"][0], "finish_reason": reason}]}
    return {**body, "stop_reason": reason}


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        (CHAT, "content_filter"),
        (CHAT, "weird"),
        (MESSAGES, "refusal"),
        (MESSAGES, "pause_turn"),
        (MESSAGES, "model_context_window_exceeded"),
    ],
)
def test_cut_and_refusal_stop_reasons_are_refused(sim: SimHandle, endpoint: str, reason: str) -> None:
    _, plain = call(sim, endpoint, stream=False)
    body = _with_stop(endpoint, orjson.loads(plain), reason)
    assert not is_storable(endpoint, 200, body)
    assert finish(endpoint, b"".join(replay_stream(endpoint, body, include_usage=True))) is None


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_error_answers_are_refused(sim: SimHandle, endpoint: str) -> None:
    body = {k: v for k, v in PLAIN[endpoint].items() if k != "model"}  # the sim answers 400
    key = "sk-gates-" + uuid.uuid4().hex[:12]
    resp = request(
        "POST",
        sim.url + PATHS[endpoint],
        json=body,
        headers={"authorization": f"Bearer {key}", "x-api-key": key},
    )
    assert resp.status == 400
    assert not is_storable(endpoint, 400, resp.json())
    _, plain = call(sim, endpoint, stream=False)
    good = orjson.loads(plain)
    assert is_storable(endpoint, 200, good)
    for status in (400, 429, 500, 529, 304):
        assert not is_storable(endpoint, status, good)
    assert not is_storable(endpoint, 200, resp.json())  # an error body behind a 200


def test_a_stream_over_max_bytes_is_dropped(sim: SimHandle) -> None:
    _, data = call(sim, CHAT, stream=True)
    assert finish(CHAT, data, max_bytes=len(data)) is not None
    recorder = StreamRecorder(CHAT, max_bytes=len(data) - 1)
    for i in range(0, len(data), 50):
        recorder.feed(data[i : i + 50])
    assert recorder.overflowed
    assert recorder.finish() is None


def test_chat_assembles_several_choices_and_reasoning_content() -> None:
    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> Event:
        choice = {"index": index, "delta": delta, "finish_reason": finish}
        return Event(
            None,
            orjson.dumps(
                {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "deepseek",
                    "choices": [choice],
                }
            ),
        )

    events = [
        chunk(0, {"role": "assistant", "content": ""}),
        chunk(1, {"role": "assistant", "content": ""}),
        chunk(0, {"reasoning_content": "Let me "}),
        chunk(0, {"reasoning_content": "think."}),
        chunk(1, {"content": "B"}),
        chunk(0, {"content": "A"}),
        chunk(1, {}, "stop"),
        chunk(0, {}, "length"),
        Event(None, DONE),
    ]
    body = assemble(CHAT, events)
    assert body is not None
    first, second = body["choices"]
    assert first["message"]["content"] == "A" and first["message"]["reasoning_content"] == "Let me think."
    assert first["finish_reason"] == "length" and second["message"]["content"] == "B"
    assert assemble(CHAT, replay_events(CHAT, body)) == body
    assert assemble(CHAT, events[:-2] + events[-1:]) is None  # choice 0 never finished


def test_unknown_endpoint_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown streaming endpoint"):
        StreamRecorder("embeddings", 10)


# -- the hit marker on plain bodies, as the official SDKs parse them --------------------------------


def _client_for(body: dict[str, Any]) -> httpx2.Client:
    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "application/json"}, content=orjson.dumps(body))

    return httpx2.Client(transport=httpx2.MockTransport(handler))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_marked_bodies_parse_in_the_sdks_with_usage_untouched(sim: SimHandle, endpoint: str) -> None:
    _, plain = call(sim, endpoint, stream=False)
    original = orjson.loads(plain)
    marked = mark_cache_hit(endpoint, original, cached_at=1_700_000_000.7)
    assert marked["warmgate"] == {"cache": "hit", "provider_cost": 0, "cached_at": 1_700_000_000}
    assert marked["usage"] == original["usage"] and "warmgate" not in original
    assert is_storable(endpoint, 200, marked)
    with _client_for(marked) as http:
        if endpoint == MESSAGES:
            with anthropic.Anthropic(api_key="k", base_url="http://cache", http_client=http) as ac:
                msg = ac.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
            parsed: Any = msg
            assert msg.usage.output_tokens == original["usage"]["output_tokens"]
        else:
            with openai.OpenAI(api_key="k", base_url="http://cache/v1", http_client=http) as oc:
                if endpoint == CHAT:
                    parsed = oc.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": "x"}]
                    )
                    assert parsed.usage is not None
                    assert parsed.usage.completion_tokens == original["usage"]["completion_tokens"]
                else:
                    parsed = oc.responses.create(model="m", input="x")
                    assert parsed.output_text and parsed.usage is not None
                    assert parsed.usage.output_tokens == original["usage"]["output_tokens"]
    assert parsed.model_extra is not None
    assert parsed.model_extra["warmgate"]["provider_cost"] == 0
