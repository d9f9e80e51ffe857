"""Streamed chat completions always carry usage upstream; clients that did not ask never see the
usage chunk (dialects/chat_usage.py), and a recorded stream can then answer a client that does ask."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Clients
from tests.http import request
from tests.servers import Gateway, Sim
from tests.test_cache_e2e import ADMIN, cache_config, uid, upstream_calls
from warmgate.dialects.chat_usage import (
    UsageChunkFilter,
    _drop_usage_events,
    _is_usage_chunk,
    ask_for_usage,
    wants_usage,
)
from warmgate.sse import parse as parse_sse


def _event(doc: dict[str, Any], sep: bytes = b"\n\n") -> bytes:
    return b"data: " + orjson.dumps(doc) + sep


CHUNK = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None}
USAGE = {"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


class Chunks:
    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[bytes]:
        for c in self.chunks:
            yield c

    async def aclose(self) -> None:
        self.closed = True


def drain(chunks: list[bytes]) -> bytes:
    async def run() -> bytes:
        inner = Chunks(chunks)
        f = UsageChunkFilter(inner)
        out = b"".join([c async for c in f])
        await f.aclose()
        assert inner.closed
        return out

    return asyncio.run(run())


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n"])
def test_the_usage_chunk_is_removed_wherever_the_stream_is_cut(sep: bytes) -> None:
    stream = _event(CHUNK, sep) + _event(CHUNK, sep) + _event(USAGE, sep) + b"data: [DONE]" + sep
    expected = _event(CHUNK, sep) * 2 + b"data: [DONE]" + sep
    for cut in range(1, len(stream)):
        assert drain([stream[:cut], stream[cut:]]) == expected, cut
    assert drain([stream]) == expected
    assert drain([bytes([b]) for b in stream]) == expected


def test_a_stream_without_a_usage_chunk_passes_unchanged() -> None:
    odd = {"choices": [], "note": "not usage"}  # empty choices but no usage: not the usage chunk
    stream = b": comment\n\n" + _event(CHUNK) + _event(odd) + b"data: [DONE]\n\n"
    assert drain([stream[:7], stream[7:]]) == stream
    assert drain([b"data: {\"unterminated"]) == b"data: {\"unterminated"  # the tail is flushed at the end


def test_ask_for_usage_splices_or_encodes() -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    encoded = orjson.dumps(body) + b"\n"
    asked, data = ask_for_usage(body, encoded)
    assert orjson.loads(data) == asked == {**body, "stream_options": {"include_usage": True}}
    with_opts = {**body, "stream_options": {"include_obfuscation": False}}
    asked, data = ask_for_usage(with_opts, orjson.dumps(with_opts))
    assert orjson.loads(data)["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert wants_usage(asked) and not wants_usage(body)


@pytest.fixture(scope="module")
def ugw(sim: Sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = Gateway(tmp_path_factory.mktemp("usage"), cache_config(sim.url))
    yield gw
    gw.stop()


def _provider_tokens(gw: Gateway) -> float:
    text = request("GET", gw.url + "/metrics", headers={"x-api-key": ADMIN}).ok().body.decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("warmgate_provider_prompt_tokens_total{") and 'account="' in line)


def test_a_stream_without_include_usage_is_counted_and_can_replay_usage(ugw: Gateway, clean_sim: Sim, sdk: Clients) -> None:
    client = sdk.openai(ugw.url)
    msgs = [{"role": "user", "content": uid()}]
    before = _provider_tokens(ugw)
    first = list(client.chat.completions.create(model="gpt-sim", messages=msgs, stream=True))  # type: ignore[arg-type]
    assert first and all(c.choices for c in first)  # no usage chunk for a client that did not ask
    assert all(c.usage is None for c in first)
    assert _provider_tokens(ugw) > before  # but the gateway read the usage
    again = list(client.chat.completions.create(model="gpt-sim", messages=msgs, stream=True,  # type: ignore[arg-type]
                                                stream_options={"include_usage": True}))
    assert upstream_calls(clean_sim) == 1  # a hit, replayed from the recording ...
    usage = [c.usage for c in again if not c.choices]
    assert len(usage) == 1 and usage[0] is not None and usage[0].prompt_tokens > 0  # ... with the usage chunk
    plain = client.chat.completions.create(model="gpt-sim", messages=msgs)  # type: ignore[arg-type]
    assert plain.usage is not None and plain.usage.completion_tokens == usage[0].completion_tokens


_SPLIT = re.compile(rb"(\r\n\r\n|\n\n|\r\r)")


def _drop_by_splitting(data: bytes) -> bytes:
    """The usage events dropped by splitting every event (the filter's first way: the reference)."""
    parts = _SPLIT.split(data)
    kept = []
    for i in range(0, len(parts), 2):
        event, sep = parts[i], parts[i + 1] if i + 1 < len(parts) else b""
        if not (b'"choices":[]' in event and _is_usage_chunk(event)):
            kept.append(event + sep)
    return b"".join(kept)


NOT_USAGE = {"choices": [], "note": "empty choices, no usage"}


@settings(max_examples=300, deadline=None)
@given(
    docs=st.lists(st.sampled_from([CHUNK, USAGE, NOT_USAGE, None]), max_size=10),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    blank=st.booleans(),
)
def test_usage_events_are_found_without_splitting_every_event(docs: list[Any], eol: bytes, blank: bool) -> None:
    events = [b"data: [DONE]" + eol + eol if d is None else b"data: " + orjson.dumps(d) + eol + eol for d in docs]
    data = (eol if blank else b"").join(events)  # `blank`: an extra blank line between events
    dropped = _drop_usage_events(data)
    # the events a client sees: all but the usage chunks, in order
    assert parse_sse(dropped) == [e for e in parse_sse(data) if e.data != orjson.dumps(USAGE)]
    if not blank:  # byte for byte what splitting gives (which, with a bare \r blank line before an
        assert dropped == _drop_by_splitting(data)  # event, missed its usage chunk)
