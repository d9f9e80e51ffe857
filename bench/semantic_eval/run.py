"""Semantic-cache evaluation: labelled request pairs through the gateway's real cache code.

    python bench/semantic_eval/run.py                     # all pairs, the default threshold sweep
    python bench/semantic_eval/run.py --limit 300         # a quick look
    python bench/semantic_eval/run.py --thresholds 0.8,0.9

For each pair (data/generated.jsonl from generate.py, plus data/handwritten.jsonl), in-process:
1. request A goes through `CacheFlow.handle` (exact lookup, semantic lookup, forward, store, index),
   with the real offline embedder (all-MiniLM-L6-v2, `warmgate[semantic]`) and the in-process vector
   index; the "provider" is a local function that returns a fixed answer;
2. request B goes through `CacheFlow.handle` too, with the configured threshold at 0: when it is
   served (`x-warmgate-cache: SEMANTIC` or HIT), `x-warmgate-similarity` is the score of the best
   candidate that passed the partition and the guard, so B is served at threshold t iff that score >= t;
3. the same lookup's trace without the guard gives what the guard buys.
Each pair gets its own namespace, so pairs never see each other's entries.

Prints, per threshold: the share of paraphrases served and of traps wrongly served, with 95% Wilson
intervals, overall and by trap kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from warmgate.cache.flow import CacheFlow
from warmgate.cache.semantic import SemanticCache
from warmgate.cache.semantic_guard import refusal
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

DATA = Path(__file__).parent / "data"
MODEL = "gpt-eval"
PATHS = {"chat.completions": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
THRESHOLDS = (0.70, 0.75, 0.80, 0.82, 0.84, 0.85, 0.86, 0.88, 0.90, 0.92, 0.95)
TRAP_KINDS = ("negation", "numbers", "entities", "scope", "multi_turn", "system_prompt", "tenant",
              "antonyms", "dates", "units", "quoted")


def load(paths: Iterable[Path]) -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = []
    for path in paths:
        with path.open(encoding="utf-8") as f:
            pairs.extend(json.loads(line) for line in f if line.strip())
    return pairs


def body_for(endpoint: str, side: dict[str, Any]) -> dict[str, Any]:
    system, history, text = side["system"], side["history"], side["text"]
    turns = [{"role": role, "content": content} for role, content in history]
    if endpoint == "chat.completions":
        sys_turn = [{"role": "system", "content": system}] if system is not None else []
        return {"model": MODEL, "messages": [*sys_turn, *turns, {"role": "user", "content": text}]}
    if endpoint == "messages":
        body: dict[str, Any] = {"model": MODEL, "max_tokens": 256, "messages": [*turns, {"role": "user", "content": text}]}
        if system is not None:
            body["system"] = system
        return body
    body = {"model": MODEL, "input": [*turns, {"role": "user", "content": text}] if turns else text}
    if system is not None:
        body["instructions"] = system
    return body


def answer_for(endpoint: str, text: str) -> dict[str, Any]:
    if endpoint == "chat.completions":
        return {"id": "chatcmpl-eval", "object": "chat.completion", "created": 0, "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}
    if endpoint == "messages":
        return {"id": "msg_eval", "type": "message", "role": "assistant", "model": MODEL,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 10}}
    return {"id": "resp_eval", "object": "response", "created_at": 0, "status": "completed", "model": MODEL,
            "output": [{"type": "message", "id": "msg_eval", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}],
            "usage": {"input_tokens": 10, "output_tokens": 10, "total_tokens": 20}}


def request(endpoint: str, body: dict[str, Any], tenant: str, namespace: str) -> Request:
    ep = endpoint_for("POST", PATHS[endpoint])
    headers = [(b"helicone-cache-seed", namespace.encode())]
    return Request("POST", PATHS[endpoint], b"", headers, orjson.dumps(body), body, ep, ep.facts(body), tenant, "eval")


@dataclass
class Outcome:
    pair: dict[str, Any]
    score: float | None  # the score B was served at (threshold 0, guard on); None = never served
    unguarded: float | None  # the best candidate's score without the guard (None = no candidate)
    refused: str | None  # the guard's reason for the best candidate, if it refused it


async def evaluate(pairs: list[dict[str, Any]]) -> list[Outcome]:
    metrics = Metrics()
    store = MemoryStore(1 << 30)
    cache = ResponseCache(store, "memory", metrics, now=store)
    sem_cfg = SemanticConfig(mode="semantic", threshold=0.0, timeout=30.0)
    embedder = build_embedder(OfflineEmbedderConfig())
    index = build_index(VectorIndexConfig(), embedder.dimensions)
    semantic = SemanticCache(sem_cfg, embedder, index, cache, metrics)
    flow = CacheFlow(CacheConfig(enabled=True, ttl=3600), cache, metrics, semantic)
    unguarded = SemanticCache(sem_cfg.model_copy(update={"guard": False}), embedder, index, cache, metrics)
    out: list[Outcome] = []
    try:
        for p in pairs:
            endpoint, ns = p["endpoint"], "eval-" + p["id"]

            async def forward(body: dict[str, Any], endpoint: str = endpoint) -> Reply:
                return Reply(200, [], body=orjson.dumps(answer_for(endpoint, "cached answer")))

            a, b = p["a"], p["b"]
            body_a, body_b = body_for(endpoint, a), body_for(endpoint, b)
            await flow.handle(request(endpoint, body_a, a["tenant"], ns), MODEL, MODEL, forward)
            await semantic.drain()
            req_b = request(endpoint, body_b, b["tenant"], ns)
            policy_b = flow.prepare(req_b, MODEL, MODEL).policy
            plan = unguarded.plan(endpoint=endpoint, model=MODEL, resolved_model=MODEL, body=body_b, policy=policy_b,
                                  headers=[], tenant=b["tenant"])
            best = refused = None
            if plan is not None:  # the trace first: B's own answer is indexed once B is handled
                trace = await unguarded.trace(plan, policy_b)
                if trace.candidates:
                    best = trace.candidates[0].score
                    refused = refusal(plan.text, trace.candidates[0].text)
            reply = await flow.handle(req_b, MODEL, MODEL, forward)
            headers = dict(reply.headers)
            status = headers.get(b"x-warmgate-cache")
            score = None
            if status == b"HIT":
                score = best = 1.0
            elif status == b"SEMANTIC":
                score = float(headers[b"x-warmgate-similarity"])
            out.append(Outcome(p, score, best, refused))
            await semantic.drain()
    finally:
        await semantic.close()
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def rate(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{100 * k / n:5.1f}% [{100 * lo:4.1f}-{100 * hi:4.1f}]" if n else "   n/a"


def table(outcomes: list[Outcome], thresholds: Iterable[float], guarded: bool = True) -> list[str]:
    para = [o for o in outcomes if o.pair["label"] == "hit"]
    traps = [o for o in outcomes if o.pair["label"] == "trap"]
    kinds = [k for k in TRAP_KINDS if any(o.pair["kind"] == k for o in traps)]
    lines = ["| threshold | paraphrases served | traps wrongly served | " + " | ".join(kinds) + " |",
             "|---|---|---|" + "---|" * len(kinds)]
    for t in thresholds:
        def served(os: list[Outcome], t: float = t) -> int:
            if guarded:
                return sum(o.score is not None and o.score >= t for o in os)
            return sum(o.unguarded is not None and o.unguarded >= t for o in os)

        cells = [rate(served(para), len(para)), rate(served(traps), len(traps))]
        for k in kinds:
            ko = [o for o in traps if o.pair["kind"] == k]
            cells.append(f"{100 * served(ko) / len(ko):.1f}%")
        lines.append(f"| {t:.2f} | " + " | ".join(cells) + " |")
    return lines


def report(outcomes: list[Outcome], thresholds: list[float]) -> str:
    para = [o for o in outcomes if o.pair["label"] == "hit"]
    traps = [o for o in outcomes if o.pair["label"] == "trap"]
    kinds = [k for k in TRAP_KINDS if any(o.pair["kind"] == k for o in traps)]
    lines = [f"pairs: {len(para)} paraphrases, {len(traps)} traps ("
             + ", ".join(f"{k} {sum(o.pair['kind'] == k for o in traps)}" for k in kinds) + ")", ""]
    lines += table(outcomes, thresholds)
    lines += ["", "Without the guard (vector similarity and partitions only):", ""]
    lines += table(outcomes, thresholds, guarded=False)
    hand = [o for o in outcomes if o.pair["id"].startswith("h")]
    if hand:
        lines += ["", f"Hand-written pairs only ({len(hand)}; too few per kind for tight intervals):", ""]
        lines += table(hand, thresholds)
    refusals: dict[str, int] = {}
    for o in para:
        if o.refused is not None:
            refusals[o.refused] = refusals.get(o.refused, 0) + 1
    lines += ["", "Paraphrases whose best candidate the guard refused, by check: "
              + (", ".join(f"{k} {v}" for k, v in sorted(refusals.items(), key=lambda kv: -kv[1])) or "none")]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N pairs of each kind")
    ap.add_argument("--thresholds", default=",".join(f"{t:.2f}" for t in THRESHOLDS))
    ap.add_argument("--show", default="", help="print the pairs of this kind served at --show-threshold "
                    "(`refused`: the paraphrases whose best candidate the guard refused)")
    ap.add_argument("--show-threshold", type=float, default=0.85)
    args = ap.parse_args()
    pairs = load([DATA / "generated.jsonl", DATA / "handwritten.jsonl"])
    if args.limit:
        seen: dict[str, int] = {}
        kept = []
        for p in pairs:
            seen[p["kind"]] = seen.get(p["kind"], 0) + 1
            if seen[p["kind"]] <= args.limit:
                kept.append(p)
        pairs = kept
    started = time.perf_counter()
    outcomes = asyncio.run(evaluate(pairs))
    took = time.perf_counter() - started
    print(f"$ python bench/semantic_eval/run.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"({len(pairs)} pairs in {took:.0f} s)\n")
    print(report(outcomes, [float(t) for t in args.thresholds.split(",")]))
    if args.show:
        print()
        for o in outcomes:
            if args.show == "refused" and o.pair["label"] == "hit" and o.refused is not None:
                print(f"{o.refused}: {o.pair['a']['text']!r}  ->  {o.pair['b']['text']!r}")
            elif o.pair["kind"] == args.show and o.score is not None and o.score >= args.show_threshold:
                print(f"{o.score:.3f}  {o.pair['a']['text']!r}  ->  {o.pair['b']['text']!r}")


if __name__ == "__main__":
    main()
