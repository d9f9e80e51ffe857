"""The summary behind `GET /admin/stats`, the dashboard and `warmgate stats`: totals since start,
the time series, top models and tenants, accounts (health, provider prompt-cache hit rate) and the
cache store. Built on demand from the metrics and the `Observer`; nothing here is on the hot path."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from warmgate.metrics import Metrics
from warmgate.observe.recorder import Observer
from warmgate.observe.series import FIELDS
from warmgate.routing.pool import Pool

TOP = 10


# How the store's circuit state reads for a person ("closed" reads like "down" to most).
STORE_STATE_WORDS = {"closed": "ok", "half_open": "recovering (circuit half open)",
                     "open": "failing, bypassed (circuit open)", "off": "off"}


def _by_label(values: dict[tuple[str, ...], float], index: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in values.items():
        out[labels[index]] = out.get(labels[index], 0.0) + value
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def refresh_gauges(metrics: Metrics, pools: Iterable[Pool], store_name: str, store: Any) -> None:
    """Account health and in-flight counts, and the store's circuit state, for a scrape."""
    for pool in pools:
        for acct in pool.accounts:
            labels = (pool.provider.name, acct.name)
            metrics.account_healthy.set(labels, 1.0 if pool.healthy(acct) else 0.0)
            metrics.account_in_flight.set(labels, float(acct.in_flight))
    state = getattr(store, "state", None)
    if state is not None:
        metrics.store_circuit.set((store_name,), 0.0 if state == "closed" else 1.0)


def worker_part(observer: Observer, store: Any) -> dict[str, Any]:
    """What the summary takes from this process besides its metrics, as JSON: published with its
    metrics when it is one of several workers (`observe.workers`), for the worker that answers
    `/admin/stats` to merge (`summary(others=...)`)."""
    return {
        "since": observer.started,
        "series": observer.series.raw(),
        "top": {by: observer.top(by) for by in ("model", "tenant", "gateway")},
        "store_state": _store_state(store),
    }


def _store_state(store: Any) -> str:
    return getattr(store, "state", "closed") if store is not None else "off"


_WORST_FIRST = ("open", "half_open", "closed", "off")


def summary(
    observer: Observer, pools: Iterable[Pool], store_name: str, store: Any, others: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The summary of this process, or with `others` (the other workers' published `metrics` and
    `stats`: `observe.workers`) of all workers: counts add up, the series add up interval by
    interval, an account is healthy if no worker cools it down, the store's state is the worst."""
    pools = list(pools)
    refresh_gauges(observer.metrics, pools, store_name, store)
    observer.collect()
    parts = [o["stats"] for o in others]
    m = observer.metrics.merged([o["metrics"] for o in others]) if others else observer.metrics
    by_cache = _by_label(m.requests.values, 3)
    requests = sum(by_cache.values())
    hits = by_cache.get("hit", 0.0) + by_cache.get("stale", 0.0)
    lookups = hits + by_cache.get("miss", 0.0)
    saved = _by_label(m.cost_saved.values, 3)
    lat: dict[str, tuple[float, float]] = {}
    for labels, series in m.request_latency.series.items():
        before = lat.get(labels[1], (0.0, 0.0))
        lat[labels[1]] = (before[0] + series[-1], before[1] + sum(series[:-1]))
    hit_lat = [lat.get(k, (0.0, 0.0)) for k in ("hit", "stale")]
    miss_lat = lat.get("miss", (0.0, 0.0))
    prompt = m.provider_prompt_tokens.total()
    cached = m.provider_cached_tokens.total()
    totals = {
        "requests": requests,
        "by_cache": by_cache,
        "hits_by_kind": _by_label(m.hits.values, 3),
        "hit_rate": _ratio(hits, lookups),
        "tokens_saved": m.tokens_saved.total(),
        "cost": m.cost.total(),
        "saved_cache": saved.get("cache", 0.0),
        "saved_prompt_cache": saved.get("prompt_cache", 0.0),
        "latency_saved": m.latency_saved.total(),
        "hit_latency_avg": _ratio(sum(s for s, _ in hit_lat), sum(n for _, n in hit_lat)),
        "miss_latency_avg": _ratio(miss_lat[0], miss_lat[1]),
        "provider_prompt_tokens": prompt,
        "provider_cached_tokens": cached,
        "provider_cache_hit_rate": _ratio(cached, prompt),
        "errors": m.errors.total(),
    }
    prompt_by_acct = {(k[0], k[1]): 0.0 for k in m.provider_prompt_tokens.values}
    cached_by_acct = dict(prompt_by_acct)
    for k, v in m.provider_prompt_tokens.values.items():
        prompt_by_acct[(k[0], k[1])] += v
    for k, v in m.provider_cached_tokens.values.items():
        cached_by_acct[(k[0], k[1])] = cached_by_acct.get((k[0], k[1]), 0.0) + v
    upstream = _by_label({(k[0], k[1], k[2]): v for k, v in m.upstream.values.items()}, 2)
    accounts = []
    for pool in pools:
        for acct in pool.accounts:
            key = (pool.provider.name, acct.name)
            p, c = prompt_by_acct.get(key, 0.0), cached_by_acct.get(key, 0.0)
            calls = {k[2]: v for k, v in m.upstream.values.items() if (k[0], k[1]) == key}
            accounts.append({  # health and in-flight calls: the gauges, merged by their rules across workers
                "provider": key[0], "account": key[1], "healthy": m.account_healthy.get(key) == 1.0,
                "in_flight": int(m.account_in_flight.get(key)),
                "prompt_tokens": p, "cached_tokens": c, "cache_hit_rate": _ratio(c, p),
                "calls": sum(calls.values()), "failures": sum(v for o, v in calls.items() if o != "ok"),
            })
    states = [_store_state(store), *(part["store_state"] for part in parts)]
    store_state = min(states, key=lambda st: _WORST_FIRST.index(st) if st in _WORST_FIRST else 0)
    top = _merged_top(observer, parts)
    return {
        "since": min([observer.started, *(part["since"] for part in parts)]),
        "now": time.time(),
        "interval": observer.series.interval,
        "prices_checked": observer.prices.checked,
        "totals": totals,
        "series": _merged_series(observer.series.as_json(), [part["series"] for part in parts]),
        "top_models": _top(top["model"]),
        "top_tenants": _top(top["tenant"]),
        "top_gateways": _top(top["gateway"]),
        "accounts": accounts,
        "upstream_outcomes": upstream,
        "store": {"name": store_name, "state": store_state,
                  "errors": sum(v for k, v in m.store_errors.values.items() if k[0] == store_name)},
    }


def _merged_top(observer: Observer, parts: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Totals per model, tenant and gateway (`Observer.top`) of this process and the other workers."""
    top = {by: observer.top(by) for by in ("model", "tenant", "gateway")}
    for part in parts:
        for by, totals_by_name in part["top"].items():
            mine = top.setdefault(by, {})
            for name, t in totals_by_name.items():
                row = mine.setdefault(name, dict.fromkeys(t, 0.0))
                for field, value in t.items():
                    row[field] = row.get(field, 0.0) + value
    return top


def _merged_series(mine: list[dict[str, Any]], others: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """This process's series (`Series.as_json`) with the other workers' (`Series.raw`) added in,
    point by point (every worker's intervals start at the same multiples of the interval). Points
    only other workers have (older than this worker) are left out: the series keeps this one's length."""
    if not others:
        return mine
    merged = {p["t"]: {**p, "accounts": {a: dict(v) for a, v in p["accounts"].items()}} for p in mine}
    for series in others:
        for start, values, accounts in [*series["done"], series["current"]]:
            into = merged.get(start)
            if into is None:
                continue
            for field, value in zip(FIELDS, values, strict=False):
                into[field] += value
            for account, (prompt, cached) in accounts.items():
                acc = into["accounts"].setdefault(account, {"prompt": 0.0, "cached": 0.0})
                acc["prompt"] += prompt
                acc["cached"] += cached
    return [merged[p["t"]] for p in mine]


def _top(totals: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1]["requests"], kv[0]))[:TOP]
    return [{"name": name, **t} for name, t in ranked]


def _money(x: float) -> str:
    return f"${x:,.6f}" if x < 0.01 else f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:,.1f} s"


def render_text(s: dict[str, Any]) -> str:
    """The summary for a terminal (`warmgate stats`)."""
    t = s["totals"]
    bc = t["by_cache"]
    up = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s["since"]))
    lines = [
        f"warmgate stats (since {up} UTC; prices checked {s['prices_checked']})",
        "",
        f"  requests           {t['requests']:.0f}   (hit {bc.get('hit', 0):.0f}, stale {bc.get('stale', 0):.0f}, "
        f"miss {bc.get('miss', 0):.0f}, bypass {bc.get('bypass', 0):.0f}, uncached {bc.get('none', 0):.0f}; "
        f"errors {t['errors']:.0f})",
        f"  cache hit rate     {t['hit_rate'] * 100:.1f} %   "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(t["hits_by_kind"].items())),
        f"  tokens saved       {t['tokens_saved']:,.0f}",
        f"  provider cost      {_money(t['cost'])}",
        f"  saved by cache     {_money(t['saved_cache'])}",
        f"  saved by provider prompt cache  {_money(t['saved_prompt_cache'])}   "
        f"(prompt-cache hit rate {t['provider_cache_hit_rate'] * 100:.1f} %)",
        f"  latency            hit {t['hit_latency_avg'] * 1000:.1f} ms, miss {t['miss_latency_avg'] * 1000:.1f} ms; "
        f"saved {_duration(t['latency_saved'])} in total",
        f"  store              {s['store']['name']}: {STORE_STATE_WORDS.get(s['store']['state'], s['store']['state'])}, "
        f"{s['store']['errors']:.0f} errors",
        "",
        "  accounts           provider/account         health    calls  failures  prompt-cache hit rate",
    ]
    for a in s["accounts"]:
        name = f"{a['provider']}/{a['account']}"
        lines.append(f"                     {name:<24} {'ok' if a['healthy'] else 'cooling':<8} {a['calls']:>6.0f} "
                     f"{a['failures']:>9.0f}  {a['cache_hit_rate'] * 100:5.1f} %")
    for title, rows in (("top models", s["top_models"]), ("top tenants", s["top_tenants"]),
                        ("top gateways", s.get("top_gateways", []))):
        lines.append("")
        lines.append(f"  {title:<18} {'name':<24} requests   hits   cost       saved")
        for r in rows:
            lines.append(f"                     {r['name'] or '-':<24} {r['requests']:>8.0f} {r['hits']:>6.0f}   "
                         f"{_money(r['cost']):<10} {_money(r['saved'])}")
    return "\n".join(lines) + "\n"
