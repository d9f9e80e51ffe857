"""A cached answer and its byte encoding in a store. Pure.

Layout: a fixed header (magic, version, status, upstream latency, tokens, lengths) followed by the
body and the recorded SSE bytes. The body is the one served on a hit, already marked as a cache
hit at store time, so a hit costs no JSON work.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

_HEADER = struct.Struct("<4sHdIIi")  # magic+version, status, upstream_ms, tokens, body len, events len (-1 = none)
_MAGIC = b"WGC1"


class CorruptEntry(ValueError):
    """Bytes in the store that are not a cached answer of this version (dropped and treated as a miss)."""


class CachedAnswer(NamedTuple):
    """Immutable; a NamedTuple because one is built on every hit (a third of a frozen dataclass's cost)."""

    status: int
    body: bytes  # the JSON body for a non-streamed request (hit-marked)
    events: bytes | None  # the recorded SSE stream, when the answer was streamed
    upstream_ms: float  # how long the provider took for the original
    tokens: int  # prompt + completion tokens of the original (tokens saved per hit)


def encode(answer: CachedAnswer) -> bytes:
    events = answer.events
    head = _HEADER.pack(_MAGIC, answer.status, answer.upstream_ms, answer.tokens, len(answer.body),
                        -1 if events is None else len(events))
    return head + answer.body + (events or b"")


def decode(data: bytes) -> CachedAnswer:
    if len(data) < _HEADER.size:
        raise CorruptEntry("too short")
    magic, status, upstream_ms, tokens, body_len, events_len = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise CorruptEntry("unknown entry format")
    start = _HEADER.size
    body = data[start : start + body_len]
    events = None if events_len < 0 else data[start + body_len : start + body_len + events_len]
    if len(body) != body_len or (events is not None and len(events) != events_len):
        raise CorruptEntry("truncated")
    return CachedAnswer(status, body, events, upstream_ms, tokens)
