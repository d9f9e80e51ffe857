"""`warmgate demo`: the simulator and the gateway in one process, a short scripted workload sent
through, and a report of what happened. Needs no keys and no services."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from warmgate.config import Config
from warmgate.observe.stats import render_text
from warmgate.server.run import running
from warmgate.sim import SimConfig
from warmgate.sim import serve as serve_sim

SYSTEM = " ".join(f"rule{i}: answer precisely and cite the section." for i in range(300))  # ~2 000 tokens


def demo_config(sim_url: str) -> Config:
    def provider(name: str, api: str, keys: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "api": api,
            "base_url": sim_url + "/v1",
            "accounts": [{"name": f"{name}-{i + 1}", "api_key": k} for i, k in enumerate(keys)],
        }

    return Config.model_validate(
        {
            "server": {"host": "127.0.0.1", "port": 0},
            "keys": [{"key": "sk-demo", "tenant": "demo"}],
            "providers": [
                provider("openai", "openai", ["sk-sim-openai-1", "sk-sim-openai-2"]),
                provider("anthropic", "anthropic", ["sk-sim-anthropic-1", "sk-sim-anthropic-2"]),
            ],
            "models": {"gpt-sim": "openai", "claude-sim": "anthropic", "embed-sim": "openai"},
            "routing": {"strategy": "affinity"},
            "cache": {"enabled": True, "ttl": 600},
            # the simulated models are priced like real ones, so the accounting shows something
            "prices": {
                "gpt-sim": {"input": 2.5, "cached_input": 1.25, "output": 10},
                "claude-sim": {"input": 3, "cached_input": 0.3, "cache_write": 3.75, "cache_write_1h": 6, "output": 15},
                "embed-sim": {"input": 0.02},
            },
        }
    )


@dataclass
class Row:
    n: int
    what: str
    status: int
    ms: float
    account: str
    cached: str
    cache: str


def _workload(turns: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, path, body): a chat conversation over a long system prompt, streams, other endpoints."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for t in range(turns):
        history = [*history, {"role": "user", "content": f"question {t}: what does rule {t} say?"}]
        out.append((f"chat turn {t + 1}", "/v1/chat/completions", {"model": "gpt-sim", "messages": history, "max_tokens": 12}))
        if t == 1:  # the same question again: answered by the gateway's response cache
            out.append(("chat turn 2 again", "/v1/chat/completions", {"model": "gpt-sim", "messages": history, "max_tokens": 12}))
        history = [*history, {"role": "assistant", "content": f"Rule {t} says to answer precisely."}]
    out.append(("chat, streamed", "/v1/chat/completions", {
        "model": "gpt-sim", "stream": True, "messages": [{"role": "user", "content": "stream a haiku"}]}))
    out.append(("responses", "/v1/responses", {"model": "gpt-sim", "input": "What is a gateway?"}))
    out.append(("responses, streamed", "/v1/responses", {"model": "gpt-sim", "input": "Stream it", "stream": True}))
    out.append(("embeddings", "/v1/embeddings", {"model": "embed-sim", "input": ["warm", "cache"]}))
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    for t in range(3):
        out.append((f"messages, new convo {t + 1}", "/v1/messages", {
            "model": "claude-sim", "max_tokens": 12, "system": system,
            "messages": [{"role": "user", "content": f"question {t}"}]}))
    out.append(("messages, streamed", "/v1/messages", {
        "model": "claude-sim", "max_tokens": 12, "stream": True, "messages": [{"role": "user", "content": "hi"}]}))
    return out


def _cached_tokens(body: dict[str, Any]) -> str:
    usage = body.get("usage") or {}
    for details in ("prompt_tokens_details", "input_tokens_details"):
        if isinstance(usage.get(details), dict):
            return f"{usage[details].get('cached_tokens', 0)}/{usage.get('prompt_tokens', usage.get('input_tokens', 0))}"
    if "cache_read_input_tokens" in usage:
        total = usage.get("input_tokens", 0) + usage.get("cache_read_input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
        return f"{usage['cache_read_input_tokens']}/{total}"
    return "-"


async def _send(session: aiohttp.ClientSession, url: str, n: int, label: str, path: str, body: dict[str, Any]) -> Row:
    headers = {"authorization": "Bearer sk-demo", "anthropic-version": "2023-06-01"}
    t0 = time.perf_counter()
    async with session.post(url + path, json=body, headers=headers) as resp:
        data = await resp.read()
        ms = (time.perf_counter() - t0) * 1000
        cached = "-"
        if resp.content_type == "application/json" and resp.status == 200:
            cached = _cached_tokens(orjson.loads(data))
        return Row(n, label, resp.status, ms, resp.headers.get("x-warmgate-account", "(gateway)"), cached,
                   resp.headers.get("x-warmgate-cache", "-"))


async def _demo(requests: int) -> int:
    sim_config = SimConfig(ttft_base_ms=20, ttft_per_1k_uncached_ms=15, per_token_ms=1)
    async with serve_sim(sim_config) as sim, running(demo_config(sim.url)) as gw, aiohttp.ClientSession() as session:
        print(f"simulator at {sim.url}, gateway at {gw.url}\n")
        work = _workload(max(1, requests - 9))
        rows = []
        # one account of the OpenAI pool answers 429 twice: the gateway retries on the other
        fault = {"account": "sk-sim-openai-1", "status": 429, "count": 2, "retry_after": 0.2}
        async with session.post(sim.url + "/sim/faults", json=fault) as resp:
            resp.raise_for_status()
        for n, (label, path, body) in enumerate(work, 1):
            rows.append(await _send(session, gw.url, n, label, path, body))
        async with session.get(sim.url + "/sim/stats") as resp:
            stats = await resp.json()
        accounting = render_text(gw.app.stats())
    _print_report(rows, stats)
    print("\nthe gateway's own accounting (`warmgate stats`; gpt-sim priced as gpt-4o, claude-sim as Claude Sonnet):\n")
    print(accounting, end="")
    return 0 if all(r.status == 200 for r in rows) else 1


def _print_report(rows: list[Row], stats: dict[str, Any]) -> None:
    print(f"{'#':>3}  {'request':<22} {'status':>6} {'ms':>8}  {'gateway cache':<13} {'account':<12} "
          f"{'provider-cached/prompt tokens':>30}")
    for r in rows:
        print(f"{r.n:>3}  {r.what:<22} {r.status:>6} {r.ms:>8.1f}  {r.cache:<13} {r.account:<12} {r.cached:>30}")
    ms = [r.ms for r in rows]
    print(f"\n{len(rows)} requests, {sum(r.status == 200 for r in rows)} ok; latency p50 {statistics.median(ms):.1f} ms, "
          f"max {max(ms):.1f} ms (the simulator adds time to first token for uncached prompt tokens)")
    print("\nwhat each simulated provider account saw (provider prompt-cache hit rate = cached / prompt tokens):")
    print(f"  {'account key':<22} {'requests':>8} {'errors':>6} {'prompt tokens':>14} {'cached':>8} {'hit rate':>9}")
    accounts = sorted(stats["accounts"].values(), key=lambda a: a["key"])
    for acct in accounts:
        rate = acct["cached_tokens"] / acct["prompt_tokens"] if acct["prompt_tokens"] else 0.0
        print(f"  {acct['key']:<22} {acct['requests']:>8} {acct['errors']:>6} {acct['prompt_tokens']:>14} "
              f"{acct['cached_tokens']:>8} {rate:>9.0%}")
    prompt = sum(a["prompt_tokens"] for a in accounts)
    cached = sum(a["cached_tokens"] for a in accounts)
    errors = sum(a["errors"] for a in accounts)
    hits = sum(r.cache == "HIT" for r in rows)
    print(f"\nprovider prompt-cache hit rate over the run: {cached / prompt if prompt else 0:.0%}")
    print(f"{hits} request(s) answered from the gateway's response cache (no provider call, no cost).")
    print(f"The {errors} injected 429(s) were retried on another account of the pool: no client saw them; the\n"
          "conversation's binding moved with it. Affinity routing kept each conversation on one account, so that\n"
          "account's prompt cache stayed warm (compare the time of cold and warm turns).")


def run_demo(requests: int = 24) -> int:
    import uvloop

    return uvloop.run(_demo(requests))
