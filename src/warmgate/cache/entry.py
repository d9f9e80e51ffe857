"""A cached answer and its byte encoding in a store. Pure.

Layout: a fixed header (magic, version, status, upstream latency, tokens, lengths) followed by the
body and the recorded SSE bytes; version 2 adds the original's usage (prompt, cached, cache write,
cache write 1h, completion) after the header, for the cost a hit saves. Version 1 entries still
decode (their usage is all prompt tokens: `tokens`). The body is the one served on a hit, already marked as a cache
hit at store time, so a hit costs no JSON work. Version 3 (`encode_timed(marked=False)`, the memory
store's stored misses) has the same layout but keeps the body as the provider sent it, a JSON object
ending in `}`: `decode` splices the hit marker in as its last member (`HIT_MARK_TAIL`), once per
entry (the response cache memoises decoded memory entries), rather than every stored miss copying it.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import orjson

from warmgate.cache.replay import hit_marker
from warmgate.dialects.usage import Usage

_HEADER = struct.Struct("<4sHdIIi")  # magic+version, status, upstream_ms, tokens, body len, events len (-1 = none)
_USAGE = struct.Struct("<IIIII")  # prompt, cached, cache_write, cache_write_1h, completion
_HEAD_AND_USAGE = struct.Struct(_HEADER.format + _USAGE.format[1:])
_MAGIC_V1 = b"WGC1"
_MAGIC = b"WGC2"
_MAGIC_UNMARKED = b"WGC3"  # v2's layout, the body not yet marked as a hit

HIT_MARK_TAIL = b',"warmgate":' + orjson.dumps(hit_marker()) + b"}"
"""What turns a JSON object's closing `}` into the hit marker as its last member: the same JSON as
`{**body, "warmgate": hit_marker()}` when `"warmgate"` is not a member yet."""


class CorruptEntry(ValueError):
    """Bytes in the store that are not a cached answer of this version (dropped and treated as a miss)."""


class CachedAnswer(NamedTuple):
    """Immutable; a NamedTuple because one is built on every hit (a third of a frozen dataclass's cost)."""

    status: int
    body: bytes  # the JSON body for a non-streamed request (hit-marked)
    events: bytes | None  # the recorded SSE stream, when the answer was streamed
    upstream_ms: float  # how long the original request waited for the provider (from the whole request read)
    tokens: int  # prompt + completion tokens of the original (tokens saved per hit)
    usage: Usage = Usage()  # the original's usage (the cost a hit saves)


def encode(answer: CachedAnswer) -> bytes:
    status, body, events, upstream_ms, tokens, u = answer
    prompt, cached, write, completion, write_1h = u
    head = _HEAD_AND_USAGE.pack(_MAGIC, status, upstream_ms, tokens, len(body), -1 if events is None else len(events),
                                prompt, cached, write, write_1h, completion)
    return head + body if events is None else b"".join((head, body, events))


_TIMED = struct.Struct("<ddd" + _HEAD_AND_USAGE.format[1:])


def encode_timed(
    stored_at: float, expires_at: float, stale_until: float,
    status: int, body: bytes, events: bytes | None, upstream_ms: float, tokens: int, u: Usage, marked: bool = True,
) -> bytes:
    """`encode` of an answer given by its parts, with an entry's three times in front: the memory
    store's packed entry (`stores.memory.pack(stored_at, expires_at, stale_until, encode(answer))`,
    the same bytes). One struct call and one copy: every stored miss comes this way, and pays for
    each call on it (a separate `pack` of the times, a `CachedAnswer` to encode, `*args`).
    `marked=False`: `body` is the provider's JSON object, ending in `}` and without a `"warmgate"`
    member, to be marked as a hit when decoded (version 3)."""
    prompt, cached, write, completion, write_1h = u
    head = _TIMED.pack(stored_at, expires_at, stale_until, _MAGIC if marked else _MAGIC_UNMARKED, status,
                       upstream_ms, tokens, len(body),
                       -1 if events is None else len(events), prompt, cached, write, write_1h, completion)
    return head + body if events is None else b"".join((head, body, events))


def decode(data: bytes) -> CachedAnswer:
    if len(data) < _HEADER.size:
        raise CorruptEntry("too short")
    magic, status, upstream_ms, tokens, body_len, events_len = _HEADER.unpack_from(data)
    start = _HEADER.size
    if magic in (_MAGIC, _MAGIC_UNMARKED):
        if len(data) < start + _USAGE.size:
            raise CorruptEntry("too short")
        prompt, cached, write, write_1h, completion = _USAGE.unpack_from(data, start)
        usage = Usage(prompt, cached, write, completion, write_1h)
        start += _USAGE.size
    elif magic == _MAGIC_V1:
        usage = Usage(tokens)
    else:
        raise CorruptEntry("unknown entry format")
    body = data[start : start + body_len]
    events = None if events_len < 0 else data[start + body_len : start + body_len + events_len]
    if len(body) != body_len or (events is not None and len(events) != events_len):
        raise CorruptEntry("truncated")
    if magic == _MAGIC_UNMARKED:
        if body[-1:] != b"}":
            raise CorruptEntry("an unmarked body that is not a JSON object")
        body = body[:-1] + HIT_MARK_TAIL
    return CachedAnswer(status, body, events, upstream_ms, tokens, usage)
