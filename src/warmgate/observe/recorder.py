"""Per-request accounting: one `done` call per request feeds the Prometheus metrics, the
dashboard's time series and totals, and the access log.

Cheap on the hot path (a cache hit is tens of microseconds): the price of a model is one dict read
(`PriceTable` remembers its matches), the label tuples of a (tenant, model) pair are built once, and
the access log line is buffered (`AccessLog`).
"""

from __future__ import annotations

import time
from typing import Any

from warmgate.accounting.cost import Costs, hit_costs, miss_costs
from warmgate.accounting.prices import PriceTable
from warmgate.dialects.usage import Usage
from warmgate.exchange import Reply, Request
from warmgate.metrics import Metrics
from warmgate.observe import series as S
from warmgate.observe.access_log import AccessLog
from warmgate.observe.labels import BoundedLabel

GATEWAY = "default"  # the gateway label until named gateways exist
_CACHE_FIELD = {"hit": S.HIT, "stale": S.STALE, "miss": S.MISS, "bypass": S.BYPASS, None: S.NONE}
_KIND_FIELD = {"exact": S.EXACT, "coalesced": S.COALESCED, "semantic": S.SEMANTIC}
_NO_USAGE = Usage()


class Totals:
    """Cumulative figures per tenant and per model, for the dashboard's top lists."""

    __slots__ = ("cost", "hits", "requests", "saved", "tokens_saved")

    def __init__(self) -> None:
        self.requests = 0
        self.hits = 0
        self.cost = 0.0
        self.saved = 0.0
        self.tokens_saved = 0

    def as_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "hits": self.hits, "cost": self.cost, "saved": self.saved,
                "tokens_saved": self.tokens_saved}


class Observer:
    def __init__(self, metrics: Metrics, prices: PriceTable, series: S.Series, access_log: AccessLog | None = None,
                 *, label_limit: int = 200, debug_bodies: bool = False):
        self.metrics = metrics
        self.prices = prices
        self.series = series
        self.access_log = access_log
        self.debug_bodies = debug_bodies
        self.tenant_label = BoundedLabel(label_limit)
        self.model_label = BoundedLabel(label_limit)
        self.account_label = BoundedLabel(label_limit)
        self.by_tenant: dict[str, Totals] = {}
        self.by_model: dict[str, Totals] = {}
        self.started = time.time()

    def done(self, req: Request, reply: Reply) -> None:
        """Account for a request once its reply is out (streams: drained, so the usage is known)."""
        latency = time.perf_counter() - req.started
        tenant = self.tenant_label(req.tenant)
        model = self.model_label(req.facts.model or "")
        m = self.metrics
        labels = (tenant, GATEWAY, model)
        cache = reply.cache
        m.requests.inc((*labels, cache or "none"))
        m.request_latency.observe((GATEWAY, cache or "none"), latency)
        price = self.prices.get(reply.model)
        answer = reply.saved
        point = self.series.point()
        v = point.values
        v[S.REQUESTS] += 1
        v[_CACHE_FIELD.get(cache, S.NONE)] += 1
        t_tenant = self.by_tenant.get(tenant) or self.by_tenant.setdefault(tenant, Totals())
        t_model = self.by_model.get(model) or self.by_model.setdefault(model, Totals())
        t_tenant.requests += 1
        t_model.requests += 1
        if reply.status >= 500:
            v[S.ERRORS] += 1
        account = None
        if answer is not None:  # served by the gateway cache
            usage: Usage = answer.usage
            costs = hit_costs(price, usage, answer.upstream_ms / 1000.0, latency)
            kind = reply.hit_kind or "exact"
            m.hits.inc((*labels, kind))
            m.tokens_saved.inc((*labels, "prompt"), usage.prompt)
            m.tokens_saved.inc((*labels, "completion"), usage.completion)
            m.cost_saved.inc((*labels, "cache"), costs.saved_cache)
            m.latency_saved.inc(labels, costs.latency_saved)
            v[_KIND_FIELD.get(kind, S.EXACT)] += 1
            v[S.TOKENS_SAVED] += usage.total
            v[S.SAVED_CACHE] += costs.saved_cache
            v[S.LATENCY_SAVED] += costs.latency_saved
            v[S.HIT_LATENCY] += latency
            v[S.HIT_COUNT] += 1
            for t in (t_tenant, t_model):
                t.hits += 1
                t.saved += costs.saved_cache
                t.tokens_saved += usage.total
        else:
            usage = reply.usage if reply.usage is not None else _NO_USAGE
            costs = miss_costs(price, reply.usage)
            account = self.account_label(reply.account) if reply.account is not None else None
            if costs.cost:
                m.cost.inc((*labels, account or ""), costs.cost)
            if costs.saved_prompt_cache:
                m.cost_saved.inc((*labels, "prompt_cache"), costs.saved_prompt_cache)
            v[S.COST] += costs.cost
            v[S.SAVED_PROMPT_CACHE] += costs.saved_prompt_cache
            v[S.MISS_LATENCY] += latency
            v[S.MISS_COUNT] += 1
            if reply.upstream_s is not None:
                v[S.UPSTREAM_LATENCY] += reply.upstream_s
                v[S.UPSTREAM_COUNT] += 1
            if account is not None and usage.prompt:
                acc = point.accounts.get(account)
                if acc is None:
                    acc = point.accounts[account] = [0.0, 0.0]
                acc[0] += usage.prompt
                acc[1] += usage.cached
            for t in (t_tenant, t_model):
                t.cost += costs.cost
                t.saved += costs.saved_prompt_cache
        if self.access_log is not None:
            self._log(req, reply, usage, costs, latency, account)

    def failed(self, request_id: str, path: str, status: int, code: str | None, started: float) -> None:
        """A request the gateway answered with its own error before the pipeline produced a reply."""
        self.metrics.errors.inc((GATEWAY, str(status)))
        self.series.point().values[S.ERRORS] += 1
        if self.access_log is not None:
            self.access_log.write({
                "ts": round(time.time(), 3), "request_id": request_id, "path": path, "status": status,
                "error": code, "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
            })

    def _log(self, req: Request, reply: Reply, usage: Usage, costs: Costs, latency: float, account: str | None) -> None:
        assert self.access_log is not None
        answer = reply.saved
        record: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "request_id": req.request_id,
            "tenant": req.tenant,
            "endpoint": req.endpoint.name,
            "model": req.facts.model,
            "upstream_model": reply.model,
            "stream": bool(req.facts.stream),
            "status": reply.status,
            "account": reply.account if answer is None else None,
            "cache": reply.cache,
            "hit_kind": reply.hit_kind,
            "affinity": reply.affinity,
            "tokens": {"prompt": usage.prompt, "cached": usage.cached, "cache_write": usage.cache_write,
                       "completion": usage.completion},
            "cost_usd": round(costs.cost, 8),
            "saved_usd": round(costs.saved_cache, 8),
            "prompt_cache_saved_usd": round(costs.saved_prompt_cache, 8),
            "latency_ms": round(latency * 1000.0, 3),
            "upstream_ms": round(answer.upstream_ms if answer is not None else (reply.upstream_s or 0.0) * 1000.0, 3),
            "latency_saved_ms": round(costs.latency_saved * 1000.0, 3),
        }
        if self.debug_bodies and req.json is not None:
            record["body"] = req.json
        self.access_log.write(record)

    def close(self) -> None:
        if self.access_log is not None:
            self.access_log.close()
