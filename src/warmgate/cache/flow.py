"""The response cache on a request's way: controls -> policy -> key -> lookup (hit / stale) ->
coalesce -> forward -> record -> store, and the cache headers of the reply.

`CacheFlow.handle` wraps a `forward` callable (the router's call to the provider) so the cache knows
nothing about accounts, and the router nothing about the cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from warmgate.cache.coalesce import SingleFlight, wait
from warmgate.cache.entry import CachedAnswer
from warmgate.cache.keys import body_key, cache_key, scope_prefix
from warmgate.cache.layers import Layers
from warmgate.cache.policy import CachePolicy, effective
from warmgate.cache.recording import JUDGES, STREAMED, RecordingStream, marked, storable
from warmgate.cache.replay import StreamRecorder, replay_stream
from warmgate.cache.replay_common import load_object
from warmgate.cache.semantic import Plan, SemanticCache
from warmgate.cache.service import Found, ResponseCache
from warmgate.config import CacheConfig
from warmgate.controls import NO_DIRECTIVE, parse_controls
from warmgate.dialects.usage import read_usage
from warmgate.exchange import Reply, Request
from warmgate.metrics import Metrics
from warmgate.observe.labels import OTHER

log = logging.getLogger("warmgate.cache")

# Cache outcomes, by number: `Reply.cache` names them, `_STATUS_HEADERS` and the counts index by them.
RESULTS = ("hit", "stale", "miss", "bypass", "semantic")
HIT, STALE, MISS, BYPASS, SEMANTIC = range(5)
# A `Counts` list holds the outcomes (0-4), then the answers stored and the tokens hits saved.
STORES, TOKENS_SAVED = 5, 6
Counts = list[float]
_MAX_COUNTS = 4096  # (tenant, model) pairs counted apart; later ones count as ("other", "other")

# result -> (x-warmgate-cache, cf-aig-cache-status, helicone-cache)
_STATUS_HEADERS = tuple(
    [(b"x-warmgate-cache", xw), (b"cf-aig-cache-status", cf), (b"helicone-cache", hc)]
    for xw, cf, hc in (
        (b"HIT", b"HIT", b"HIT"),
        (b"STALE", b"HIT", b"HIT"),
        (b"MISS", b"MISS", b"MISS"),
        (b"BYPASS", b"MISS", b"MISS"),
        (b"SEMANTIC", b"HIT", b"HIT"),
    )
)
_JSON = (b"content-type", b"application/json")
_SSE = (b"content-type", b"text/event-stream; charset=utf-8")


Forward = Callable[[dict[str, Any]], Awaitable[Reply]]
_PLAIN_POLICIES = 4096


class Prepared:
    """What the cache made of one request: the body to forward, the policy, the key (None when
    caching is off for it), the counts of its (tenant, model), and `missed`: a lookup without I/O
    found nothing, and no identical request was on its way to the provider (then nothing can store
    the key before this request's task starts, and the task need not look again)."""

    __slots__ = ("body", "counts", "key", "missed", "policy")

    def __init__(self, body: dict[str, Any], policy: CachePolicy, key: str | None, counts: Counts):
        self.body = body
        self.policy = policy
        self.key = key
        self.counts = counts
        self.missed = False


class CacheFlow:
    def __init__(self, cfg: CacheConfig, cache: ResponseCache, metrics: Metrics, semantic: SemanticCache | None = None):
        self.cfg = cfg
        self.cache = cache
        self.metrics = metrics
        self.semantic = semantic  # None: exact only (nothing semantic runs)
        self.flights = SingleFlight()
        self.layers = Layers(cfg)
        self._max_entry_bytes = cfg.max_entry_bytes
        # (gateway, model, tenant) -> the policy without controls, the counts of (tenant, model) and
        # the policy's key prefix
        self._plain: dict[tuple[str, str, str], tuple[CachePolicy, Counts, str]] = {}
        # Outcomes per (tenant, model), made Prometheus counters only when scraped (`_collect`): a
        # request adds 1 to a list item instead of a `Counter.inc` (a call, a tuple, a dict update).
        self._counts: dict[tuple[str, str], Counts] = {}
        self.max_counts = _MAX_COUNTS  # pairs counted apart (model names may come from glob patterns)
        metrics.collectors.append(self._collect)
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Told of each provider call the cache makes on its own (a stale entry's refresh), so it is
        # accounted for (`observe.recorder.Observer.background_call`).
        self.on_background_call: Callable[[Request, Reply], None] | None = None

    def swap_layers(self, layers: Layers) -> None:
        """Use `layers` from the next request on (a caching configuration or gateway changed);
        the memoised plain policies were built from the old ones, so they go too."""
        self.layers = layers
        self._plain = {}

    def applies(self, req: Request) -> bool:
        return req.endpoint.cacheable and req.json is not None

    def counts(self, tenant: str, model: str) -> Counts:
        """The outcome counts of (`tenant`, `model`) (see `STORES`, `TOKENS_SAVED`)."""
        counts = self._counts.get((tenant, model))
        if counts is None:
            pair = (tenant, model) if len(self._counts) < self.max_counts else (OTHER, OTHER)
            counts = self._counts.setdefault(pair, [0.0] * 7)
        return counts

    def _collect(self) -> None:
        """Fill the Prometheus counters from the counts (called before a scrape)."""
        m = self.metrics
        for (tenant, model), c in self._counts.items():
            for i, result in enumerate(RESULTS):
                if c[i]:
                    m.cache.values[(tenant, model, result)] = c[i]
            if c[STORES]:
                m.cache_stores.values[(tenant, model)] = c[STORES]
            if c[TOKENS_SAVED]:
                m.cache_tokens_saved.values[(tenant, model)] = c[TOKENS_SAVED]

    def prepare(self, req: Request, model: str, resolved_model: str) -> Prepared:
        """Controls, policy and key of `req`, computed once (kept on the request, so the async path
        reuses what `answer_now` computed). Raises BadRequest for invalid controls."""
        prep = req.cache_prep
        if prep is not None:
            return prep  # type: ignore[no-any-return]
        body = req.json
        assert body is not None
        directive, parsed = parse_controls(req.headers, body)
        if parsed is not None:
            body = parsed
        if directive is NO_DIRECTIVE:  # the common case: the configured policy, computed once
            memo = (req.gateway, model, req.tenant)
            plain = self._plain.get(memo)
            if plain is None:
                layer = self.layers.layer(req.gateway, model)
                if len(self._plain) >= _PLAIN_POLICIES:  # model names may come from glob patterns
                    self._plain.clear()
                policy = effective(self.cfg, model, directive, req.tenant, layer)
                plain = self._plain[memo] = (policy, self.counts(req.tenant, model),
                                             scope_prefix(policy.scope, policy.namespace))
            policy, counts, prefix = plain
        else:
            policy = effective(self.cfg, model, directive, req.tenant, self.layers.layer(req.gateway, model))
            counts = self.counts(req.tenant, model)
            prefix = None
        key = None  # no exact key: caching is off, or the exact cache is (`policy.exact`, semantic-only)
        if policy.enabled and policy.exact:
            if policy.custom_key is None:
                if prefix is None:
                    prefix = scope_prefix(policy.scope, policy.namespace)
                key = body_key(prefix, req.endpoint.name, resolved_model, body)
            else:
                key = cache_key(scope=policy.scope, namespace=policy.namespace, endpoint=req.endpoint.name,
                                model=resolved_model, body=body, custom_key=policy.custom_key)
        prep = req.cache_prep = Prepared(body, policy, key, counts)
        return prep

    def answer_now(self, req: Request, model: str, resolved_model: str) -> Reply | None:
        """A fresh hit answered without I/O (memory store), or None: the request then goes the
        async way (`handle`), which looks again (without I/O) only if an identical request was in
        flight at this lookup (`Prepared.missed`)."""
        if self.cache.now is None:
            return None
        prep = self.prepare(req, model, resolved_model)
        key = prep.key
        if key is None or not prep.policy.lookup:
            return None
        found = self.cache.lookup_now(key, prep.policy)
        if found is None:
            prep.missed = key not in self.flights
            return None
        if found.state != "hit":
            return None  # stale: the async path serves it and starts the refresh
        return self._hit(req, found, key, prep.counts, prep.policy)

    async def handle(self, req: Request, model: str, resolved_model: str, forward: Forward) -> Reply:
        """Answer `req` from the cache or through `forward(body)` (the body with gateway-only fields
        such as LiteLLM's `cache` object removed), storing what is storable."""
        prep = self.prepare(req, model, resolved_model)
        body, policy, key, counts = prep.body, prep.policy, prep.key, prep.counts
        if not policy.enabled or (key is None and (self.semantic is None or policy.exact)):
            return self._tag(await forward(body), BYPASS, counts)
        if policy.lookup and key is not None and not prep.missed:
            # After a miss in `answer_now` while an identical request was in flight, look again
            # without I/O: its leader may have stored its answer since (no second call then).
            found = self.cache.lookup_now(key, policy) if self.cache.now is not None else await self.cache.lookup(key, policy)
            if found is not None:
                if found.state == "stale" and key not in self._refreshing:
                    plan = self._plan(req, model, resolved_model, body, policy)
                    self._refresh(req.endpoint.name, key, policy, body, forward, found.slot, req, resolved_model, plan)
                return self._hit(req, found, key, counts, policy)
        plan = None
        if self.semantic is not None:
            plan = self._plan(req, model, resolved_model, body, policy)
            if key is None:  # a semantic-only configuration: no exact lookup, but answers live under their exact key
                if plan is None:
                    return self._tag(await forward(body), BYPASS, counts)
                key = cache_key(scope=policy.scope, namespace=policy.namespace, endpoint=req.endpoint.name,
                                model=resolved_model, body=body)
            if plan is not None and policy.lookup:
                hit = await self.semantic.lookup(plan, policy)
                if hit is not None:
                    return self._hit(req, hit.found, hit.key, counts, policy, "semantic", hit.score)
        if not policy.store or key is None:
            return self._tag(await forward(body), MISS if policy.lookup else BYPASS, counts, key)

        leader = True
        if policy.lookup and policy.bucket_size == 1:
            waiting = self.flights.join(key)
            if waiting is not None:
                answer = await wait(waiting, self.cfg.coalesce_timeout)
                if answer is not None:
                    self.metrics.cache_coalesced.inc((req.tenant, model))
                    return self._hit(req, Found("hit", answer, 0, 0.0), key, counts, policy, "coalesced")
                leader = False  # the leader's answer was not storable or took too long: go ourselves
        try:
            reply = await forward(body)
        except BaseException:
            if leader:
                self.flights.finish(key, None)
            raise
        if reply.stream is None:
            self._record_whole(req, reply, key, policy, leader, plan, counts)
        else:
            self._record_stream(req, reply, key, policy, leader, plan, counts)
        # no-cache: fetched fresh (and stored), not looked up
        return self._tag(reply, MISS if policy.lookup else BYPASS, counts, key)

    def _plan(
        self, req: Request, model: str, resolved_model: str, body: dict[str, Any], policy: CachePolicy
    ) -> Plan | None:
        """The request's semantic lookup, or None (no semantic cache, or none for this request)."""
        if self.semantic is None:
            return None
        return self.semantic.plan(
            endpoint=req.endpoint.name, model=model, resolved_model=resolved_model, body=body, policy=policy,
            headers=req.headers, tenant=req.tenant, layer=self.layers.layer(req.gateway, model),
        )

    # -- replies ---------------------------------------------------------------------------------

    def _hit(
        self, req: Request, found: Found, key: str, counts: Counts, policy: CachePolicy, kind: str = "exact",
        similarity: float | None = None,
    ) -> Reply:
        answer = found.answer
        state = found.state if similarity is None else "semantic"
        result = HIT if state == "hit" else STALE if state == "stale" else SEMANTIC
        counts[result] += 1
        counts[TOKENS_SAVED] += answer.tokens
        if req.facts.stream and req.endpoint.name in STREAMED:
            body = orjson.loads(answer.body)
            payload = b"".join(
                replay_stream(req.endpoint.name, body, raw_events=answer.events, include_usage=_include_usage(req.json))
            )
            headers = [_SSE]
        else:
            payload, headers = answer.body, [_JSON]
        headers.extend(_STATUS_HEADERS[result])
        if similarity is not None:
            headers.append((b"x-warmgate-similarity", f"{similarity:.4f}".encode()))
        headers.append((b"age", str(int(found.age)).encode()))
        headers.append((b"x-warmgate-cache-key", key.encode()))
        if policy.bucket_size > 1:
            headers.append((b"helicone-cache-bucket-idx", str(found.slot).encode()))
        return Reply(answer.status, headers, body=payload, cache=found.state, hit_kind=kind, saved=answer)

    @staticmethod
    def _tag(reply: Reply, result: int, counts: Counts, key: str | None = None) -> Reply:
        counts[result] += 1
        reply.cache = RESULTS[result]
        headers = reply.headers
        headers.extend(_STATUS_HEADERS[result])
        if key is not None:
            headers.append((b"x-warmgate-cache-key", key.encode()))
        return reply

    # -- recording and storing -------------------------------------------------------------------

    def _record_stream(
        self, req: Request, reply: Reply, key: str, policy: CachePolicy, leader: bool, plan: Plan | None,
        counts: Counts,
    ) -> None:
        """A streamed answer: recorded as it is forwarded, stored once it ended cleanly."""
        endpoint, stream = req.endpoint.name, reply.stream
        if stream is not None and reply.status == 200 and endpoint in STREAMED:
            recorder = StreamRecorder(endpoint, self._max_entry_bytes)
            reply.stream = RecordingStream(stream, recorder,
                                           self._on_recorded(endpoint, key, policy, leader, req.started, counts, plan))
        elif leader:
            self.flights.finish(key, None)

    def _record_whole(
        self, req: Request, reply: Reply, key: str, policy: CachePolicy, leader: bool, plan: Plan | None,
        counts: Counts,
    ) -> None:
        """A whole (not streamed) answer: stored if it may be, and handed to the identical requests
        waiting for it. Every stored miss comes this way, so it is kept to few calls and steps
        (each one counts: bench/cache/README.md, "What a stored miss costs")."""
        body = reply.body
        waiting = self.flights.take(key) if leader else None  # the identical requests' future, if any
        parsed = reply.json  # parsed by the router when it read the usage
        if parsed is None and len(body) <= self._max_entry_bytes:
            parsed = load_object(body)
        judge = JUDGES.get(req.endpoint.name)
        if (judge is None or type(parsed) is not dict or not 200 <= reply.status < 300
                or len(body) > self._max_entry_bytes or not judge(parsed)):
            if waiting is not None:
                waiting.set_result(None)
            return
        usage = reply.usage
        if usage is None:  # an endpoint the router does not read the usage of (embeddings)
            usage = reply.usage = read_usage(req.endpoint.name, parsed)
        if (waiting is None and plan is None and self.cache.now is not None
                and body[-1:] == b"}" and "warmgate" not in parsed):  # (`parsed` is not empty: judged storable)
            # The common case: kept as the provider sent it, marked as a hit when first read
            # (`entry.encode_timed`, `marked=False`).
            if self.cache.store_now(key, policy, reply.status, body, None, (time.perf_counter() - req.started) * 1000.0,
                                    usage.total, usage, False) is not None:
                counts[STORES] += 1
            return
        answer = CachedAnswer(reply.status, marked(req.endpoint.name, parsed, body), None,
                              (time.perf_counter() - req.started) * 1000.0, usage.total, usage)
        if waiting is not None:
            waiting.set_result(answer)
        self._save(key, policy, answer, counts,
                   plan=None if plan is None else self._plan_for(req.endpoint.name, parsed, plan))

    def _on_recorded(
        self, endpoint: str, key: str, policy: CachePolicy, leader: bool, started: float, counts: Counts,
        plan: Plan | None,
    ) -> Callable[[Any], None]:
        """What a recorded stream calls when it ended: with the recording, or None when it was cut.
        (A method of its own: a closure's variables would cost every `_record` call their cells.)"""

        # `done` must not refer to the reply (reply -> stream -> done -> reply would be a reference
        # cycle: every stream's objects left to the garbage collector)
        def done(recorded: Any) -> None:
            answer = None
            if recorded is not None:
                answer = self._answer(endpoint, 200, recorded.body, recorded.raw, started)
            if leader:
                self.flights.finish(key, answer)
            if answer is not None:
                self._save(key, policy, answer, counts, plan=self._plan_for(endpoint, recorded.body, plan))

        return done

    def _plan_for(self, endpoint: str, body: Any, plan: Plan | None) -> Plan | None:
        """`plan` if the answer `body` may be served by meaning later (the tool-call policy), else None."""
        if plan is None or self.semantic is None or not isinstance(body, dict):
            return None
        return plan if self.semantic.accepts(endpoint, body) else None

    def _answer(self, endpoint: str, status: int, body: dict[str, Any], raw: bytes | None, started: float) -> CachedAnswer:
        """The answer to store for `body` (parsed; `raw`: the recorded stream)."""
        usage = read_usage(endpoint, body)
        return CachedAnswer(status, marked(endpoint, body), raw, (time.perf_counter() - started) * 1000.0,
                            usage.total, usage)

    def _save(
        self, key: str, policy: CachePolicy, answer: CachedAnswer, counts: Counts, index: int | None = None,
        plan: Plan | None = None,
    ) -> None:
        """Store `answer`; with a semantic `plan`, index it by meaning once it is stored."""
        if self.cache.now is not None:  # memory: stored before the reply goes out, no task
            if self.cache.save_now(key, policy, answer, index) is not None:
                counts[STORES] += 1
                if plan is not None and self.semantic is not None:
                    self.semantic.remember_later(plan, key, policy)
            return
        self._spawn(self._save_async(key, policy, answer, counts, index, plan))

    async def _save_async(
        self, key: str, policy: CachePolicy, answer: CachedAnswer, counts: Counts, index: int | None,
        plan: Plan | None,
    ) -> None:
        if await self.cache.save(key, policy, answer, index) is not None:
            counts[STORES] += 1
            if plan is not None and self.semantic is not None:
                await self.semantic.remember(plan, key, policy)

    def _refresh(
        self, endpoint: str, key: str, policy: CachePolicy, body: dict[str, Any], forward: Forward, index: int,
        req: Request | None = None, upstream_model: str | None = None, plan: Plan | None = None,
    ) -> None:
        """One background request refreshes a stale entry (never two for the same key); with a
        semantic `plan`, the refreshed answer is indexed by meaning again (until its new expiry)."""
        if key in self._refreshing:
            return
        self._refreshing.add(key)

        async def refresh() -> None:
            try:
                started = time.perf_counter()
                plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
                reply = await forward(plain)
                if reply.stream is not None:
                    await reply.stream.aclose()
                    return
                if req is not None and self.on_background_call is not None:
                    reply.model = upstream_model
                    self.on_background_call(req, reply)
                parsed = orjson.loads(reply.body) if reply.body else None
                if isinstance(parsed, dict) and storable(endpoint, reply.status, parsed):
                    answer = self._answer(endpoint, reply.status, parsed, None, started)
                    stored = await self.cache.save(key, policy, answer, index)
                    semantic_plan = self._plan_for(endpoint, parsed, plan)
                    if stored is not None and semantic_plan is not None and self.semantic is not None:
                        await self.semantic.remember(semantic_plan, key, policy)
            except Exception as e:  # a failed refresh leaves the stale entry; it expires by itself
                log.warning("background refresh of a stale cache entry failed: %s", e)
            finally:
                self._refreshing.discard(key)

        self._spawn(refresh())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = 5.0) -> None:
        """Let pending saves finish (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


def _include_usage(body: dict[str, Any] | None) -> bool:
    opts = body.get("stream_options") if body else None
    return isinstance(opts, dict) and opts.get("include_usage") is True

