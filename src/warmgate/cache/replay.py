"""Streamed answers in the response cache: record, assemble, judge, replay and mark (pure, no I/O).

Three endpoints, one module each (``replay_chat``, ``replay_responses``, ``replay_messages``):

- ``StreamRecorder`` tees a forwarded stream (``feed`` only appends bytes); ``finish()`` parses it
  and returns a ``Recorded`` (the events, for faithful replay, and the assembled JSON body: what the
  same request without ``stream`` returns) only when the stream completed cleanly, has real output,
  passes ``is_storable`` and fits in ``max_bytes``.
- ``is_storable`` judges a non-streamed answer (and an assembled one) by the same rules: 2xx, no
  error, real output, and a stop reason that is not a cut. Kept: chat ``length`` and messages
  ``max_tokens`` (the limit is part of the key, so the same request stops at the same place); never
  kept: ``content_filter``, refusals, ``pause_turn``, responses that are not ``completed``, empty
  answers (whitespace-only text counts as output; only the empty string does not).
- ``replay_stream`` turns a cached answer into the SSE bytes for a streamed request: the recorded
  events when there are some, else a stream synthesized from the body.
- ``mark_cache_hit`` adds the hit marker (see ``hit_marker``) to a body served from cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from warmgate.cache import replay_chat, replay_messages, replay_responses
from warmgate.cache.replay_common import JSON
from warmgate.sse import Event, encode, encode_event, parse

CHAT: Final = "chat.completions"
RESPONSES: Final = "responses"
MESSAGES: Final = "messages"
ENDPOINTS: Final = (CHAT, RESPONSES, MESSAGES)
MARKER_KEY: Final = "warmgate"


def _check(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown streaming endpoint {endpoint!r} (expected one of {', '.join(ENDPOINTS)})")


@dataclass(frozen=True, slots=True)
class Recorded:
    """A clean recorded stream: its events as received (SSE comments dropped) and the assembled body.
    ``raw`` is the events as wire bytes, the compact form to store."""

    endpoint: str
    events: tuple[Event, ...]
    body: JSON
    size: int  # bytes received

    @property
    def raw(self) -> bytes:
        return encode(self.events)


def assemble(endpoint: str, events: Sequence[Event]) -> JSON | None:
    """The JSON body a stream amounts to, or None when the stream did not complete cleanly."""
    _check(endpoint)
    if endpoint == CHAT:
        return replay_chat.assemble(events)
    if endpoint == RESPONSES:
        return replay_responses.assemble(events)
    return replay_messages.assemble(events)


STORABLE: Final[Mapping[str, Callable[[JSON], bool]]] = {
    CHAT: replay_chat.storable, RESPONSES: replay_responses.storable, MESSAGES: replay_messages.storable
}
"""Per endpoint: whether a 2xx answer's body may be stored (`is_storable` without the status)."""


def is_storable(endpoint: str, status: int, body: Any) -> bool:
    """Whether a (non-streamed or assembled) answer may be stored: see the module docstring."""
    judge = STORABLE.get(endpoint)
    if judge is None:
        _check(endpoint)
    return 200 <= status < 300 and isinstance(body, dict) and judge(body)  # type: ignore[misc]


class StreamRecorder:
    """Tees one upstream stream. ``feed`` is O(1) per chunk (append and count); all parsing happens in
    ``finish``. Past ``max_bytes`` the recording is dropped at once and ``finish`` returns None."""

    __slots__ = ("_chunks", "_size", "endpoint", "max_bytes")

    def __init__(self, endpoint: str, max_bytes: int) -> None:
        _check(endpoint)
        self.endpoint = endpoint
        self.max_bytes = max_bytes
        self._chunks: list[bytes] | None = []
        self._size = 0

    @property
    def overflowed(self) -> bool:
        """True once the stream outgrew ``max_bytes`` (or after ``finish``)."""
        return self._chunks is None

    def feed(self, chunk: bytes) -> None:
        if self._chunks is None:
            return
        self._size += len(chunk)
        if self._size > self.max_bytes:
            self._chunks = None
        else:
            self._chunks.append(chunk)

    def finish(self) -> Recorded | None:
        """The recording if the stream completed cleanly with storable output, else None. Call once."""
        chunks, self._chunks = self._chunks, None
        if chunks is None:
            return None
        events = parse(b"".join(chunks))
        body = assemble(self.endpoint, events)
        if body is None or not is_storable(self.endpoint, 200, body):
            return None
        return Recorded(self.endpoint, tuple(events), body, self._size)


def hit_marker(kind: str = "hit", *, cached_at: float | None = None) -> JSON:
    """The marker of an answer served from cache: ``{"cache": kind, "provider_cost": 0}`` plus
    ``"cached_at"`` (Unix seconds, from the injected clock) when given.

    It sits under the top-level key ``"warmgate"`` of the body (``mark_cache_hit``) and not inside
    ``usage``: usage keeps the provider's original token counts untouched, so code that adds up usage
    fields (all numbers) keeps working, and the official SDKs keep unknown top-level fields as extras
    (``completion.model_extra["warmgate"]`` / ``message.warmgate``) without failing validation.
    """
    marker: JSON = {"cache": kind, "provider_cost": 0}
    if cached_at is not None:
        marker["cached_at"] = int(cached_at)
    return marker


def mark_cache_hit(
    endpoint: str, body: Mapping[str, Any], *, kind: str = "hit", cached_at: float | None = None
) -> JSON:
    """A copy of ``body`` with the hit marker under ``"warmgate"``; usage is left as it was."""
    _check(endpoint)
    return {**body, MARKER_KEY: hit_marker(kind, cached_at=cached_at)}


def replay_events(
    endpoint: str,
    body: JSON,
    *,
    raw_events: Sequence[Event] | bytes | None = None,
    include_usage: bool = False,
    marker: JSON | None = None,
) -> list[Event]:
    """The events of ``replay_stream`` before encoding."""
    _check(endpoint)
    recorded = parse(raw_events) if isinstance(raw_events, bytes) else raw_events
    events: list[Event]
    if endpoint == CHAT:
        if recorded:
            events = replay_chat.adapt_raw(recorded, body, include_usage)
        else:
            events = replay_chat.synthesize(body, include_usage)
            marker = marker if marker is not None else body.get(MARKER_KEY)
        if marker is not None:
            replay_chat.mark(events, marker)
    elif endpoint == RESPONSES:
        events = list(recorded) if recorded else replay_responses.synthesize(body)
        if marker is not None:
            replay_responses.mark(events, marker)
    else:
        events = list(recorded) if recorded else replay_messages.synthesize(body)
        if marker is not None:
            replay_messages.mark(events, marker)
    return events


def replay_stream(
    endpoint: str,
    body: JSON,
    *,
    raw_events: Sequence[Event] | bytes | None = None,
    include_usage: bool = False,
    marker: JSON | None = None,
) -> list[bytes]:
    """The SSE bytes, one item per event, for a streamed request served from cache.

    With ``raw_events`` (a ``Recorded``'s events or its ``raw`` bytes) the recorded events are sent
    again as they were; for chat, the final usage chunk is dropped or added (from ``body["usage"]``)
    to match ``include_usage``. Without them a faithful stream is synthesized from ``body``. With
    ``marker`` (``hit_marker()``) the marker is placed where the SDKs' stream accumulators keep it:
    the first chat chunk, the ``response`` of ``response.completed``, the message of
    ``message_start``. A body already marked by ``mark_cache_hit`` carries its marker into a
    synthesized stream by itself. Replaying recorded events parses at most one or two of them.
    """
    events = replay_events(endpoint, body, raw_events=raw_events, include_usage=include_usage, marker=marker)
    return [encode_event(e) for e in events]
