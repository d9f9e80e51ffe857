"""The semantic cache: on an exact miss, find a cached answer to a request that means the same.

    plan (pure: threshold, partition, text)  ->  embed the last user turn  ->  search the partition
      ->  for each candidate above the threshold, best first: guard (lexical)  ->  fetch the answer
          from the response store by its exact key  ->  the first fresh one is served as SEMANTIC

and after a miss's answer is stored under its exact key, `remember` adds the turn's vector to the
index with the entry's expiry (re-using the vector the lookup computed).

Failure is never an error: an embedder or index that fails or exceeds `semantic.timeout` makes the
request a plain miss (counted in `warmgate_semantic_errors_total`). An index item whose answer is
gone from the response store (purged, evicted) is a miss too; it leaves the index when it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from warmgate.cache.policy import CachePolicy, Layer
from warmgate.cache.semantic_guard import refusal
from warmgate.cache.semantic_partition import has_tool_calls, is_deterministic, semantic_request
from warmgate.cache.semantic_policy import semantic_threshold
from warmgate.cache.service import Found, ResponseCache
from warmgate.config import SemanticConfig
from warmgate.embeddings.base import Embedder, EmbeddingUnavailable
from warmgate.metrics import Metrics
from warmgate.vectors.base import VectorIndex, VectorIndexError

if TYPE_CHECKING:
    from warmgate.embeddings.base import Matrix

log = logging.getLogger("warmgate.cache")

SEMANTIC_ENDPOINTS = frozenset({"chat.completions", "responses", "messages"})


class Plan:
    """One request's semantic lookup: where to look, what to compare, how strictly."""

    __slots__ = ("labels", "partition", "text", "threshold", "vector")

    def __init__(self, partition: str, text: str, threshold: float, labels: tuple[str, str]):
        self.partition = partition
        self.text = text
        self.threshold = threshold
        self.labels = labels
        self.vector: Any = None  # the embedded text once the lookup computed it (a float32 row)


class SemanticHit(NamedTuple):
    found: Found
    key: str  # the exact key of the entry served
    score: float


class Candidate(NamedTuple):
    """What a lookup saw for one index item (for the evaluation tool)."""

    key: str
    score: float
    text: str
    refused: str | None  # the guard's reason, or None
    served: bool


class Trace(NamedTuple):
    candidates: list[Candidate]
    hit: SemanticHit | None
    failed: bool  # the embedder or the index failed or timed out


class SemanticCache:
    def __init__(
        self, cfg: SemanticConfig, embedder: Embedder, index: VectorIndex, cache: ResponseCache, metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ):
        self.cfg = cfg
        self.embedder = embedder
        self.index = index
        self.cache = cache
        self.metrics = metrics
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def plan(
        self, *, endpoint: str, model: str, resolved_model: str, body: Mapping[str, Any], policy: CachePolicy,
        headers: Sequence[tuple[bytes, bytes]], tenant: str, layer: Layer | None = None,
    ) -> Plan | None:
        """The semantic side of a request, or None when it is not looked up or stored by meaning.
        Raises BadRequest for a malformed threshold header."""
        if endpoint not in SEMANTIC_ENDPOINTS or not policy.enabled or policy.custom_key is not None:
            return None
        threshold = semantic_threshold(self.cfg, model, headers, layer)
        if threshold is None:
            return None
        if self.cfg.nondeterministic == "skip" and not is_deterministic(endpoint, body):
            return None
        sem = semantic_request(
            scope=policy.scope, namespace=policy.namespace, endpoint=endpoint, model=resolved_model, body=body,
            embedder=self.embedder.name, max_chars=self.cfg.max_text_chars,
        )
        if sem is None:
            return None
        return Plan(sem.partition, sem.text, threshold, (tenant, model))

    async def lookup(self, plan: Plan, policy: CachePolicy) -> SemanticHit | None:
        """The best fresh candidate that passes the threshold and the guard, or None."""
        trace = await self.trace(plan, policy)
        if not trace.failed:
            self.metrics.semantic.inc((*plan.labels, "hit" if trace.hit is not None else "miss"))
        return trace.hit

    async def trace(self, plan: Plan, policy: CachePolicy, stop_at_hit: bool = True) -> Trace:
        """The lookup, with every candidate it considered, best first, and the guard's verdicts
        (`lookup` is this; the evaluation tool reads the whole trace)."""
        now = self._clock()
        try:
            async with asyncio.timeout(self.cfg.timeout):
                if plan.vector is None:
                    plan.vector = (await self.embedder.embed([plan.text]))[0]
                matches = await self.index.search(plan.partition, plan.vector, self.cfg.candidates, now)
        except (EmbeddingUnavailable, VectorIndexError, TimeoutError) as e:
            self._failed("embed" if plan.vector is None else "index", plan, e)
            return Trace([], None, True)
        out: list[Candidate] = []
        hit: SemanticHit | None = None
        for m in matches:
            if m.score < plan.threshold:
                out.append(Candidate(m.item_id, m.score, m.text, None, False))
                continue
            reason = refusal(plan.text, m.text) if self.cfg.guard else None
            if reason is not None:
                self.metrics.semantic_refusals.inc((reason,))
                out.append(Candidate(m.item_id, m.score, m.text, reason, False))
                continue
            if hit is not None:
                out.append(Candidate(m.item_id, m.score, m.text, None, False))
                continue
            found = await self.cache.lookup(m.item_id, policy)
            served = found is not None and found.state == "hit"
            out.append(Candidate(m.item_id, m.score, m.text, None, served))
            if found is not None and served:
                hit = SemanticHit(found, m.item_id, m.score)
                if stop_at_hit:
                    break
        return Trace(out, hit, False)

    def _failed(self, stage: str, plan: Plan, e: BaseException) -> None:
        self.metrics.semantic_errors.inc((stage,))
        self.metrics.semantic.inc((*plan.labels, "unavailable"))
        log.debug("semantic lookup skipped (%s): %s", stage, e)

    def accepts(self, endpoint: str, answer: Mapping[str, Any]) -> bool:
        """Whether a stored answer may later be served by meaning (the `tool_calls` policy)."""
        return self.cfg.tool_calls == "serve" or not has_tool_calls(endpoint, answer)

    async def remember(self, plan: Plan, key: str, policy: CachePolicy) -> None:
        """Add the stored answer's key to the index under the plan's partition, expiring with the entry."""
        expires_at = self._clock() + policy.ttl
        try:
            async with asyncio.timeout(max(self.cfg.timeout, 1.0)):
                if plan.vector is None:
                    vectors: Matrix = await self.embedder.embed([plan.text])
                    plan.vector = vectors[0]
                await self.index.add(plan.partition, key, plan.vector, plan.text, expires_at)
        except (EmbeddingUnavailable, VectorIndexError, TimeoutError) as e:
            self.metrics.semantic_errors.inc(("add",))
            log.debug("semantic index add skipped: %s", e)
            return
        self.metrics.semantic_stores.inc(plan.labels)

    async def purge(self, prefix: str) -> int:
        """Drop the index items whose key starts with `prefix` (a purge of the response store)."""
        try:
            return await self.index.delete_prefix(prefix)
        except VectorIndexError as e:
            self.metrics.semantic_errors.inc(("purge",))
            log.warning("semantic index purge of %r failed (its answers are gone anyway): %s", prefix, e)
            return 0

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def remember_later(self, plan: Plan, key: str, policy: CachePolicy) -> None:
        """`remember` in a task (the reply does not wait for the index)."""
        self._spawn(self.remember(plan, key, policy))

    def start(self, sweep_every: float = 60.0) -> None:
        """Start the periodic sweep of expired index items."""
        async def sweeper() -> None:
            while True:
                await asyncio.sleep(sweep_every)
                try:
                    await self.index.sweep(self._clock())
                except VectorIndexError as e:
                    self.metrics.semantic_errors.inc(("sweep",))
                    log.warning("semantic index sweep failed: %s", e)

        self._sweeper = asyncio.ensure_future(sweeper())

    async def drain(self, timeout: float = 5.0) -> None:
        """Let pending index adds finish (at shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.drain()
        await self.index.close()
        await self.embedder.close()
