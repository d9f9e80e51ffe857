"""Added latency of the semantic lookup on an exact miss, in-process, vs semantic off in the same run.

    python bench/semantic/lookup.py                      # 100 000 cached entries, 400 misses each way
    python bench/semantic/lookup.py --entries 10000 --requests 200

Both sides run the gateway's real cache code (`CacheFlow.handle`: controls, policy, exact key, exact
lookup in the memory store, then, with semantic on, the plan, the offline embedder on the last user
turn, the search of the partition in the in-process index, the store and the index add) for chat
requests whose text was never seen (exact misses). The "provider" is a local function that answers at
once, so the difference between the two sides is what semantic lookup adds to a miss. Besides wall
time, the CPU time of the process per request (all threads, so the embedder's thread too) is paired
the same way: on a machine whose cores other jobs keep busy, wall time includes waiting for a core,
and the CPU time is the steadier measure of what the lookup itself costs.

The index holds `--entries` items: the same number of fake entries spread over `--partitions`
partitions plus, in the requests' own partition, `--hot` items (the worst case: one big partition that
the search has to walk). Their vectors are random unit vectors (embedding 100 000 real texts takes
minutes); the queries are real embeddings of real text, and ANN search cost does not depend on
whether the stored vectors came from text.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from typing import Any

import numpy as np
import orjson

from warmgate.cache.flow import CacheFlow
from warmgate.cache.semantic import SemanticCache
from warmgate.cache.service import ResponseCache
from warmgate.config import CacheConfig, SemanticConfig
from warmgate.dialects import endpoint_for
from warmgate.embeddings.config import OfflineEmbedderConfig
from warmgate.embeddings.factory import build_embedder
from warmgate.exchange import Reply, Request
from warmgate.metrics import Metrics
from warmgate.stores.memory import MemoryStore
from warmgate.vectors.config import VectorIndexConfig
from warmgate.vectors.factory import build_index

MODEL = "gpt-bench"
EP = endpoint_for("POST", "/v1/chat/completions")
ANSWER = orjson.dumps({
    "id": "chatcmpl-b", "object": "chat.completion", "created": 0, "model": MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
})
WORDS = ["deploy", "service", "cluster", "config", "error", "timeout", "python", "list", "reverse", "sort", "merge", "file", "read", "write", "network", "database", "index", "query", "cache", "token", "user", "request", "response", "stream", "model", "prompt", "budget", "plan", "report"]


def text(i: int) -> str:
    """A ~50-token question, different for every i."""
    w = [WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(20)]
    return f"Question {i}: how should I handle the {' '.join(w)} when the system is under load and why?"


def request(i: int) -> Request:
    body = {"model": MODEL, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text(i)}]}
    return Request("POST", "/v1/chat/completions", b"", [], b"", body, EP, EP.facts(body), "bench", f"r{i}")


async def forward(body: dict[str, Any]) -> Reply:
    return Reply(200, [], body=ANSWER)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def run(args: argparse.Namespace) -> None:
    metrics = Metrics()
    store = MemoryStore(1 << 30)
    cache = ResponseCache(store, "memory", metrics, now=store)
    cache_cfg = CacheConfig(enabled=True, ttl=3600)
    sem_cfg = SemanticConfig(mode="semantic", timeout=5.0)
    embedder = build_embedder(OfflineEmbedderConfig())
    index = build_index(VectorIndexConfig(), embedder.dimensions)
    semantic = SemanticCache(sem_cfg, embedder, index, cache, metrics)
    off = CacheFlow(cache_cfg, cache, metrics)
    on = CacheFlow(cache_cfg, cache, metrics, semantic)

    # the requests' own partition: plan one request to learn it
    probe = request(-1)
    prep = on.prepare(probe, MODEL, MODEL)
    plan = semantic.plan(endpoint=EP.name, model=MODEL, resolved_model=MODEL, body=probe.json or {},
                         policy=prep.policy, headers=[], tenant="bench")
    assert plan is not None
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    expires = time.time() + 86400
    hot = min(args.hot, args.entries)
    cold = args.entries - hot
    for i in range(args.entries):
        v = rng.standard_normal(embedder.dimensions).astype(np.float32)
        v /= np.linalg.norm(v)
        part = plan.partition if i < hot else f"p{i % max(1, args.partitions)}"
        await index.add(part, f"t.bench||fake{i:08d}", v, "filler", expires)
    wait_built = getattr(index, "wait_built", None)  # the memory index builds big partitions' graphs on a thread
    if wait_built is not None:
        await wait_built()
    print(f"index filled: {hot} items in the requests' partition, {cold} in {args.partitions} others "
          f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    for i in range(20):  # warm up both paths (embedder session, caches)
        await on.handle(request(10**7 + i), MODEL, MODEL, forward)
        await off.handle(request(2 * 10**7 + i), MODEL, MODEL, forward)
    await semantic.drain()

    t_off: list[float] = []
    t_on: list[float] = []
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    gc.collect()
    for i in range(args.requests):  # interleaved, so both sides see the same machine load
        for flow, times, base, side in ((off, t_off, 3 * 10**7, "off"), (on, t_on, 4 * 10**7, "on")):
            req = request(base + i)
            t0, c0 = time.perf_counter(), time.process_time()
            reply = await flow.handle(req, MODEL, MODEL, forward)
            times.append((time.perf_counter() - t0) * 1000)
            cpu[side].append((time.process_time() - c0) * 1000)  # all threads: the embedder's too
            assert dict(reply.headers)[b"x-warmgate-cache"] == b"MISS"
        await semantic.drain()  # the index add runs after the reply; not on the measured path
    t_embed: list[float] = []
    t_search: list[float] = []
    for i in range(min(args.requests, 200)):  # the two parts of the added latency, alone
        t0 = time.perf_counter()
        vec = (await embedder.embed([text(5 * 10**7 + i)]))[0]
        t1 = time.perf_counter()
        await index.search(plan.partition, vec, sem_cfg.candidates, time.time())
        t_embed.append((t1 - t0) * 1000)
        t_search.append((time.perf_counter() - t1) * 1000)
    await semantic.close()

    cmd = "python bench/semantic/lookup.py " + " ".join(sys.argv[1:])
    print(f"$ {cmd.strip()}")
    print(f"{args.entries} index entries ({hot} in the requests' partition), {args.requests} exact misses each way, "
          "chat request of ~50 tokens, 1 process")
    print("| path | p50 ms | p95 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    for name, xs in (("semantic off", t_off), ("semantic on", t_on)):
        print(f"| {name} | {pct(xs, .5):.2f} | {pct(xs, .95):.2f} | {pct(xs, .99):.2f} | {statistics.fmean(xs):.2f} |")
    added = [a - b for a, b in zip(t_on, t_off, strict=True)]
    print(f"| added (paired on - off) | {pct(added, .5):.2f} | {pct(added, .95):.2f} | {pct(added, .99):.2f} "
          f"| {statistics.fmean(added):.2f} |")
    for name, xs in (("of which: embedding alone", t_embed), (f"of which: search of the {hot}-item partition", t_search)):
        print(f"| {name} | {pct(xs, .5):.2f} | {pct(xs, .95):.2f} | {pct(xs, .99):.2f} | {statistics.fmean(xs):.2f} |")
    added_cpu = [a - b for a, b in zip(cpu["on"], cpu["off"], strict=True)]
    print(f"| added CPU time of the process (paired on - off; waiting for a core not counted) | {pct(added_cpu, .5):.2f} "
          f"| {pct(added_cpu, .95):.2f} | {pct(added_cpu, .99):.2f} | {statistics.fmean(added_cpu):.2f} |")
    with open("/proc/loadavg") as f:
        print(f"load average during the run: {f.read().split()[0]} (2 cores)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--hot", type=int, default=50_000, help="of them, items in the requests' own partition")
    ap.add_argument("--partitions", type=int, default=1000, help="partitions the other items are spread over")
    ap.add_argument("--requests", type=int, default=400)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
