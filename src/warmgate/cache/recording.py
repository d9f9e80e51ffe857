"""A provider's answer on its way into the cache: the judges of what may be stored, the hit
marker spliced into a stored body, and the stream wrapper that records a streamed answer as it is
forwarded (`CacheFlow` decides when; this is how)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from warmgate.cache.entry import HIT_MARK_TAIL
from warmgate.cache.replay import STORABLE, StreamRecorder, hit_marker, mark_cache_hit
from warmgate.exchange import BodyStream

STREAMED = frozenset({"chat.completions", "responses", "messages"})
"""The endpoints whose answers may be streamed (recorded, and replayed as streams)."""

HIT_MARK = {"warmgate": hit_marker()}


class RecordingStream:
    """Forwards a provider stream chunk by chunk while recording it; `done(recorded | None)` is
    called once: with the recording when the stream ended cleanly, with None when it was cut."""

    __slots__ = ("_done", "_finished", "_inner", "_it", "_recorder")

    def __init__(self, inner: BodyStream, recorder: StreamRecorder, done: Callable[[Any], None]):
        self._inner = inner
        self._it = inner.__aiter__()
        self._recorder = recorder
        self._done = done
        self._finished = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._it.__anext__()
        except StopAsyncIteration:
            self._finish(self._recorder.finish())
            raise
        self._recorder.feed(chunk)
        return chunk

    def _finish(self, recorded: Any) -> None:
        if not self._finished:
            self._finished = True
            self._done(recorded)

    async def aclose(self) -> None:
        self._finish(None)  # no-op when it already ended cleanly
        await self._inner.aclose()


def marked(endpoint: str, body: dict[str, Any], encoded: bytes | None = None) -> bytes:
    """The bytes of answer `body` marked as a cache hit: the marker spliced into `encoded` (its bytes
    as the provider sent them) as the last member, the same JSON as `{**body, **HIT_MARK}` at a
    fraction of the cost; `body` encoded again when that cannot be done safely."""
    if (encoded is not None and body and "warmgate" not in body
            and (encoded[-1:] == b"}" or (encoded := encoded.rstrip())[-1:] == b"}")):  # (whitespace after it)
        return encoded[:-1] + HIT_MARK_TAIL
    return orjson.dumps(mark_cache_hit(endpoint, body) if endpoint in STREAMED else {**body, **HIT_MARK})


def _embeddings_storable(body: dict[str, Any]) -> bool:
    data = body.get("data")
    return isinstance(data, list) and len(data) > 0


# endpoint -> whether a 2xx answer's parsed body may be stored (`cache.replay.is_storable`)
JUDGES: dict[str, Callable[[dict[str, Any]], bool]] = {**STORABLE, "embeddings": _embeddings_storable}


def storable(endpoint: str, status: int, body: dict[str, Any]) -> bool:
    judge = JUDGES.get(endpoint)
    return judge is not None and 200 <= status < 300 and judge(body)
