"""Vector index latency: add and search p50/p95/p99 at 10k and 100k entries, per index.

    python bench/semantic/index.py                              # memory, sqlite, pgvector; 10k and 100k
    python bench/semantic/index.py --indexes memory --sizes 100000
    python bench/semantic/index.py --dsn postgresql://...      # an existing PostgreSQL with pgvector

Two layouts per size: `one` (every entry in one partition: the worst case, a single system prompt
and single-turn questions) and `many` (1 000 partitions of equal size). Per cell:
- `search`: one query at a time through the async API (what a lookup on an exact miss costs),
  fresh queries (misses, the common case) after an untimed warm-up pass; `cpu p95` is the CPU time
  of the calling thread (what the lookup costs when the machine is not shared; for pgvector the
  work is in the server);
- `near@1`: share of near queries (a stored vector plus noise) whose source entry comes back first;
- `add`: inserting new entries one at a time into the filled index;
- `base`: exact numpy search over the same partition (float32 matrix-vector products in blocks of
  1 024 rows, which keeps OpenBLAS on one thread), measured in the same run, and the ratio
  search p50 / base p50.
The memory index is filled with its graph builds paused, then builds (threads: --threads); the
SQLite index is filled in the file and then opened, so `fill` is its restart time (load + builds);
pgvector is filled by batched inserts, then its HNSW index is built. PostgreSQL is a throwaway
cluster (tests/pg_server.py) unless --dsn is given. Data: bench/semantic/data.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE.parent.parent / "src"))

from data import F32, corpus, fresh_queries, near_queries, percentiles, perturb  # noqa: E402

from warmgate.vectors.base import VectorIndex  # noqa: E402
from warmgate.vectors.memory import MemoryVectorIndex  # noqa: E402
from warmgate.vectors.pgvector import PgVectorIndex  # noqa: E402
from warmgate.vectors.sqlite import SCHEMA, SqliteVectorIndex  # noqa: E402

NOW = 1_700_000_000.0
LATER = NOW + 86_400
PARTS = 1000


def layout(n: int, kind: str) -> list[str]:
    return ["one"] * n if kind == "one" else [f"p{i % PARTS}" for i in range(n)]


async def fill_memory(base: F32, parts: list[str], threads: int) -> tuple[VectorIndex, float]:
    index = MemoryVectorIndex(base.shape[1], build_threads=threads)
    t = time.perf_counter()
    index.pause_builds()
    for i, (p, v) in enumerate(zip(parts, base, strict=True)):
        index.put(p, f"i{i}", v, f"text {i}", LATER)
    index.resume_builds()
    await index.wait_built()
    return index, time.perf_counter() - t


async def fill_sqlite(base: F32, parts: list[str], threads: int, tmp: Path) -> tuple[VectorIndex, float]:
    path = tmp / f"v{len(base)}-{parts[-1]}.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.executemany(
            "INSERT INTO vectors (partition, item_id, vector, text, expires_at) VALUES (?, ?, ?, ?, ?)",
            ((p, f"i{i}", v.tobytes(), f"text {i}", LATER) for i, (p, v) in enumerate(zip(parts, base, strict=True))),
        )
    index = SqliteVectorIndex(path, base.shape[1], clock=lambda: NOW, build_threads=threads)
    t = time.perf_counter()
    await index.wait_built()
    return index, time.perf_counter() - t


async def fill_pg(base: F32, parts: list[str], dsn: str) -> tuple[VectorIndex, float]:
    import asyncpg

    table = f"bench_{len(base)}_{parts[-1]}"
    conn = await asyncpg.connect(dsn)
    await conn.execute(f"DROP TABLE IF EXISTS {table}")
    index = PgVectorIndex(dsn, base.shape[1], table=table, timeout=30.0, connect_timeout=30.0)
    await index.sweep(0)  # creates the table and its indexes
    await conn.set_type_codec("vector", schema="public", encoder=bytes, decoder=bytes, format="binary")
    t = time.perf_counter()
    await conn.execute(f"DROP INDEX {table}_hnsw")
    rows = [(p, index._checked(v), f"i{i}", f"text {i}", LATER)
            for i, (p, v) in enumerate(zip(parts, base, strict=True))]
    sql = index._sql["add"]
    for start in range(0, len(rows), 5000):
        await conn.executemany(sql, rows[start : start + 5000])
    await conn.execute("SET maintenance_work_mem = '1GB'")
    await conn.execute(f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)"
                       " WITH (m = 16, ef_construction = 64)")
    await conn.execute(f"ANALYZE {table}")
    took = time.perf_counter() - t
    await conn.close()
    return index, took


async def measure(index: VectorIndex, base: F32, parts: list[str], queries: int, k: int) -> dict[str, Any]:
    n, dim = base.shape
    fresh = fresh_queries(queries, dim)
    near_idx = np.random.default_rng(11).integers(0, n, queries)
    near = perturb(base[near_idx], seed=12)
    qparts = [parts[i] for i in near_idx]
    fparts = [parts[(j * 7919) % n] for j in range(queries)]
    for q, p in zip(fresh, fparts, strict=True):  # warm-up, untimed
        await index.search(p, q, k, NOW)
    lat, cpu = [], []
    for q, p in zip(fresh, fparts, strict=True):
        t, c = time.perf_counter(), time.thread_time()
        await index.search(p, q, k, NOW)
        cpu.append(time.thread_time() - c)
        lat.append(time.perf_counter() - t)
    hits = 0
    for j, (q, p) in enumerate(zip(near, qparts, strict=True)):
        got = await index.search(p, q, k, NOW)
        hits += bool(got) and got[0].item_id == f"i{near_idx[j]}"
    # exact numpy over the same partition: the baseline
    members: dict[str, list[int]] = {}
    for i, p in enumerate(parts):
        members.setdefault(p, []).append(i)
    blocks = {p: np.ascontiguousarray(base[ix]) for p, ix in members.items()}
    base_lat = []
    for q, p in zip(fresh, fparts, strict=True):
        t = time.perf_counter()
        block = blocks[p]
        s = np.concatenate([block[i : i + 1024] @ q for i in range(0, len(block), 1024)])
        top = np.argpartition(-s, min(k, len(s) - 1))[:k]
        top[np.argsort(-s[top])]
        base_lat.append(time.perf_counter() - t)
    extra = near_queries(base, queries, seed=13)
    add_lat = []
    for j, v in enumerate(extra):
        t = time.perf_counter()
        await index.add(fparts[j], f"new{j}", v, "new", LATER)
        add_lat.append(time.perf_counter() - t)
    return {"search": percentiles(lat), "cpu": percentiles(cpu), "base": percentiles(base_lat), "add": percentiles(add_lat),
            "near@1": hits / queries}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--indexes", nargs="+", default=["memory", "sqlite", "pgvector"])
    ap.add_argument("--layouts", nargs="+", default=["one", "many"])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--dsn", default=None)
    args = ap.parse_args()

    server = None
    dsn = args.dsn
    if "pgvector" in args.indexes and dsn is None:
        from tests.pg_server import PgServer

        server = PgServer()
        dsn = server.dsn
    print(f"dim={args.dim} k={args.k} queries={args.queries} threads={args.threads}; times in ms")
    print(f"{'index':<9} {'n':>7} {'layout':<5} {'fill s':>7} {'search p50':>10} {'p95':>6} {'p99':>6} "
          f"{'cpu p95':>7} {'base p50':>8} {'p95':>6} {'x base':>6} {'near@1':>6} {'add p50':>7} {'p95':>6} {'p99':>6}", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                base = corpus(n, args.dim)
                for lay in args.layouts:
                    parts = layout(n, lay)
                    for kind in args.indexes:
                        if kind == "memory":
                            index, fill = await fill_memory(base, parts, args.threads)
                        elif kind == "sqlite":
                            index, fill = await fill_sqlite(base, parts, args.threads, Path(tmp))
                        else:
                            assert dsn is not None
                            index, fill = await fill_pg(base, parts, dsn)
                        r = await measure(index, base, parts, args.queries, args.k)
                        await index.close()
                        s, b, a = r["search"], r["base"], r["add"]
                        print(f"{kind:<9} {n:>7} {lay:<5} {fill:>7.1f} {s['p50']:>10.3f} {s['p95']:>6.3f} "
                              f"{s['p99']:>6.3f} {r['cpu']['p95']:>7.3f} {b['p50']:>8.3f} {b['p95']:>6.3f} {s['p50'] / b['p50']:>6.2f} "
                              f"{r['near@1']:>6.3f} {a['p50']:>7.3f} {a['p95']:>6.3f} {a['p99']:>6.3f}", flush=True)
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    asyncio.run(main())
