"""Per-request accounting: one `done` call per request feeds the Prometheus metrics, the
dashboard's time series and top lists, and the access log.

Cheap on the hot path (a cache hit costs tens of microseconds in all): a request adds to plain
float lists in a `Cell` per (tenant, model) and in the current time-series point; the Prometheus
counters are filled from the cells only when scraped (`collect`). The price of a model is one dict
read (`PriceTable` remembers its matches), and the access log line is buffered (`AccessLog`).
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from warmgate.accounting.cost import latency_saved as saved_latency
from warmgate.accounting.cost import prompt_cache_saving, usage_cost
from warmgate.accounting.prices import PriceTable
from warmgate.dialects.usage import Usage
from warmgate.exchange import Reply, Request
from warmgate.metrics import Metrics
from warmgate.observe import series as S
from warmgate.observe.access_log import AccessLog
from warmgate.observe.labels import BoundedLabel

GATEWAY = "default"  # the gateway of /v1/... (named gateways are served at /g/<name>/v1/...)

CACHE_RESULTS = ("hit", "stale", "miss", "bypass", "none")
_CACHE_INDEX: dict[str | None, int] = {"hit": 0, "stale": 1, "miss": 2, "bypass": 3, None: 4}
HIT_KINDS = ("exact", "coalesced", "semantic")
_KIND_INDEX = {"exact": 0, "coalesced": 1, "semantic": 2}
_SAVINGS_MEMO = 4096

# Fields of a cell's list: requests by cache result (0-4), hits by kind (5-7), then:
_HIT0 = 5
TOKENS_PROMPT, TOKENS_COMPLETION, SAVED_CACHE, SAVED_PROMPT_CACHE, LATENCY_SAVED, COST = range(8, 14)
_CELL_SIZE = 14


class Cell:
    """Everything counted for one (tenant, gateway, model); `latency` is the gateway's latency
    histogram series, one per cache result."""

    __slots__ = ("cost_by_account", "gateway", "latency", "model", "tenant", "v")

    def __init__(self, tenant: str, gateway: str, model: str, latency: list[list[float]]):
        self.tenant = tenant
        self.gateway = gateway
        self.model = model
        self.latency = latency
        self.v = [0.0] * _CELL_SIZE
        self.cost_by_account: dict[str, float] = {}

    @property
    def requests(self) -> float:
        return sum(self.v[:5])

    @property
    def hits(self) -> float:
        return self.v[0] + self.v[1]


class Observer:
    def __init__(self, metrics: Metrics, prices: PriceTable, interval: float, points: int,
                 access_log: AccessLog | None = None, *, label_limit: int = 200, debug_bodies: bool = False):
        self.metrics = metrics
        self.prices = prices
        self.access_log = access_log
        self.debug_bodies = debug_bodies
        self.tenant_label = BoundedLabel(label_limit)
        self.gateway_label = BoundedLabel(label_limit)
        self.model_label = BoundedLabel(label_limit)
        self.account_label = BoundedLabel(label_limit)
        self.cells: dict[tuple[str, str, str | None], Cell] = {}  # raw names -> the cell of their labels
        self._cells_by_label: dict[tuple[str, str, str], Cell] = {}
        self._bounds = metrics.request_latency.bounds
        self._latency: dict[str, list[list[float]]] = {}  # gateway label -> histogram series per cache result
        self._savings: dict[tuple[str | None, Usage], float] = {}  # (model, usage) -> what a hit saves
        self.started = time.time()
        self.series = S.Series(interval, points, self.totals)
        metrics.collectors.append(self.collect)

    def _cell(self, tenant: str, gateway: str, model: str | None) -> Cell:
        labels = (self.tenant_label(tenant), self.gateway_label(gateway), self.model_label(model or ""))
        cell = self._cells_by_label.get(labels)
        if cell is None:
            cell = self._cells_by_label[labels] = Cell(*labels, self._gateway_latency(labels[1]))
        if len(self.cells) < 16 * self.tenant_label.limit:  # raw names map to bounded cells
            self.cells[(tenant, gateway, model)] = cell
        return cell

    def _gateway_latency(self, gateway: str) -> list[list[float]]:
        series = self._latency.get(gateway)
        if series is None:
            hist = self.metrics.request_latency
            series = self._latency[gateway] = [
                hist.series.setdefault((gateway, r), [0.0] * (len(self._bounds) + 2)) for r in CACHE_RESULTS
            ]
        return series

    def done(self, req: Request, reply: Reply) -> None:
        """Account for a request once its reply is out (streams: drained, so the usage is known)."""
        latency = time.perf_counter() - req.started
        cell = self.cells.get((req.tenant, req.gateway, req.facts.model)) or self._cell(
            req.tenant, req.gateway, req.facts.model)
        c = cell.v
        ci = _CACHE_INDEX.get(reply.cache, 4)
        c[ci] += 1
        hist = cell.latency[ci]
        hist[bisect.bisect_left(self._bounds, latency)] += 1
        hist[-1] += latency
        self.series.tick()
        answer = reply.saved
        if answer is not None:  # served by the gateway cache: the original call's cost is saved
            usage: Usage = answer.usage
            saved = self._savings.get((reply.model, usage))
            if saved is None:
                saved = self._saving(reply.model, usage)
            latency_saved = saved_latency(answer.upstream_ms / 1000.0, latency)
            ki = _KIND_INDEX.get(reply.hit_kind or "exact", 0)
            c[_HIT0 + ki] += 1
            c[TOKENS_PROMPT] += usage.prompt
            c[TOKENS_COMPLETION] += usage.completion
            c[SAVED_CACHE] += saved
            c[LATENCY_SAVED] += latency_saved
            if self.access_log is not None:
                self._log(req, reply, usage, 0.0, saved, 0.0, latency, latency_saved)
            return
        self._provider_answered(req, reply, cell, latency)

    def _saving(self, model: str | None, usage: Usage) -> float:
        price = self.prices.get(model)
        saved = usage_cost(price, usage) if price is not None else 0.0
        if len(self._savings) >= _SAVINGS_MEMO:
            self._savings.clear()
        self._savings[(model, usage)] = saved
        return saved

    def _provider_answered(self, req: Request, reply: Reply, cell: Cell, latency: float) -> None:
        usage = reply.usage if reply.usage is not None else Usage()
        price = self.prices.get(reply.model)
        cost = prompt_saved = 0.0
        if price is not None:
            cost = usage_cost(price, usage)
            prompt_saved = prompt_cache_saving(price, usage)
        c = cell.v
        c[COST] += cost
        c[SAVED_PROMPT_CACHE] += prompt_saved
        if reply.account is not None:
            account = self.account_label(reply.account)
            cell.cost_by_account[account] = cell.cost_by_account.get(account, 0.0) + cost
        if self.access_log is not None:
            self._log(req, reply, usage, cost, 0.0, prompt_saved, latency, 0.0)

    def background_call(self, req: Request, reply: Reply) -> None:
        """A provider call the gateway made on its own for `req` (a stale entry's refresh): its cost
        counts, but it is not a request."""
        usage = reply.usage if reply.usage is not None else Usage()
        price = self.prices.get(reply.model)
        if price is None or reply.status >= 400:
            return
        cell = self.cells.get((req.tenant, req.gateway, req.facts.model)) or self._cell(
            req.tenant, req.gateway, req.facts.model)
        cost = usage_cost(price, usage)
        cell.v[COST] += cost
        cell.v[SAVED_PROMPT_CACHE] += prompt_cache_saving(price, usage)
        if reply.account is not None:
            account = self.account_label(reply.account)
            cell.cost_by_account[account] = cell.cost_by_account.get(account, 0.0) + cost

    def failed(self, request_id: str, path: str, status: int, code: str | None, started: float,
               gateway: str = GATEWAY) -> None:
        """A request the gateway answered with its own error before the pipeline produced a reply."""
        self.series.tick()
        self.metrics.errors.inc((self.gateway_label(gateway), str(status)))
        if self.access_log is not None:
            self.access_log.write({
                "ts": time.time(), "request_id": request_id, "gateway": gateway, "path": path, "status": status,
                "error": code, "latency_ms": (time.perf_counter() - started) * 1000.0,
            })

    def _log(self, req: Request, reply: Reply, usage: Usage, cost: float, saved: float, prompt_saved: float,
             latency: float, latency_saved: float) -> None:
        assert self.access_log is not None
        answer = reply.saved
        record: dict[str, Any] = {
            "ts": time.time(),
            "request_id": req.request_id,
            "tenant": req.tenant,
            "gateway": req.gateway,
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
            "cost_usd": cost,
            "saved_usd": saved,
            "prompt_cache_saved_usd": prompt_saved,
            "latency_ms": latency * 1000.0,
            "upstream_ms": answer.upstream_ms if answer is not None else (reply.upstream_s or 0.0) * 1000.0,
            "latency_saved_ms": latency_saved * 1000.0,
        }
        if self.debug_bodies and req.json is not None:
            record["body"] = req.json
        self.access_log.write(record)

    def collect(self) -> None:
        """Fill the Prometheus counters from the cells (called before a scrape)."""
        m = self.metrics
        for cell in self._cells_by_label.values():
            c = cell.v
            labels = (cell.tenant, cell.gateway, cell.model)
            for i, result in enumerate(CACHE_RESULTS):
                if c[i]:
                    m.requests.values[(*labels, result)] = c[i]
            for i, kind in enumerate(HIT_KINDS):
                if c[_HIT0 + i]:
                    m.hits.values[(*labels, kind)] = c[_HIT0 + i]
            if c[0] or c[1]:
                m.tokens_saved.values[(*labels, "prompt")] = c[TOKENS_PROMPT]
                m.tokens_saved.values[(*labels, "completion")] = c[TOKENS_COMPLETION]
                m.cost_saved.values[(*labels, "cache")] = c[SAVED_CACHE]
                m.latency_saved.values[labels] = c[LATENCY_SAVED]
            if c[SAVED_PROMPT_CACHE]:
                m.cost_saved.values[(*labels, "prompt_cache")] = c[SAVED_PROMPT_CACHE]
            for account, cost in cell.cost_by_account.items():
                m.cost.values[(*labels, account)] = cost

    def totals(self) -> S.Snapshot:
        """Cumulative figures in the series' FIELDS order, and provider prompt tokens per account."""
        v = [0.0] * len(S.FIELDS)
        for cell in self._cells_by_label.values():
            c = cell.v
            for i in range(5):
                v[S.INDEX[CACHE_RESULTS[i]]] += c[i]
            for i, kind in enumerate(HIT_KINDS):
                v[S.INDEX[kind]] += c[_HIT0 + i]
            v[S.INDEX["tokens_saved"]] += c[TOKENS_PROMPT] + c[TOKENS_COMPLETION]
            v[S.INDEX["cost"]] += c[COST]
            v[S.INDEX["saved_cache"]] += c[SAVED_CACHE]
            v[S.INDEX["saved_prompt_cache"]] += c[SAVED_PROMPT_CACHE]
            v[S.INDEX["latency_saved"]] += c[LATENCY_SAVED]
        v[S.INDEX["requests"]] = sum(v[S.INDEX[r]] for r in CACHE_RESULTS)
        v[S.INDEX["errors"]] = self.metrics.errors.total()
        for name, results in (("hit", (0, 1)), ("miss", (2, 3, 4))):
            for lat in self._latency.values():
                v[S.INDEX[name + "_latency"]] += sum(lat[i][-1] for i in results)
                v[S.INDEX[name + "_count"]] += sum(sum(lat[i][:-1]) for i in results)
        for s in self.metrics.upstream_latency.series.values():
            v[S.INDEX["upstream_latency"]] += s[-1]
            v[S.INDEX["upstream_count"]] += sum(s[:-1])
        accounts: dict[str, tuple[float, float]] = {}
        cached = self.metrics.provider_cached_tokens.values
        for key, prompt in self.metrics.provider_prompt_tokens.values.items():
            name = f"{key[0]}/{key[1]}"
            before, before_cached = accounts.get(name, (0.0, 0.0))
            accounts[name] = (before + prompt, before_cached + cached.get(key, 0.0))
        return v, accounts

    def top(self, by: str) -> dict[str, dict[str, float]]:
        """Totals per tenant, gateway or model (`by`): requests, hits, cost, saved, tokens saved."""
        out: dict[str, dict[str, float]] = {}
        for cell in self._cells_by_label.values():
            name = cell.tenant if by == "tenant" else cell.gateway if by == "gateway" else cell.model
            t = out.setdefault(name, {"requests": 0.0, "hits": 0.0, "cost": 0.0, "saved": 0.0, "tokens_saved": 0.0})
            c = cell.v
            t["requests"] += cell.requests
            t["hits"] += cell.hits
            t["cost"] += c[COST]
            t["saved"] += c[SAVED_CACHE] + c[SAVED_PROMPT_CACHE]
            t["tokens_saved"] += c[TOKENS_PROMPT] + c[TOKENS_COMPLETION]
        return out

    def close(self) -> None:
        if self.access_log is not None:
            self.access_log.close()
