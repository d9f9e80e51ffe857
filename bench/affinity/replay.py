"""Offline replay of the affinity workload's timing through the real router choice (no servers, no
sockets, a fake clock): per-account request totals -> peak/mean, and switches per 100 turn pairs,
over several seeds, in seconds. It checks placement balance only (every request succeeds at once
after `--duration` TTLs; no provider cache is simulated). With ~8 conversations per account over 8
accounts, one seed's peak/mean is mostly luck (which conversations turn out long): read the mean
and p90 over many seeds; the max is one unlucky seed.

    python bench/affinity/replay.py                      # seeds 1-8, pools 4 and 8, the default load bound
    python bench/affinity/replay.py --load-bound 1.25 --seeds 1-20
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import heapq
import statistics
from typing import Any

from workload import Shape, make_workload, parse_turns

from warmgate.config import Config, RoutingConfig
from warmgate.dialects import endpoint_for, openai_chat
from warmgate.exchange import Reply, Request
from warmgate.metrics import Metrics
from warmgate.routing.bindings import MemoryBindings
from warmgate.routing.router import Router
from warmgate.upstream.client import Upstream


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _request(conversation: str, n: int) -> Request:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    path = "/v1/chat/completions"
    return Request("POST", path, b"", [(b"x-conversation-id", conversation.encode())], b"", body,
                   endpoint_for("POST", path), openai_chat.facts(body), "t", f"r{n}")


async def replay(seed: int, accounts: int, load_bound: float, duration: float, shape: Shape) -> tuple[float, float]:
    """(peak/mean of requests per account, switches per 100 turn pairs); times in TTLs (cache_ttl 1)."""
    wl = make_workload(seed, shape)
    clock = Clock()
    config = Config.model_validate({
        "routing": {"strategy": "affinity", "binding_ttl": 1000, "load_bound": load_bound},
        "providers": [{"name": "p", "api": "openai", "base_url": "http://127.0.0.1:9/v1", "cache_ttl": 1.0,
                       "accounts": [{"name": f"a{i}", "api_key": f"sk-{i}"} for i in range(accounts)]}],
        "models": {"m": "p"},
    })
    router = Router(config, Upstream(), MemoryBindings(clock=clock), Metrics(), clock=clock)
    pool = router.pools["p"]
    convs = {c.index: c for c in wl.conversations}
    events: list[tuple[float, int, int, int, str]] = [(c.start, 0, c.index, 0, "") for c in wl.conversations]
    heapq.heapify(events)
    served = dict.fromkeys((a.name for a in pool.accounts), 0)
    last: dict[int, str] = {}
    switches = pairs = n = 0
    while events:
        clock.now, ends, ci, turn, name = heapq.heappop(events)
        conv = convs[ci]
        if ends:
            acct = pool.account(name)
            assert acct is not None
            acct.in_flight -= 1
            if turn + 1 < conv.turns:
                heapq.heappush(events, (clock.now + conv.gaps[turn + 1], 0, ci, turn + 1, ""))
            continue
        n += 1
        req = _request(f"c{ci}", n)
        choice = await router._choose(req, pool, "p|t")
        assert choice is not None
        acct = choice.next(pool, [])
        assert acct is not None
        pool.started(acct, choice.binding_key)
        acct.in_flight += 1
        await router._after_success(req, Reply(200, [], body=b"{}"), acct, "p|t", choice)
        served[acct.name] += 1
        if ci in last:
            pairs += 1
            switches += last[ci] != acct.name
        last[ci] = acct.name
        heapq.heappush(events, (clock.now + duration, 1, ci, turn, acct.name))
    totals = list(served.values())
    return max(totals) / statistics.fmean(totals), 100.0 * switches / max(1, pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="1-8", help="a range a-b or a list a,b,c")
    ap.add_argument("--pools", default="4,8")
    ap.add_argument("--load-bound", type=float, default=RoutingConfig().load_bound)
    ap.add_argument("--duration", type=float, default=0.03, help="request duration in TTLs")
    ap.add_argument("--turns", type=parse_turns, metavar="MEDIAN,MIN,MAX", help="turns per conversation (default 14,10,20)")
    args = ap.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = list(range(int(lo), int(hi) + 1)) if hi else [int(s) for s in args.seeds.split(",")]
    shape = dataclasses.replace(Shape(), **args.turns) if args.turns else Shape()
    print(f"load_bound {args.load_bound}; per seed: peak/mean / switches per 100 turn pairs")
    for pool in (int(p) for p in args.pools.split(",")):
        rows = [asyncio.run(replay(s, pool, args.load_bound, args.duration, shape)) for s in seeds]
        cells = "  ".join(f"{s}: {p:.2f}/{w:.1f}" for s, (p, w) in zip(seeds, rows, strict=True))
        peaks = sorted(p for p, _ in rows)
        p90 = peaks[min(len(peaks) - 1, int(0.9 * len(peaks)))]
        switches = statistics.fmean(w for _, w in rows)
        print(f"pool {pool}: {cells}\n  peak/mean mean {statistics.fmean(peaks):.3f}, p90 {p90:.2f}, max {peaks[-1]:.2f}; "
              f"switches per 100 turn pairs, mean {switches:.1f}")


if __name__ == "__main__":
    main()
