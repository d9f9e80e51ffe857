"""CacheFlow's outcome counts: kept per (tenant, model) in lists, made Prometheus counters when
scraped, and bounded in how many pairs they keep apart."""

from __future__ import annotations

from warmgate.cache.flow import HIT, MISS, STORES, TOKENS_SAVED, CacheFlow
from warmgate.cache.service import ResponseCache
from warmgate.config import CacheConfig
from warmgate.metrics import Metrics
from warmgate.stores.memory import MemoryStore


def _flow() -> tuple[CacheFlow, Metrics]:
    metrics = Metrics()
    store = MemoryStore(1 << 20)
    return CacheFlow(CacheConfig(), ResponseCache(store, "memory", metrics, now=store), metrics), metrics


def test_counts_become_the_prometheus_counters_when_scraped() -> None:
    flow, metrics = _flow()
    counts = flow.counts("team-a", "gpt-x")
    assert flow.counts("team-a", "gpt-x") is counts  # one list per pair
    counts[MISS] += 2
    counts[HIT] += 1
    counts[STORES] += 2
    counts[TOKENS_SAVED] += 250
    assert metrics.cache.values == {}  # nothing until a scrape
    text = metrics.render().decode()
    assert 'warmgate_cache_requests_total{tenant="team-a",model="gpt-x",result="miss"} 2' in text
    assert 'warmgate_cache_requests_total{tenant="team-a",model="gpt-x",result="hit"} 1' in text
    assert 'result="stale"' not in text  # outcomes never seen are not exported
    assert 'warmgate_cache_stores_total{tenant="team-a",model="gpt-x"} 2' in text
    assert 'warmgate_cache_tokens_saved_total{tenant="team-a",model="gpt-x"} 250' in text
    counts[MISS] += 1
    assert 'result="miss"} 3' in metrics.render().decode()  # a later scrape sees later counts


def test_pairs_past_the_bound_count_under_other() -> None:
    flow, metrics = _flow()
    assert flow.max_counts == 4096
    flow.max_counts = 3
    kept = [flow.counts("t", f"m{i}") for i in range(3)]
    late = flow.counts("t", "m-late")
    assert late is flow.counts("t", "m-later") and all(late is not c for c in kept)
    late[MISS] += 5
    assert flow.counts("t", "m0") is kept[0]  # pairs seen before the bound keep their own counts
    assert 'warmgate_cache_requests_total{tenant="other",model="other",result="miss"} 5' in metrics.render().decode()
