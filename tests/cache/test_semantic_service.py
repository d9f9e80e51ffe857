"""The semantic cache in-process, with the real offline embedder, the in-process index and the
memory store: policies (tool calls, sampling), the guard's verdicts in metrics, and a failing
embedder (a remote one pointed at a closed port) degrading to a plain miss."""

from __future__ import annotations

from typing import Any

from tests.conftest import require_module

from warmgate.cache.entry import CachedAnswer
from warmgate.cache.keys import cache_key
from warmgate.cache.policy import CachePolicy
from warmgate.cache.semantic import SemanticCache
from warmgate.cache.service import ResponseCache
from warmgate.config import SemanticConfig
from warmgate.embeddings.config import OfflineEmbedderConfig, RemoteEmbedderConfig
from warmgate.embeddings.factory import build_embedder
from warmgate.metrics import Metrics
from warmgate.stores.memory import MemoryStore
from warmgate.vectors.config import VectorIndexConfig
from warmgate.vectors.factory import build_index

require_module("onnxruntime", "the offline embedder needs the `semantic` extra")

POLICY = CachePolicy(True, True, True, 600.0, 0.0, 1, "t.acme", "", None)
ANSWER = CachedAnswer(200, b'{"choices": []}', None, 1.0, 0)


def body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
            **extra}


def semantic(embedder_cfg: Any = None, **cfg: Any) -> tuple[SemanticCache, Metrics]:
    metrics = Metrics()
    store = MemoryStore(1 << 24)
    cache = ResponseCache(store, "memory", metrics, now=store)
    embedder = build_embedder(embedder_cfg or OfflineEmbedderConfig())
    index = build_index(VectorIndexConfig(), embedder.dimensions)
    sem_cfg = SemanticConfig.model_validate({"mode": "semantic", "timeout": 10.0, **cfg})
    return SemanticCache(sem_cfg, embedder, index, cache, metrics), metrics


async def remember(sem: SemanticCache, text: str, **extra: Any) -> str:
    b = body(text, **extra)
    key = cache_key(scope="t.acme", namespace="", endpoint="chat.completions", model="m", body=b)
    await sem.cache.save(key, POLICY, ANSWER)
    plan = sem.plan(endpoint="chat.completions", model="m", resolved_model="m", body=b, policy=POLICY, headers=[],
                    tenant="acme")
    assert plan is not None
    await sem.remember(plan, key, POLICY)
    return key


async def look(sem: SemanticCache, text: str, **extra: Any) -> Any:
    plan = sem.plan(endpoint="chat.completions", model="m", resolved_model="m", body=body(text, **extra),
                    policy=POLICY, headers=[], tenant="acme")
    return None if plan is None else await sem.lookup(plan, POLICY)


async def test_paraphrase_hits_and_the_guard_counts_its_refusals() -> None:
    sem, metrics = semantic()
    try:
        key = await remember(sem, "How do I reverse a list in Python?")
        hit = await look(sem, "How can I reverse a list in Python?")
        assert hit is not None and hit.key == key and 0.85 <= hit.score <= 1.0
        assert await look(sem, "How do I reverse a list in Python without a loop?") is None
        assert metrics.semantic_refusals.get(("negation",)) == 1
        assert metrics.semantic.get(("acme", "m", "hit")) == 1 and metrics.semantic.get(("acme", "m", "miss")) == 1
        assert await look(sem, "How can I reverse a list in Python?", temperature=0.5) is None  # another partition
    finally:
        await sem.close()


async def test_policies_for_tool_calls_and_sampling() -> None:
    sem, _ = semantic(nondeterministic="skip")
    try:
        tool_answer = {"choices": [{"message": {"tool_calls": [{"id": "c"}]}, "finish_reason": "tool_calls"}]}
        assert not sem.accepts("chat.completions", tool_answer)
        assert sem.accepts("chat.completions", {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]})
        assert sem.plan(endpoint="chat.completions", model="m", resolved_model="m", body=body("q"), policy=POLICY,
                        headers=[], tenant="acme") is None  # default temperature 1: sampled, skipped
        assert sem.plan(endpoint="chat.completions", model="m", resolved_model="m", body=body("q", temperature=0),
                        policy=POLICY, headers=[], tenant="acme") is not None
    finally:
        await sem.close()
    serving, _ = semantic(tool_calls="serve")
    try:
        assert serving.accepts("chat.completions", tool_answer)
    finally:
        await serving.close()


async def test_a_failing_embedder_is_a_plain_miss() -> None:
    down = RemoteEmbedderConfig(kind="remote", model="x", base_url="http://127.0.0.1:9/v1", dimensions=384, timeout=2)
    sem, metrics = semantic(down)
    try:
        assert await look(sem, "How do I reverse a list in Python?") is None
        assert metrics.semantic.get(("acme", "m", "unavailable")) == 1
        assert metrics.semantic_errors.get(("embed",)) == 1
    finally:
        await sem.close()
