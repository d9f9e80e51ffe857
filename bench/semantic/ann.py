"""hnswlib vs usearch (vs brute-force numpy) for the in-process vector index.

    python bench/semantic/ann.py                 # 100 000 vectors of dim 384, ~2 min on 2 cores
    python bench/semantic/ann.py --n 20000       # quicker

Per library: build time (of the first 20 000 vectors on one thread, of all on `--threads`), memory of the index (RSS growth), query
latency p50/p95/p99 for one query at a time (as the gateway asks), recall@1 and recall@5 against exact
brute force for *near* queries (a stored vector plus noise: the paraphrase case) and *fresh* queries
(new draws: the usual miss), and the cost of a delete and an update. Brute force (one float32 matrix
product in numpy) is the baseline, measured in the same run. Data: bench/semantic/data.py.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import F32, corpus, fresh_queries, near_queries, percentiles

M = 16
EF_CONSTRUCTION = 100
EF_SEARCH = 64
SMALL = 20_000  # the single-threaded build is timed on this many vectors (it is slow at 100k)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def exact(base: F32, queries: F32, k: int) -> np.ndarray[Any, Any]:
    scores = queries @ base.T
    return np.argsort(-scores, axis=1)[:, :k]


def recall(found: list[list[int]], truth: np.ndarray[Any, Any], k: int) -> float:
    hits = sum(len(set(f[:k]) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True))
    return hits / (k * len(found))


def time_queries(fn: Any, queries: F32, k: int) -> tuple[list[float], list[list[int]]]:
    lat, out = [], []
    for q in queries:
        t = time.perf_counter()
        ids = fn(q, k)
        lat.append(time.perf_counter() - t)
        out.append(ids)
    return lat, out


def measure_queries(res: dict[str, Any], q: Any, queries: dict[str, F32], truth: dict[str, Any], k: int) -> None:
    """Query latency percentiles (fresh queries) and recall@1/@5 (near and fresh) of search `q`, into `res`."""
    lat, _ = time_queries(q, queries["fresh"], k)
    res["query"] = percentiles(lat)
    res["recall"] = {}
    for kind in ("near", "fresh"):
        _, found = time_queries(q, queries[kind], k)
        res["recall"][f"{kind}@1"] = recall(found, truth[kind], 1)
        res["recall"][f"{kind}@5"] = recall(found, truth[kind], 5)


def bench_brute(base: F32, queries: dict[str, F32], k: int) -> dict[str, Any]:
    def q(v: F32, k: int) -> list[int]:
        s = base @ v
        top = np.argpartition(-s, k)[:k]
        return top[np.argsort(-s[top])].tolist()  # type: ignore[no-any-return]

    res: dict[str, Any] = {"name": "numpy brute force", "build_s": 0.0, "mem_mb": base.nbytes / 1e6}
    lat, _ = time_queries(q, queries["fresh"], k)
    res["query"] = percentiles(lat)
    res["recall"] = {"near@1": 1.0, "near@5": 1.0, "fresh@1": 1.0, "fresh@5": 1.0}
    return res


def bench_hnswlib(base: F32, queries: dict[str, F32], truth: dict[str, Any], k: int, threads: int) -> dict[str, Any]:
    import hnswlib

    n, dim = base.shape
    labels = np.arange(n)
    res: dict[str, Any] = {"name": f"hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else ''}"}
    small = min(n, SMALL)
    one = hnswlib.Index(space="ip", dim=dim)
    one.init_index(max_elements=small, M=M, ef_construction=EF_CONSTRUCTION)
    t = time.perf_counter()
    one.add_items(base[:small], labels[:small], num_threads=1)
    res["build_small_1t"] = time.perf_counter() - t
    del one
    gc.collect()
    before = rss_mb()
    idx = hnswlib.Index(space="ip", dim=dim)
    idx.init_index(max_elements=n + 1000, M=M, ef_construction=EF_CONSTRUCTION, allow_replace_deleted=True)
    t = time.perf_counter()
    idx.add_items(base, labels, num_threads=threads)
    res["build_s"] = time.perf_counter() - t
    res["mem_mb"] = rss_mb() - before
    idx.set_ef(EF_SEARCH)
    idx.set_num_threads(1)

    def q(v: F32, k: int) -> list[int]:
        lab, _ = idx.knn_query(v, k=k)
        return lab[0].tolist()  # type: ignore[no-any-return]

    measure_queries(res, q, queries, truth, k)
    # deletes (mark_deleted) and updates (re-adding an existing label replaces its vector)
    t = time.perf_counter()
    for i in range(1000):
        idx.mark_deleted(i)
    res["delete_us"] = (time.perf_counter() - t) / 1000 * 1e6
    rng = np.random.default_rng(3)
    upd = base[1000:2000] + 0.01 * rng.standard_normal((1000, dim), dtype=np.float32)
    t = time.perf_counter()
    for i in range(1000):
        idx.add_items(upd[i : i + 1], np.array([1000 + i]), num_threads=1)
    res["update_us"] = (time.perf_counter() - t) / 1000 * 1e6
    t = time.perf_counter()
    for i in range(1000):
        idx.add_items(base[i : i + 1], np.array([n + i]), num_threads=1, replace_deleted=True)
    res["insert_us"] = (time.perf_counter() - t) / 1000 * 1e6
    return res


def bench_usearch(base: F32, queries: dict[str, F32], truth: dict[str, Any], k: int, threads: int,
                  dtype: str) -> dict[str, Any]:
    import usearch
    from usearch.index import Index

    n, dim = base.shape
    keys = np.arange(n, dtype=np.uint64)
    res: dict[str, Any] = {"name": f"usearch {usearch.__version__} ({dtype})"}
    small = min(n, SMALL)

    def make() -> Any:
        return Index(ndim=dim, metric="ip", dtype=dtype, connectivity=M, expansion_add=EF_CONSTRUCTION,
                     expansion_search=EF_SEARCH)

    one = make()
    t = time.perf_counter()
    one.add(keys[:small], base[:small], threads=1)
    res["build_small_1t"] = time.perf_counter() - t
    del one
    gc.collect()
    before = rss_mb()
    idx = make()
    t = time.perf_counter()
    idx.add(keys, base, threads=threads)
    res["build_s"] = time.perf_counter() - t
    res["mem_mb"] = rss_mb() - before

    def q(v: F32, k: int) -> list[int]:
        m = idx.search(v, k, threads=1)
        return m.keys.tolist()  # type: ignore[no-any-return]

    measure_queries(res, q, queries, truth, k)
    t = time.perf_counter()
    for i in range(1000):
        idx.remove(i)
    res["delete_us"] = (time.perf_counter() - t) / 1000 * 1e6
    rng = np.random.default_rng(3)
    upd = base[1000:2000] + 0.01 * rng.standard_normal((1000, dim), dtype=np.float32)
    t = time.perf_counter()
    for i in range(1000):  # an update is remove + add
        idx.remove(1000 + i)
        idx.add(1000 + i, upd[i], threads=1)
    res["update_us"] = (time.perf_counter() - t) / 1000 * 1e6
    t = time.perf_counter()
    for i in range(1000):
        idx.add(n + i, base[i], threads=1)
    res["insert_us"] = (time.perf_counter() - t) / 1000 * 1e6
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    base = corpus(args.n, args.dim)
    queries = {"near": near_queries(base, args.queries), "fresh": fresh_queries(args.queries, args.dim)}
    truth = {kind: exact(base, q, args.k) for kind, q in queries.items()}
    print(f"n={args.n} dim={args.dim} queries={args.queries} k={args.k} M={M} "
          f"ef_construction={EF_CONSTRUCTION} ef_search={EF_SEARCH} threads={args.threads}")
    results = [bench_brute(base, queries, args.k)]
    print("brute force done", flush=True)
    results.append(bench_hnswlib(base, queries, truth, args.k, args.threads))
    gc.collect()
    for dtype in ("f32", "f16"):
        results.append(bench_usearch(base, queries, truth, args.k, args.threads, dtype))
        gc.collect()
    hdr = (f"{'index':<22} {'build 20k 1t s':>14} {'build all s':>11} {'mem MB':>7} {'p50 ms':>7} {'p95 ms':>7} "
           f"{'p99 ms':>7} {'near@1':>6} {'near@5':>6} {'fresh@1':>7} {'fresh@5':>7} {'del us':>6} "
           f"{'upd us':>6} {'ins us':>6}")
    print(hdr)
    base_p50 = results[0]["query"]["p50"]
    for r in results:
        q, rc = r["query"], r["recall"]
        print(f"{r['name']:<22} {r.get('build_small_1t', 0.0):>14.2f} {r.get('build_s', 0.0):>11.2f} "
              f"{r['mem_mb']:>7.0f} {q['p50']:>7.3f} {q['p95']:>7.3f} {q['p99']:>7.3f} "
              f"{rc['near@1']:>6.3f} {rc['near@5']:>6.3f} {rc['fresh@1']:>7.3f} {rc['fresh@5']:>7.3f} "
              f"{r.get('delete_us', 0):>6.1f} {r.get('update_us', 0):>6.0f} {r.get('insert_us', 0):>6.0f}")
    print("query p50 vs brute force: " + ", ".join(
        f"{r['name']} x{base_p50 / r['query']['p50']:.1f}" for r in results[1:]))
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
