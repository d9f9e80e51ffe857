"""The simulator driven by the official openai and anthropic SDKs (plain, streamed, tools, reasoning)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest
from sim_helpers import http, words

from warmgate.sim import SimHandle

CLAUDE = "claude-sonnet-4-6"
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]


class Clients:
    """SDK clients bound to the simulator, one per key, all closed at teardown."""

    def __init__(self, sim: SimHandle) -> None:
        self.sim = sim
        self.opened: list[openai.OpenAI | anthropic.Anthropic] = []

    def openai(self, key: str) -> openai.OpenAI:
        client = openai.OpenAI(base_url=self.sim.url + "/v1", api_key=key, max_retries=0)
        self.opened.append(client)
        return client

    def anthropic(self, key: str) -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=self.sim.url, api_key=key, max_retries=0)
        self.opened.append(client)
        return client


@pytest.fixture
def clients(sim: SimHandle) -> Iterator[Clients]:
    made = Clients(sim)
    yield made
    for client in made.opened:
        client.close()


def test_chat_plain_and_streamed(sim: SimHandle, clients: Clients, key: str) -> None:
    client = clients.openai(key)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello there"}], max_tokens=5
    )
    assert raw.headers["x-sim-account"] and len(raw.headers["x-sim-account"]) == 8
    reply = raw.parse()
    assert reply.id.startswith("chatcmpl-")
    assert reply.choices[0].message.content.startswith("Simulated answer to: hello")  # type: ignore[union-attr]
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 5 and reply.usage.prompt_tokens == 3
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hello there"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated answer to: hello there.")
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16


def test_chat_tool_call_stream_and_reasoning(sim: SimHandle, clients: Clients, key: str) -> None:
    client = clients.openai(key)
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather?"}],
        tools=CHAT_TOOLS,
        tool_choice="required",
        stream=True,
    )
    args = ""
    finish = None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or ():
            assert call.function is not None
            args += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert json.loads(args) == {"city": "sim"} and finish == "tool_calls"
    plain = client.chat.completions.create(
        model="gpt-5",
        messages=[{"role": "user", "content": "call it [[tool]]"}],
        tools=CHAT_TOOLS,
        reasoning_effort="high",
    )
    calls = plain.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    assert plain.usage and plain.usage.completion_tokens_details
    assert plain.usage.completion_tokens_details.reasoning_tokens == 8


def test_responses_plain_stream_reasoning_and_function_call(
    sim: SimHandle, clients: Clients, key: str
) -> None:
    client = clients.openai(key)
    first = client.responses.create(model="gpt-5", input="write a haiku", instructions="be brief")
    assert first.id.startswith("resp_") and first.output_text.startswith("Simulated answer to: write a haiku")
    kinds: list[str] = []
    with client.responses.stream(
        model="gpt-5",
        input="think first",
        reasoning={"effort": "low", "summary": "auto"},
        previous_response_id=first.id,
    ) as stream:
        for event in stream:
            kinds.append(event.type)
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in kinds and "response.output_text.delta" in kinds
    assert final.output[0].type == "reasoning" and final.output_text.startswith("Simulated answer")
    assert final.usage and final.usage.output_tokens_details.reasoning_tokens == 8
    assert final.usage.input_tokens > 4  # the previous response's conversation is part of the prompt
    tool = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}]
    with client.responses.stream(model="gpt-5", input="[[tool]] now", tools=tool) as stream:  # type: ignore[arg-type]
        seen = [e.type for e in stream]
        called = stream.get_final_response()
    assert "response.function_call_arguments.delta" in seen
    item = called.output[0]
    assert item.type == "function_call" and json.loads(item.arguments) == {"city": "sim"}
    with pytest.raises(openai.BadRequestError, match="not found"):
        clients.openai(key + "-other").responses.create(
            model="gpt-5", input="x", previous_response_id=first.id
        )


def test_messages_plain_stream_thinking_and_tool_use(sim: SimHandle, clients: Clients, key: str) -> None:
    client = clients.anthropic(key)
    msg = client.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=[{"role": "user", "content": "hi claude"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    assert msg.id.startswith("msg_") and [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens == 16 + 8
    tools: Any = [{"name": "get_weather", "description": "weather", "input_schema": WEATHER_SCHEMA}]
    with client.messages.stream(
        model=CLAUDE,
        max_tokens=64,
        messages=[{"role": "user", "content": "go"}],
        tools=tools,
        tool_choice={"type": "any"},
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "message_delta" in kinds
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "thinking" and final.content[0].signature.startswith("simsig_")
    block = final.content[1]
    assert block.type == "tool_use" and block.input == {"city": "sim"}
    with client.messages.stream(model=CLAUDE, max_tokens=3, messages=[{"role": "user", "content": "x"}]) as s:
        assert s.get_final_message().stop_reason == "max_tokens"


def test_embeddings_models_count_tokens_images_videos(sim: SimHandle, clients: Clients, key: str) -> None:
    client = clients.openai(key)
    b64 = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=16)
    flt = client.embeddings.create(
        model="text-embedding-3-small", input="a", dimensions=16, encoding_format="float"
    )
    assert len(b64.data) == 2 and len(b64.data[0].embedding) == 16
    assert b64.data[0].embedding == pytest.approx(flt.data[0].embedding, rel=1e-6)
    assert b64.data[0].embedding != b64.data[1].embedding
    assert len(client.embeddings.create(model="text-embedding-3-small", input="a").data[0].embedding) == 1536
    assert "gpt-4o" in [m.id for m in client.models.list()]
    assert "claude-sonnet-4-6" in [m.id for m in clients.anthropic(key).models.list()]
    count = clients.anthropic(key).messages.count_tokens(
        model=CLAUDE, messages=[{"role": "user", "content": "one two three"}]
    )
    assert count.input_tokens == 4
    image = client.images.generate(model="gpt-image-1", prompt="a cat")
    assert image.data and image.data[0].b64_json
    video = client.post("/videos", body={"model": "sora-2", "prompt": "waves"}, cast_to=object)
    assert isinstance(video, dict) and video["id"].startswith("video_")
    polled = client.get(f"/videos/{video['id']}", cast_to=object)
    assert isinstance(polled, dict) and polled["status"] == "completed"
    with pytest.raises(openai.NotFoundError):
        clients.openai(key + "-other").get(f"/videos/{video['id']}", cast_to=object)


def _http(sim: SimHandle, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, Any, Any]:
    status, resp_headers, data = http(sim.url, method, path, body, headers)
    return status, orjson.loads(data), resp_headers


def test_errors_auth_and_echo(sim: SimHandle, clients: Clients, key: str) -> None:
    status, doc, _ = _http(sim, "POST", "/v1/chat/completions", b"{}")
    assert status == 401 and doc["error"]["code"] == "invalid_api_key"
    status, doc, _ = _http(sim, "POST", "/v1/messages?beta=true", b"{}")
    assert status == 401 and doc == {
        "type": "error",
        "error": {"type": "authentication_error", "message": doc["error"]["message"]},
    }
    status, doc, _ = _http(sim, "POST", "/v1/chat/completions", b"{nope", authorization=f"Bearer {key}")
    assert status == 400 and doc["error"]["type"] == "invalid_request_error"
    status, doc, _ = _http(sim, "POST", "/v1/messages?beta=true", b'{"max_tokens": 5}', **{"x-api-key": key})
    assert status == 400 and doc["type"] == "error" and doc["error"]["type"] == "invalid_request_error"
    status, doc, headers = _http(
        sim,
        "PUT",
        "/v1/files/abc?purpose=x",
        b"12345",
        authorization=f"Bearer {key}",
        **{"content-type": "text/plain"},
    )
    assert status == 200 and headers["x-sim-account"]
    assert doc == {
        "object": "sim.echo",
        "method": "PUT",
        "path": "/v1/files/abc",
        "query": "purpose=x",
        "body_bytes": 5,
        "content_type": "text/plain",
    }
    with pytest.raises(anthropic.BadRequestError):
        clients.anthropic(key).messages.create(
            model="", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


def test_openai_prompt_cache_per_account(sim: SimHandle, clients: Clients, key: str) -> None:
    messages: Any = [{"role": "system", "content": words(1998)}, {"role": "user", "content": "q"}]
    client = clients.openai(key)
    first = client.chat.completions.create(model="gpt-4o", messages=messages)
    second = client.responses.create(model="gpt-4o", input=messages)  # same org cache for both APIs
    third = client.chat.completions.create(model="gpt-4o", messages=messages)
    other = clients.openai(key + "-b").chat.completions.create(model="gpt-4o", messages=messages)
    assert first.usage and first.usage.prompt_tokens == 2001
    assert first.usage.prompt_tokens_details and first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage and second.usage.input_tokens_details.cached_tokens == 1920
    assert (
        third.usage
        and third.usage.prompt_tokens_details
        and third.usage.prompt_tokens_details.cached_tokens == 1920
    )
    assert (
        other.usage
        and other.usage.prompt_tokens_details
        and other.usage.prompt_tokens_details.cached_tokens == 0
    )
    small: Any = [{"role": "user", "content": words(500)}]
    client.chat.completions.create(model="gpt-4o", messages=small)
    again = client.chat.completions.create(model="gpt-4o", messages=small)
    assert (
        again.usage
        and again.usage.prompt_tokens_details
        and again.usage.prompt_tokens_details.cached_tokens == 0
    )


def test_anthropic_breakpoints_over_http(sim: SimHandle, clients: Clients, key: str) -> None:
    client = clients.anthropic(key)
    system: Any = [{"type": "text", "text": words(3000), "cache_control": {"type": "ephemeral"}}]
    turn: Any = [{"role": "user", "content": "question one"}]
    first = client.messages.create(model=CLAUDE, max_tokens=8, system=system, messages=turn)
    second = client.messages.create(model=CLAUDE, max_tokens=8, system=system, messages=turn)
    assert (first.usage.cache_creation_input_tokens, first.usage.cache_read_input_tokens) == (3000, 0)
    assert first.usage.input_tokens == 3 and first.usage.cache_creation
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == 3000
    assert (second.usage.cache_creation_input_tokens, second.usage.cache_read_input_tokens) == (0, 3000)
    with client.messages.stream(model=CLAUDE, max_tokens=8, system=system, messages=turn) as stream:
        assert stream.get_final_message().usage.cache_read_input_tokens == 3000
    other = clients.anthropic(key + "-b").messages.create(
        model=CLAUDE, max_tokens=8, system=system, messages=turn
    )
    assert other.usage.cache_read_input_tokens == 0
