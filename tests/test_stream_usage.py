"""`dialects.usage.usage_payloads`: the usage-carrying events of a stream (or of a piece of one),
found without parsing every event, are exactly those a full SSE parse finds."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from warmgate.dialects.usage import read_stream_usage, usage_payloads
from warmgate.sse import event_data
from warmgate.sse import parse as parse_sse


def says_usage(d: bytes) -> bool:
    """Whether `d` says `"usage"` other than as `"usage":null`, one occurrence at a time."""
    at = d.find(b'"usage"')
    while at >= 0:
        if not d.startswith(b":null", at + len(b'"usage"')):
            return True
        at = d.find(b'"usage"', at + 1)
    return False


def reference(data: bytes) -> list[Any]:
    """Every complete event parsed, then filtered (what the router did before)."""
    out = []
    for event in parse_sse(data):
        d = event.data
        if d[:1] == b"{" and says_usage(d):
            try:
                out.append(orjson.loads(d))
            except orjson.JSONDecodeError:
                continue
    return out


CHAT_CHUNK = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None}
CHAT_USAGE = {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
MSG_START = {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}
MSG_DELTA = {"type": "message_delta", "usage": {"output_tokens": 9}}
RESP_CREATED = {"type": "response.created", "response": {"usage": None}}
RESP_DONE = {"type": "response.completed", "response": {"usage": {"input_tokens": 4, "output_tokens": 3}}}
MENTION = {"note": 'a text that says "usage":null twice: "usage":null', "usage": None}
NULLS = {"usage": None, "response": {"usage": None}}  # said twice, null both times: no usage
DONE_NULL_FIRST = {"usage": None, "response": {"usage": {"input_tokens": 2}}}  # null, then a usage
SPACED = {"usage": None, "x": 1}  # (encoded with a space after the colon below: not the null spelling searched)
DOCS = [CHAT_CHUNK, CHAT_USAGE, MSG_START, MSG_DELTA, RESP_CREATED, RESP_DONE, MENTION, NULLS, DONE_NULL_FIRST, SPACED]


def encode(doc: Any, name: str | None, eol: bytes, split: bool) -> bytes:
    head = b"event: " + name.encode() + eol if name else b""
    data = orjson.dumps(doc)
    if doc is SPACED:
        data = data.replace(b'"usage":', b'"usage": ')
    if split:  # the payload over two data: lines (joined again with \n by the parser)
        mid = len(data) // 2
        return head + b"data: " + data[:mid] + eol + b"data:" + data[mid:] + eol + eol
    return head + b"data: " + data + eol + eol


event = st.one_of(
    st.tuples(st.sampled_from(DOCS), st.sampled_from([None, "message_start", "x"]), st.booleans()).map(
        lambda t: ("event", t)),
    st.just(("comment", None)),
    st.just(("done", None)),
)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(event, max_size=12),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bom=st.booleans(),
    cut=st.tuples(st.integers(0, 2000), st.integers(0, 2000)),
)
def test_usage_payloads_are_those_of_a_full_parse(events: list[tuple[str, Any]], eol: bytes, bom: bool,
                                                  cut: tuple[int, int]) -> None:
    parts = [b"\xef\xbb\xbf"] if bom else []
    for kind, spec in events:
        if kind == "event":
            doc, name, split = spec
            parts.append(encode(doc, name, eol, split))
        elif kind == "comment":
            parts.append(b': "usage" in a comment' + eol + eol)
        else:
            parts.append(b"data: [DONE]" + eol + eol)
    stream = b"".join(parts)
    assert usage_payloads(stream) == reference(stream)
    start, length = cut  # a window of the stream, as the router keeps its head and tail
    piece = stream[start:start + length]
    assert usage_payloads(piece) == reference(piece)


def test_a_chat_stream_with_include_usage_yields_only_the_usage_chunk() -> None:
    stream = b"".join(b"data: " + orjson.dumps(CHAT_CHUNK) + b"\n\n" for _ in range(20))
    stream += b"data: " + orjson.dumps(CHAT_USAGE) + b"\n\ndata: [DONE]\n\n"
    assert usage_payloads(stream) == [CHAT_USAGE]
    usage = read_stream_usage("chat.completions", usage_payloads(stream))
    assert (usage.prompt, usage.completion) == (7, 2)
    assert usage_payloads(stream[:-len(b"\n\ndata: [DONE]\n\n") + 1]) == []  # the usage event not closed yet


def test_an_event_over_two_data_lines_and_an_event_with_two_usages() -> None:
    two = {"usage": {"input_tokens": 1}, "response": {"usage": {"input_tokens": 2}}}
    stream = (b'data: {"usage":\ndata: {"prompt_tokens":7}}\n\n'  # one payload over two data: lines
              + b"data: " + orjson.dumps(two) + b"\n\n"  # one event saying two usages: one payload
              + b"data: [DONE]\n\n")
    assert usage_payloads(stream) == reference(stream) == [{"usage": {"prompt_tokens": 7}}, two]


line = st.one_of(
    st.builds(lambda sp, v: b"data:" + sp + v, st.sampled_from([b"", b" ", b"  "]),
              st.binary(max_size=12).filter(lambda b: b"\n" not in b and b"\r" not in b)),
    st.just(b"event: message_start"),
    st.just(b": a comment"),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(line, min_size=1, max_size=4), eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
       closed=st.booleans())
def test_event_data_is_what_the_parser_yields(lines: list[bytes], eol: bytes, closed: bool) -> None:
    event = eol.join(lines) + (eol + eol if closed else b"")
    assert event_data(event) == [e.data for e in parse_sse(eol.join(lines) + eol + eol)]
