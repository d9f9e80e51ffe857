"""Numbers of the affinity benchmark: per-run metrics from the simulator's stats, the table, targets.

The baseline (STYLE habit 11) is the single-account run of the same workload in the same invocation:
one account sees every request, so its provider cache hit rate is the best any routing can reach.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClientCounts:
    """What the benchmark's client saw in one run."""

    requests: int = 0  # HTTP attempts, retries included
    ok: int = 0
    status_429: int = 0
    errors: int = 0  # every other non-2xx answer or transport failure
    abandoned: int = 0  # conversations given up after repeated failures
    switches: int = 0  # consecutive turns of one conversation served by different accounts
    turn_pairs: int = 0  # consecutive turn pairs whose accounts were both known
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    first_prompt: int = 0  # prompt tokens of first turns, from the responses' usage
    first_cached: int = 0  # their cached prompt tokens: what the shared prefixes contribute


@dataclass
class Result:
    name: str
    pool: int
    strategy: str
    note: str  # what is special about the run ("1 instance", "account fails at 50%", ...)
    hit_rate: float  # cached prompt tokens / prompt tokens, over the pool's accounts
    prompt_tokens: int
    cached_tokens: int
    served: list[int]  # successful requests per account of the pool (sim side)
    client: ClientCounts
    wall: float
    events: list[str] = field(default_factory=list)
    ratio: float | None = None  # hit_rate / single-account hit_rate
    target: str = ""
    met: bool | None = None

    @property
    def peak_to_mean(self) -> float:
        mean = statistics.fmean(self.served) if self.served else 0.0
        return max(self.served) / mean if mean else 0.0

    @property
    def switches_per_100(self) -> float | None:
        c = self.client
        return 100.0 * c.switches / c.turn_pairs if c.turn_pairs else None

    @property
    def first_turn_hit(self) -> float | None:
        c = self.client
        return c.first_cached / c.first_prompt if c.first_prompt else None

    @property
    def p50_ms(self) -> float:
        return 1000.0 * statistics.median(self.client.latencies) if self.client.latencies else 0.0

    @property
    def p99_ms(self) -> float:
        lat = sorted(self.client.latencies)
        return 1000.0 * lat[int(0.99 * (len(lat) - 1))] if lat else 0.0


def from_stats(name: str, pool: int, strategy: str, note: str, keys: list[str], stats: dict[str, Any],
               client: ClientCounts, wall: float) -> Result:
    """A run's result from `GET /sim/stats` (accounts are matched by API key; idle ones count as 0)."""
    by_key = {a["key"]: a for a in stats.get("accounts", {}).values()}
    rows = [by_key.get(k, {}) for k in keys]
    prompt = sum(r.get("prompt_tokens", 0) for r in rows)
    cached = sum(r.get("cached_tokens", 0) for r in rows)
    served = [r.get("requests", 0) - r.get("errors", 0) for r in rows]
    return Result(name, pool, strategy, note, cached / prompt if prompt else 0.0, prompt, cached, served, client, wall)


def judge(results: list[Result], smoke: bool = False) -> None:
    """Fill in each run's ratio to the single-account run, its target and whether it was met
    (`smoke`: the short workload of --quick, whose conversations are too short for the targets:
    they are shown but not judged)."""
    single = next((r for r in results if r.name == "single"), None)
    base = single.hit_rate if single else 0.0
    one_instance = {r.pool: r for r in results if r.strategy == "affinity" and r.name.startswith("pool")}
    for r in results:
        r.ratio = r.hit_rate / base if base else None
        if r.name == "single":
            r.target = "baseline (upper bound)"
        elif r.name.startswith("fail"):
            r.target = "÷single ≥ 0.85"
            r.met = r.ratio is not None and r.ratio >= 0.85
        elif r.name.startswith("redis"):
            ref = one_instance.get(r.pool)
            if ref is not None:
                loss = 100 * (ref.hit_rate - r.hit_rate)
                r.target = f"≤ 2 pts below 1 instance (is {loss:.1f} pts below)"
                r.met = loss <= 2.0
        elif r.name.startswith("apart"):
            r.target = "(comparison: two instances sharing nothing)"
        elif r.strategy == "affinity":
            r.target = "÷single ≥ 0.95, peak/mean ≤ 1.3"
            r.met = r.ratio is not None and r.ratio >= 0.95 and r.peak_to_mean <= 1.3
        elif r.strategy == "round_robin" and r.pool == 4:
            r.target = "expected ÷single ~0.25-0.4"
        else:
            r.target = "(comparison)"
        if smoke and r.met is not None:
            r.met = None
            r.target += " (judged on the full run)"


HEADER = ("run", "pool", "strategy", "hit rate", "÷single", "peak/mean", "429s", "errors", "sw/100t", "1st turn",
          "p50 ms", "target")


def table(results: list[Result]) -> str:
    rows = [HEADER]
    for r in results:
        c = r.client
        sw, first = r.switches_per_100, r.first_turn_hit
        mark = "" if r.met is None else ("  [met]" if r.met else "  [MISSED]")
        rows.append((
            r.name, str(r.pool), r.strategy, f"{100 * r.hit_rate:.1f}%",
            f"{r.ratio:.3f}" if r.ratio is not None else "-", f"{r.peak_to_mean:.2f}",
            str(c.status_429), str(c.errors + c.abandoned), "-" if sw is None else f"{sw:.1f}",
            "-" if first is None else f"{100 * first:.1f}%", f"{r.p50_ms:.0f}", r.target + mark,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) if i in (0, 2, 11) else cell.rjust(w) for i, (cell, w) in
                       enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


LEGEND = """\
hit rate  = cached prompt tokens / prompt tokens at the provider (simulator), over the run's accounts
÷single   = hit rate / hit rate of the same workload through a one-account pool (the upper bound)
peak/mean = requests served per account: max / mean over the pool
429s, errors = what the client saw (errors include transport failures and abandoned conversations)
sw/100t   = account switches per 100 consecutive turns of a conversation (x-warmgate-account header)
1st turn  = hit rate of the conversations' first turns (from response usage): the shared prefixes' part
p50 ms    = median client latency (the simulator adds 5 ms + 2 ms per 1k uncached prompt tokens)"""


def result_json(r: Result) -> dict[str, Any]:
    c = r.client
    return {
        "run": r.name, "pool": r.pool, "strategy": r.strategy, "note": r.note,
        "hit_rate": r.hit_rate, "ratio_to_single": r.ratio, "prompt_tokens": r.prompt_tokens,
        "cached_tokens": r.cached_tokens, "served_per_account": r.served, "peak_to_mean": r.peak_to_mean,
        "client": {"requests": c.requests, "ok": c.ok, "status_429": c.status_429, "errors": c.errors,
                   "abandoned": c.abandoned, "switches_per_100_turns": r.switches_per_100,
                   "first_turn_hit_rate": r.first_turn_hit, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms},
        "wall_s": r.wall, "events": r.events, "target": r.target, "met": r.met,
    }
