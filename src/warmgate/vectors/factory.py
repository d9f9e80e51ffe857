"""The one place that picks a concrete vector index; its optional dependencies are imported here only."""

from __future__ import annotations

import time
from collections.abc import Callable

from warmgate.vectors.base import VectorIndex
from warmgate.vectors.config import VectorIndexConfig


def build_index(cfg: VectorIndexConfig, dimensions: int, clock: Callable[[], float] = time.time) -> VectorIndex:
    """The index named by `cfg.kind`, for unit vectors of `dimensions`. Nothing here does I/O: the
    SQLite index loads its rows on its worker thread and PostgreSQL is connected on first use.
    `clock` (unix seconds) decides which stored rows are already expired when the SQLite index loads."""
    # numpy and usearch come with the `semantic` extra, asyncpg with `pgvector`.
    if cfg.kind == "memory":
        from warmgate.vectors.memory import MemoryVectorIndex

        m = cfg.memory
        return MemoryVectorIndex(dimensions, max_items=m.max_items, graph_at=m.graph_at, build_threads=m.build_threads)
    if cfg.kind == "sqlite":
        from warmgate.vectors.sqlite import SqliteVectorIndex

        m = cfg.memory
        return SqliteVectorIndex(
            cfg.sqlite.path,
            dimensions,
            timeout=cfg.sqlite.timeout,
            clock=clock,
            max_items=m.max_items,
            graph_at=m.graph_at,
            build_threads=m.build_threads,
        )
    from warmgate.vectors.pgvector import PgVectorIndex

    assert cfg.pgvector is not None  # the config's validator guarantees it
    p = cfg.pgvector
    return PgVectorIndex(
        p.dsn.get_secret_value(),
        dimensions,
        table=p.table,
        timeout=p.timeout,
        connect_timeout=p.connect_timeout,
        pool_size=p.pool_size,
        hnsw_m=p.hnsw_m,
        hnsw_ef_construction=p.hnsw_ef_construction,
        ef_search=p.ef_search,
        ann_at=p.ann_at,
    )
