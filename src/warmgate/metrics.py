"""Counters and histograms in the Prometheus text format, without a client library.

Cheap on the hot path: a counter increment is one dict update keyed by a tuple of label values.
Label values come from configuration (tenant, model, account names) or small closed sets (cache
result, kind), so cardinality stays bounded; a model name a client sends is only used as a label
once it resolved to a configured model.

With several worker processes, `/metrics` renders this process's metrics merged with the other
workers' `snapshot`s (`observe.workers`): counters and histograms add up, a gauge merges by its
`merge` rule.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

Snapshot = dict[str, list[Any]]
"""Every metric's samples by metric name, as plain lists (JSON): `[labels, value]` for counters and
gauges, `[labels, [bucket counts..., +Inf count, sum]]` for histograms."""

_MERGE: dict[str, Callable[[float, float], float]] = {"sum": operator.add, "max": max, "min": min}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Counter:
    kind = "counter"
    merge: Literal["sum", "max", "min"] = "sum"  # how several worker processes' values combine

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()):
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def get(self, labels: tuple[str, ...] = ()) -> float:
        return self.values.get(labels, 0.0)

    def total(self) -> float:
        return sum(self.values.values())

    def snapshot(self) -> list[Any]:
        return [[list(labels), value] for labels, value in self.values.items()]

    def merged(self, others: Iterable[list[Any]]) -> dict[tuple[str, ...], float]:
        """The values merged with other processes' `snapshot`s of this metric (by `merge`)."""
        values = self.values
        merge = _MERGE[self.merge]
        for other in others:
            if values is self.values:
                values = dict(values)
            for labels, value in other:
                key = tuple(labels)
                values[key] = merge(values[key], float(value)) if key in values else float(value)
        return values

    def render(self, others: Iterable[list[Any]] = ()) -> Iterable[str]:
        """The samples, merged with other processes' `snapshot`s of this metric."""
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in sorted(self.merged(others).items()):
            yield f"{self.name}{_labels(self.label_names, labels)} {value:g}"


class Gauge(Counter):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (),
                 merge: Literal["sum", "max", "min"] = "sum"):
        """`merge`: how the values of several worker processes combine."""
        super().__init__(name, help_text, labels)
        self.merge = merge

    def set(self, labels: tuple[str, ...], value: float) -> None:
        self.values[labels] = value


class Histogram:
    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (), buckets: Sequence[float] = ()):
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self.bounds = tuple(buckets) or (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
        self.series: dict[tuple[str, ...], list[float]] = {}  # bucket counts..., +Inf count, sum

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = [0.0] * (len(self.bounds) + 2)
        s[bisect.bisect_left(self.bounds, value)] += 1
        s[-1] += value

    def snapshot(self) -> list[Any]:
        return [[list(labels), series] for labels, series in self.series.items()]

    def merged(self, others: Iterable[list[Any]]) -> dict[tuple[str, ...], list[float]]:
        """The series added up with other processes' `snapshot`s of this histogram."""
        merged = self.series
        for other in others:
            if merged is self.series:
                merged = {labels: list(s) for labels, s in merged.items()}
            for labels, series in other:
                if len(series) != len(self.bounds) + 2:
                    continue  # not this histogram's buckets
                key = tuple(labels)
                mine = merged.get(key)
                merged[key] = [float(v) for v in series] if mine is None else [a + b for a, b in zip(mine, series, strict=True)]
        return merged

    def render(self, others: Iterable[list[Any]] = ()) -> Iterable[str]:
        """The series, merged (added up) with other processes' `snapshot`s of this histogram."""
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, s in sorted(self.merged(others).items()):
            running = 0.0
            for bound, count in zip(self.bounds, s, strict=False):
                running += count
                le = f'le="{bound:g}"'
                yield f"{self.name}_bucket{_labels(self.label_names, labels, le)} {running:g}"
            running += s[len(self.bounds)]
            inf = 'le="+Inf"'
            yield f"{self.name}_bucket{_labels(self.label_names, labels, inf)} {running:g}"
            yield f"{self.name}_sum{_labels(self.label_names, labels)} {s[-1]:g}"
            yield f"{self.name}_count{_labels(self.label_names, labels)} {running:g}"


class Metrics:
    """Every metric the gateway exports. One instance per process, passed to whoever counts."""

    def __init__(self) -> None:
        tm = ("tenant", "model")
        self.cache = Counter("warmgate_cache_requests_total",
                             "Cache outcomes: hit, stale, miss, bypass.", (*tm, "result"))
        self.cache_tokens_saved = Counter("warmgate_cache_tokens_saved_total",
                                          "Provider tokens not spent thanks to cache hits (prompt + completion).", tm)
        self.cache_stores = Counter("warmgate_cache_stores_total", "Answers written to the cache.", tm)
        self.cache_coalesced = Counter("warmgate_cache_coalesced_total",
                                       "Requests that waited for an identical in-flight miss instead of calling the provider.", tm)
        self.store_errors = Counter("warmgate_cache_store_errors_total",
                                    "Cache store calls that failed, timed out or were short-circuited.", ("store", "op"))
        self.store_circuit = Gauge("warmgate_cache_store_circuit_open",
                                   "1 while the store's circuit breaker is open (in any worker).", ("store",), merge="max")
        self.semantic = Counter("warmgate_semantic_lookups_total",
                                "Semantic lookups after exact misses: hit, miss, unavailable (embedder/index failed).",
                                (*tm, "result"))
        self.semantic_refusals = Counter("warmgate_semantic_guard_refusals_total",
                                         "Candidates above the threshold that the lexical guard refused, by check.",
                                         ("check",))
        self.semantic_errors = Counter("warmgate_semantic_errors_total",
                                       "Embedder or vector index calls that failed or timed out, by stage.", ("stage",))
        self.semantic_stores = Counter("warmgate_semantic_stores_total", "Answers added to the semantic index.", tm)
        self.upstream = Counter("warmgate_upstream_requests_total", "Calls to provider accounts, by outcome.",
                                ("provider", "account", "outcome"))
        self.provider_prompt_tokens = Counter("warmgate_provider_prompt_tokens_total",
                                              "Prompt tokens reported by providers.", ("provider", "account", "model"))
        self.provider_cached_tokens = Counter("warmgate_provider_cached_tokens_total",
                                              "Prompt tokens the provider served from its prompt cache.",
                                              ("provider", "account", "model"))
        self.upstream_latency = Histogram("warmgate_upstream_seconds", "Time to the provider's response head.",
                                          ("provider", "account"))
        # Per-request accounting (observe/recorder.py); label values are bounded there. See docs/metrics.md.
        tgm = ("tenant", "gateway", "model")
        self.requests = Counter("warmgate_requests_total",
                                "Requests answered, by cache result (hit, stale, miss, bypass, none).", (*tgm, "cache"))
        self.hits = Counter("warmgate_cache_hits_total", "Cache hits by kind (exact, coalesced, semantic).",
                            (*tgm, "kind"))
        self.tokens_saved = Counter("warmgate_tokens_saved_total",
                                    "Provider tokens not spent thanks to gateway cache hits, by type (prompt, completion).",
                                    (*tgm, "type"))
        self.cost = Counter("warmgate_cost_usd_total", "Dollars billed by providers (list prices).",
                            (*tgm, "account"))
        self.cost_saved = Counter("warmgate_cost_saved_usd_total",
                                  "Dollars saved, by source: cache (gateway hits), prompt_cache (provider cache reads).",
                                  (*tgm, "source"))
        self.latency_saved = Counter("warmgate_latency_saved_seconds_total",
                                     "Seconds clients did not wait: the original upstream latency minus the hit's.", tgm)
        self.request_latency = Histogram("warmgate_request_seconds",
                                         "Gateway latency, from the whole request read to the response sent.",
                                         ("gateway", "cache"))
        self.provider_cache_write_tokens = Counter("warmgate_provider_cache_write_tokens_total",
                                                   "Prompt tokens written to the provider's prompt cache (Anthropic).",
                                                   ("provider", "account", "model"))
        self.errors = Counter("warmgate_gateway_errors_total", "Requests the gateway answered with its own error.",
                              ("gateway", "status"))
        self.account_healthy = Gauge("warmgate_account_healthy",
                                     "1 while no worker is cooling the account down.", ("provider", "account"),
                                     merge="min")
        self.account_in_flight = Gauge("warmgate_account_in_flight", "Calls in flight on the account.",
                                       ("provider", "account"))
        self.collectors: list[Callable[[], None]] = []  # refresh gauges just before a scrape

    def _metrics(self) -> Iterable[Counter | Histogram]:
        return (m for m in vars(self).values() if isinstance(m, Counter | Histogram))

    def snapshot(self) -> Snapshot:
        """Every metric's samples, up to date (the collectors run first), as JSON-ready lists."""
        for collect in self.collectors:
            collect()
        return {m.name: m.snapshot() for m in self._metrics()}

    def merged(self, others: Sequence[Snapshot]) -> Metrics:
        """A copy holding these metrics, as they are (the caller runs what collectors it needs),
        merged with other worker processes' snapshots: for reading, as `observe.stats` does."""
        out = Metrics()
        for name, metric in vars(self).items():
            copy = getattr(out, name)
            parts = [o[metric.name] for o in others if metric.name in o] if isinstance(metric, Counter | Histogram) else []
            if isinstance(metric, Counter):
                copy.values = dict(metric.merged(parts))
            elif isinstance(metric, Histogram):
                copy.series = {k: list(v) for k, v in metric.merged(parts).items()}
        return out

    def render(self, others: Sequence[Snapshot] = ()) -> bytes:
        """The Prometheus text of these metrics, merged with other worker processes' snapshots."""
        for collect in self.collectors:
            collect()
        lines: list[str] = []
        for metric in self._metrics():
            lines.extend(metric.render([o[metric.name] for o in others if metric.name in o]))
        return ("\n".join(lines) + "\n").encode()
