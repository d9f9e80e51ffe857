"""A request as the edge hands it to the pipeline, and the reply that goes back. Plain data."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from warmgate.config import DEFAULT_GATEWAY
from warmgate.dialects import Endpoint, Facts


class BodyStream(Protocol):
    """A reply body produced chunk by chunk; the edge drains it and always calls `aclose`."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class Request:
    """A request the edge has authenticated, read and parsed."""

    method: str
    path: str  # starts with /v1/ (for /g/<gateway>/v1/... the gateway prefix is removed)
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    json: dict[str, Any] | None
    endpoint: Endpoint
    facts: Facts
    tenant: str
    request_id: str
    cache_prep: Any = None  # the cache layer's work on this request (`cache.flow.Prepared`), done once
    # time.perf_counter() when the edge had the whole request (gateway latency; a cached answer's upstream_ms)
    started: float = field(default_factory=time.perf_counter)
    gateway: str = DEFAULT_GATEWAY  # the gateway whose route it came in on


@dataclass(slots=True)
class Reply:
    """What goes back to the client: a whole body, or a stream the edge must drain or `aclose`."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    stream: BodyStream | None = None
    account: str | None = None
    retry_after: float | None = None  # a 429's retry-after, in seconds
    json: Any = None  # the body parsed once (by the router), for whoever needs it next
    usage: Any = None  # its `dialects.usage.Usage`, when the router read it
    # What observability reads once the reply is out (see `observe/`):
    cache: str | None = None  # hit | stale | miss | bypass; None when the cache did not apply
    hit_kind: str | None = None  # on a hit: exact | coalesced (a later feature adds semantic)
    saved: Any = None  # on a hit: the `cache.entry.CachedAnswer` served (its original usage and latency)
    model: str | None = None  # the model the provider bills (the resolved upstream name)
    upstream_s: float | None = None  # seconds to the provider's response head (the attempt that answered)
    affinity: str | None = None  # the kind of affinity key that chose the account (never its value)
