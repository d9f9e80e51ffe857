"""Calling the provider over an account pool.

1. Choose the account: with `routing.strategy: affinity`, by the request's affinity key (a binding
   written after an earlier success, else rendezvous hashing of the key with a bounded-load guard,
   so every gateway instance agrees without shared state); otherwise round robin, random or least
   loaded. A request without any key (or too short to be cached by the provider) is spread by load.
2. Send; on a 429, a 5xx, a timeout or a connection failure try the key's next account before the
   client hears of it. The failing account cools down (a 429's `retry-after` is honoured).
3. After a success: bind the conversation to the account that served it (first writer wins; on
   failover the binding moves), and bind the ids a later request may name (the response's own
   `id`, the `x-warmgate-request-id`, stored responses, videos, files) to that account. These
   writes finish before the reply goes back (bounded by the bindings' own timeout, 50 ms for
   Redis), so a request sent after the reply arrived sees them, on any instance.
   Return only if cheaper: a binding pins a conversation only while the bound account's prompt
   cache for it can be warm. Once the binding has been idle for the provider's `cache_ttl` (the
   bindings report idle time), staying saves nothing, and the conversation is placed again like a
   new one: its first choice (home) when healthy and within the load bound, which restores the
   placement every instance computes without shared state. So after a failover it stays on the
   account it warmed while it keeps talking, and goes home after its first pause beyond the TTL.
4. Count provider prompt-cache use (cached prompt tokens) per account and model.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson

from warmgate.config import Config, RoutingConfig
from warmgate.dialects.usage import Usage, read_stream_usage, read_usage, usage_payloads
from warmgate.errors import BadRequest, GatewayError, UpstreamTimeout, UpstreamUnavailable
from warmgate.exchange import Reply, Request
from warmgate.metrics import Metrics
from warmgate.routing.affinity import (
    AffinityKey,
    affinity_keys,
    id_binding_key,
    id_binding_ttl,
    response_ids,
    shared_prefix_hash,
)
from warmgate.routing.bindings import Bindings, MemoryBindings
from warmgate.routing.models import Resolved
from warmgate.routing.placement import place, rendezvous_order
from warmgate.routing.pool import AccountState, Pool
from warmgate.upstream.client import Upstream, UpstreamFailure
from warmgate.upstream.headers import request_headers, response_headers

log = logging.getLogger("warmgate.routing")

RETRYABLE = frozenset({429, 500, 502, 503, 504, 520, 522, 524, 529})
USAGE_ENDPOINTS = frozenset({"chat.completions", "responses", "messages"})


class Router:
    def __init__(self, config: Config, upstream: Upstream, bindings: Bindings, metrics: Metrics,
                 clock: Callable[[], float] = time.monotonic):
        self.upstream = upstream
        self.cfg: RoutingConfig = config.routing
        self.bindings = bindings
        self.metrics = metrics
        self.pools = {p.name: Pool(p, clock=clock) for p in config.providers}
        self._local_bindings = isinstance(bindings, MemoryBindings)  # writes never wait on I/O

    async def call(self, req: Request, resolved: Resolved, body: bytes) -> Reply:
        """The provider's reply (success, or its own error when every tried account failed);
        raises UpstreamUnavailable / UpstreamTimeout when no account answered at all."""
        provider = resolved.provider
        pool = self.pools[provider.name]
        headers = request_headers(req.headers)
        headers.extend(provider.headers.items())
        if provider.api == "anthropic" and not any(k == "anthropic-version" for k, _ in headers):
            headers.append(("anthropic-version", "2023-06-01"))
        tail = req.path[3:] + ("?" + req.query.decode("latin-1") if req.query else "")
        send_body = body if req.method not in ("GET", "HEAD") or body else None

        scope = f"{provider.name}|{req.tenant}"
        choice = await self._choose(req, pool, scope) if self.cfg.strategy == "affinity" else None
        tried: list[AccountState] = []
        last_reply: Reply | None = None
        last_failure: UpstreamFailure | None = None
        while len(tried) < provider.retry_attempts:
            acct = choice.next(pool, tried) if choice is not None else pool.pick(tried, self.cfg.strategy)
            if acct is None:
                break
            tried.append(acct)
            if choice is not None:
                pool.started(acct, choice.binding_key)
            try:
                reply = await self._attempt(req, acct, tail, [*headers, acct.auth_header], send_body)
            except UpstreamFailure as f:
                self.metrics.upstream.inc((provider.name, acct.name, "timeout" if f.timeout else "unreachable"))
                pool.cool_down(acct, provider.cooldowns.unreachable)
                last_failure = f
                continue
            if reply.status in RETRYABLE:
                self.metrics.upstream.inc((provider.name, acct.name, str(reply.status)))
                cooldowns = provider.cooldowns
                if reply.status == 429:
                    pool.cool_down(acct, reply.retry_after if reply.retry_after is not None else cooldowns.rate_limited)
                else:
                    pool.cool_down(acct, cooldowns.server_error)
                last_reply = reply
                continue
            self.metrics.upstream.inc((provider.name, acct.name, "ok" if reply.status < 400 else str(reply.status)))
            if reply.status < 400:
                await self._after_success(req, reply, acct, scope, choice)
            if choice is not None:
                reply.affinity = choice.key.kind
            return reply
        if last_reply is not None:  # the provider's own error, unchanged
            return last_reply
        raise _failure_error(last_failure, len(tried))

    async def _choose(self, req: Request, pool: Pool, scope: str) -> Choice | None:
        """The affinity choice for a request: its key, the account bound to it, and the key's order."""
        keys = affinity_keys(req.path, req.headers, req.json, min_prefix_tokens=self.cfg.min_prefix_tokens)
        stored = req.json.get("previous_response_id") if req.json is not None else None
        if isinstance(stored, str) and stored:
            # A stored response exists only on the account that created it: that outranks any
            # conversation binding (which may have moved on failover since).
            keys = itertools.chain([AffinityKey("stored_response", stored)], keys)
        for key in keys:
            binding_key = key.binding_key(scope)
            found = await self.bindings.get(binding_key)
            if key.pointer and found is None:
                continue  # an id nobody bound here: the next key decides
            bound = found.account if found is not None else None
            if bound is not None and pool.account(bound) is None:
                if key.kind == "stored_response":
                    raise BadRequest(
                        f"the response {key.value!r} was stored by account {bound!r}, which is no longer in the pool",
                        param="previous_response_id", code="previous_response_not_found",
                    )
                bound = None
            prefer = bound
            if found is not None and bound is not None and not key.pointer and found.idle >= pool.provider.cache_ttl:
                # Return only if cheaper: its cache where it is bound is cold by now, so placing it
                # again (home first) costs nothing and restores the placement all instances share.
                prefer = None
            placement = binding_key
            if prefer is None and req.json is not None:
                # Placed now: by the system prompt it shares with other conversations, if that part is
                # long enough to be cached, so they meet where it is warm (the binding keeps it there).
                shared = shared_prefix_hash(req.path, req.json, min_prefix_tokens=self.cfg.min_prefix_tokens)
                if shared is not None:
                    placement = f"{scope}|shared|{shared}"
            order = rendezvous_order(placement, pool.weights)
            return Choice(key, binding_key, prefer, bound, order, self.cfg.load_bound)
        return None

    async def _after_success(
        self, req: Request, reply: Reply, acct: AccountState, scope: str, choice: Choice | None
    ) -> None:
        endpoint = req.endpoint.name
        affinity = self.cfg.strategy == "affinity"
        parsed: Any = None
        if reply.stream is None and reply.body[:1] == b"{" and (affinity or endpoint in USAGE_ENDPOINTS):
            try:
                parsed = reply.json = orjson.loads(reply.body)
            except orjson.JSONDecodeError:
                parsed = None
        writes: list[Awaitable[Any]] = []
        if isinstance(parsed, dict):
            if endpoint in USAGE_ENDPOINTS:
                reply.usage = read_usage(endpoint, parsed)
                self._count(acct, req, reply.usage)
            if affinity:
                ids = response_ids(req.path, parsed)
                if ids:
                    ttl = id_binding_ttl(req.path, req.json, self.cfg)
                    writes += [self.bindings.set(id_binding_key(scope, i), acct.name, ttl) for i in ids]
        if not affinity:
            return
        writes.append(self.bindings.set(id_binding_key(scope, req.request_id), acct.name, self.cfg.response_binding_ttl))
        # Prefix keys are bound too: after a failover the conversation stays on the account whose
        # cache it has just warmed, instead of going back (cold) once its first choice recovers.
        if choice is not None and not choice.key.pointer:
            if choice.held is not None and choice.held != acct.name:
                writes.append(self.bindings.move(choice.binding_key, choice.held, acct.name, self.cfg.binding_ttl))
            else:
                writes.append(self.bindings.set(choice.binding_key, acct.name, self.cfg.binding_ttl))
        await self._write(writes)

    def _count(self, acct: AccountState, req: Request, usage: Usage) -> None:
        if usage.prompt:
            labels = (acct.provider.name, acct.name, req.facts.model or "")
            self.metrics.provider_prompt_tokens.inc(labels, usage.prompt)
            self.metrics.provider_cached_tokens.inc(labels, usage.cached)
            if usage.cache_write:
                self.metrics.provider_cache_write_tokens.inc(labels, usage.cache_write)

    async def _write(self, writes: list[Awaitable[Any]]) -> None:
        """Every binding write of a success, done before the reply goes back: the next request of
        the conversation (on this instance or another sharing Redis) must see them. Bindings never
        raise and bound each call (Redis: 50 ms), so this costs at most one round trip."""
        if self._local_bindings or len(writes) == 1:
            for w in writes:
                await w
        else:
            await asyncio.gather(*writes)

    async def _attempt(
        self, req: Request, acct: AccountState, tail: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> Reply:
        """One call to one account. The account counts as in flight until the reply's body is read:
        here for whole bodies, by the `StreamBody` for streams."""
        acct.in_flight += 1
        handed_off = False
        try:
            sent = time.perf_counter()
            resp = await self.upstream.send(req.method, acct.base_url + tail, headers, body, acct.timeouts)
            upstream_s = time.perf_counter() - sent
            self.metrics.upstream_latency.observe((acct.provider.name, acct.name), upstream_s)
            out_headers = response_headers(resp.raw_headers)
            # Streams, and passthrough bodies that are not JSON (audio, file contents), are relayed
            # chunk by chunk; JSON answers are read whole (usage, ids to bind, the cache).
            streaming = resp.content_type == "text/event-stream" or (
                not req.endpoint.known and resp.content_type != "application/json"
            )
            if streaming and resp.status < 400:
                handed_off = True
                on_end = None
                if req.endpoint.name in USAGE_ENDPOINTS and resp.content_type == "text/event-stream":

                    def on_end(head: bytes, tail: bytes) -> None:
                        # a short stream is all in `tail`; a long one is read at both ends
                        payloads = (usage_payloads(tail) if len(tail) < _TAIL_BYTES
                                    else usage_payloads(head) + usage_payloads(tail))
                        streamed.usage = read_stream_usage(req.endpoint.name, payloads)
                        self._count(acct, req, streamed.usage)

                streamed = Reply(resp.status, out_headers, stream=StreamBody(resp, acct, on_end), account=acct.name,
                                 upstream_s=upstream_s)
                return streamed
            try:
                data = await resp.read()
            except (TimeoutError, aiohttp.ClientError) as e:
                raise UpstreamFailure(
                    f"the provider's answer broke off: {type(e).__name__}", timeout=isinstance(e, TimeoutError)
                ) from e
            finally:
                resp.release()
            return Reply(resp.status, out_headers, body=data, account=acct.name, retry_after=_retry_after(resp),
                         upstream_s=upstream_s)
        finally:
            if not handed_off:
                acct.in_flight -= 1

    def ready(self) -> bool:
        return all(pool.usable() for pool in self.pools.values())


class Choice:
    """Where an affinity key sends a request: its preferred bound account first (while healthy),
    then the key's rendezvous order under the load bound. `held` is the account the binding names
    (for the compare-and-set when the conversation moves), `bound` the one to prefer: None when
    unbound, or when the conversation returns to placement (see the module docstring)."""

    __slots__ = ("binding_key", "bound", "held", "key", "load_bound", "order")

    def __init__(self, key: AffinityKey, binding_key: str, bound: str | None, held: str | None, order: list[str],
                 load_bound: float):
        self.key = key
        self.binding_key = binding_key
        self.bound = bound
        self.held = held
        self.order = order
        self.load_bound = load_bound

    def next(self, pool: Pool, tried: list[AccountState]) -> AccountState | None:
        tried_names = {a.name for a in tried}
        if self.bound is not None and self.bound not in tried_names:
            acct = pool.account(self.bound)
            if acct is not None and pool.healthy(acct):
                return acct
        order = [n for n in self.order if n not in tried_names]
        name = place(order, pool.loads(), lambda n: pool.healthy(pool.account(n)), self.load_bound, weights=pool.weight_map)
        if name is None and order:
            name = order[0]  # every remaining account is cooling down: still try the key's next choice
        return pool.account(name) if name is not None else None


class StreamBody:
    """The provider's body, chunk by chunk as it arrives. `aclose` (always called by the edge,
    also when the client left early) closes the upstream call and ends the account's in-flight count.

    It keeps the stream's first and last few KB, and when the stream ends cleanly hands them to
    `on_end` (the router reads the usage there: no parsing of the whole stream)."""

    __slots__ = ("_acct", "_chunks", "_closed", "_head", "_on_end", "_resp", "_tail", "_tail_bytes")

    def __init__(
        self, resp: aiohttp.ClientResponse, acct: AccountState, on_end: Callable[[bytes, bytes], None] | None = None
    ):
        self._resp = resp
        self._acct = acct
        self._chunks = resp.content.iter_any()
        self._closed = False
        self._on_end = on_end
        self._head = b""
        self._tail: collections.deque[bytes] = collections.deque()  # the last chunks, _TAIL_BYTES or a little more
        self._tail_bytes = 0

    def __aiter__(self) -> StreamBody:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            if self._on_end is not None:
                on_end, self._on_end = self._on_end, None
                on_end(self._head, b"".join(self._tail)[-_TAIL_BYTES:])
            raise
        except (TimeoutError, aiohttp.ClientError) as e:
            raise UpstreamFailure(
                f"the provider's stream broke off: {type(e).__name__}", timeout=isinstance(e, TimeoutError)
            ) from e
        if self._on_end is not None:
            if len(self._head) < _HEAD_BYTES:
                self._head += chunk[: _HEAD_BYTES - len(self._head)]
            tail = self._tail
            tail.append(chunk)
            self._tail_bytes += len(chunk)
            while self._tail_bytes - len(tail[0]) >= _TAIL_BYTES:  # no copying of the kept bytes per chunk
                self._tail_bytes -= len(tail.popleft())
        return chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._resp.close()
            self._acct.in_flight -= 1


_HEAD_BYTES = 4096
_TAIL_BYTES = 32768


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    """Seconds the provider asked us to wait: `retry-after-ms` (OpenAI), else `retry-after`
    (seconds or an HTTP date), else None."""
    ms = resp.headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = resp.headers.get("retry-after")
    if value is not None:
        try:
            return float(value)
        except ValueError:
            try:
                return parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                pass
    return None


def _failure_error(failure: UpstreamFailure | None, tried: int) -> GatewayError:
    if failure is None:
        return UpstreamUnavailable("no account of the provider is available")
    where = f" (tried {tried} account{'s' if tried != 1 else ''})"
    if failure.timeout:
        return UpstreamTimeout(str(failure) + where)
    return UpstreamUnavailable(str(failure) + where)
