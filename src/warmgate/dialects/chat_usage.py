"""Usage for every streamed chat completion, also when the client did not ask for it. Pure.

OpenAI sends a streamed chat completion's usage only when the request says
`stream_options: {"include_usage": true}`: then one extra chunk with `"choices": []` and the usage
comes just before `data: [DONE]` (and every other chunk carries `"usage": null`). Without it the
gateway could neither count the tokens (metrics, cost) nor replay a recorded stream with a usage
chunk to a later client that asks for one. So the gateway asks for it upstream (`ask_for_usage`)
and takes the extra chunk out of the stream for the client that did not ask (`UsageChunkFilter`),
which then sees what it asked for, plus `"usage": null` in chunks (a field the SDKs already know).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from warmgate.sse import event_data

if TYPE_CHECKING:
    from warmgate.exchange import BodyStream

_ASK = b',"stream_options":{"include_usage":true}}'
_EMPTY_CHOICES = b'"choices":[]'
_EVENT_END = re.compile(rb"(\r\n\r\n|\n\n|\r\r)")
_HOLD_MAX = 1 << 20  # bytes held back waiting for an event's end before giving up filtering


def wants_usage(body: dict[str, Any]) -> bool:
    """Whether a chat request asked for the usage chunk itself."""
    opts = body.get("stream_options")
    return isinstance(opts, dict) and opts.get("include_usage") is True


def ask_for_usage(body: dict[str, Any], encoded: bytes | None) -> tuple[dict[str, Any], bytes]:
    """`body` (a streamed chat request that did not ask for usage) and its bytes, asking for it.
    `encoded` are the client's bytes of `body` when unchanged: the option is spliced in then,
    rather than the whole (often large) body encoded again."""
    opts = body.get("stream_options")
    asked = {**body, "stream_options": {**(opts if isinstance(opts, dict) else {}), "include_usage": True}}
    if encoded is not None and "stream_options" not in body:
        end = encoded.rstrip()
        if end.endswith(b"}") and len(body) > 0:
            return asked, end[:-1] + _ASK
    return asked, orjson.dumps(asked)


class UsageChunkFilter:
    """The client's view of a stream the gateway asked usage for: the same bytes, minus the usage
    chunk (an event whose JSON has `"choices": []`). Events are passed on as soon as they are
    complete; a chunk that ends inside an event holds that event's start until its end arrives."""

    __slots__ = ("_inner", "_it", "_pending")

    def __init__(self, inner: BodyStream):
        self._inner = inner
        self._it = inner.__aiter__()
        self._pending = b""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        while True:
            try:
                chunk = await self._it.__anext__()
            except StopAsyncIteration:
                if self._pending:
                    rest, self._pending = self._pending, b""
                    return rest
                raise
            data = self._pending + chunk if self._pending else chunk
            end = _last_event_end(data)
            if end == 0 and len(data) < _HOLD_MAX:
                self._pending = data
                continue
            whole, self._pending = (data[:end], data[end:]) if end else (data, b"")
            whole = _drop_usage_events(whole)
            if whole:
                return whole

    async def aclose(self) -> None:
        await self._inner.aclose()


def _last_event_end(data: bytes) -> int:
    """The offset just after the last complete event in `data` (0 = none is complete)."""
    lf = data.rfind(b"\n\n")
    end = lf + 2 if lf >= 0 else 0
    if b"\r" in data:  # (streams with \n line ends, the common case, need one search)
        cr, crlf = data.rfind(b"\r\r"), data.rfind(b"\r\n\r\n")
        end = max(end, cr + 2 if cr >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
    return end


def _drop_usage_events(data: bytes) -> bytes:
    """`data` (whole events) without the events that are a usage chunk. Only the events that say
    `"choices":[]` are looked at, found with bytes searches rather than by splitting every event."""
    kept: list[bytes] = []
    copied = 0  # data[copied:] is not in `kept` yet
    at = data.find(_EMPTY_CHOICES)
    while at >= 0:
        begin = _event_start(data, at)
        sep = _EVENT_END.search(data, at)
        end = sep.end() if sep is not None else len(data)
        if _is_usage_chunk(data[begin:end]):
            kept.append(data[copied:begin])
            copied = end
        at = data.find(_EMPTY_CHOICES, end)
    if not kept:
        return data
    kept.append(data[copied:])
    return b"".join(kept)


def _event_start(data: bytes, at: int) -> int:
    """The offset where the event holding `data[at]` starts: just after the blank line before it."""
    lf = data.rfind(b"\n\n", 0, at)
    start = lf + 2 if lf >= 0 else 0
    if b"\r" in data:  # (the other two blank lines can only end after the last "\n\n")
        cr, crlf = data.rfind(b"\r\r", start, at), data.rfind(b"\r\n\r\n", start, at)
        start = max(start, cr + 2 if cr >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
    return start


def _is_usage_chunk(event: bytes) -> bool:
    """Whether `event` (whole) is a usage chunk as a client's SSE parser reads it."""
    for payload in event_data(event):
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        return isinstance(doc, dict) and doc.get("choices") == [] and "usage" in doc
    return False
