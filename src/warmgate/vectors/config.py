"""Settings of the vector index (the `index:` part of the semantic section), validated once, frozen.

    index:
      kind: memory | sqlite | pgvector
      memory:   {max_items, graph_at, build_threads}   # also the in-memory part of `sqlite`
      sqlite:   {path, timeout}
      pgvector: {dsn, table, timeout, connect_timeout, pool_size, hnsw_m, hnsw_ef_construction,
                 ef_search, ann_at}

`build_index(cfg, dimensions)` in `warmgate.vectors.factory` turns it into an index.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Model(BaseModel):
    """Like `warmgate.config._Model`; not imported from there, because `warmgate.config` embeds
    `VectorIndexConfig` in its `semantic:` section (an import cycle otherwise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

_IDENT = r"^[a-z_][a-z0-9_]{0,62}$"


class MemoryIndexConfig(_Model):
    max_items: int = Field(default=1_000_000, ge=1, description="live items kept; above it the soonest to expire go")
    graph_at: int = Field(
        default=2048, ge=8, description="a partition of this many items is searched by an HNSW graph, below exactly"
    )
    build_threads: int = Field(default=1, ge=1, le=64, description="threads that build one graph")


class SqliteIndexConfig(_Model):
    path: str = Field(
        default="warmgate-cache.sqlite3",
        description="the SQLite file (the response cache's own file by default; the table is `vectors`)",
    )
    timeout: float = Field(default=5.0, gt=0, description="seconds a write may wait for the file's lock")


class PgvectorIndexConfig(_Model):
    dsn: SecretStr = Field(description="postgresql://user:password@host:port/db")
    table: str = Field(default="warmgate_vectors", pattern=_IDENT)
    timeout: float = Field(default=0.25, gt=0, description="seconds one call may take; then VectorIndexError")
    connect_timeout: float = Field(default=2.0, gt=0)
    pool_size: int = Field(default=4, ge=1, le=100)
    hnsw_m: int = Field(default=16, ge=2, le=100)
    hnsw_ef_construction: int = Field(default=64, ge=4, le=1000)
    ef_search: int = Field(default=64, ge=1, le=1000)
    ann_at: int = Field(
        default=2048, ge=1, description="a partition of this many rows is searched by the HNSW index, below exactly"
    )


class VectorIndexConfig(_Model):
    kind: Literal["memory", "sqlite", "pgvector"] = "memory"
    memory: MemoryIndexConfig = MemoryIndexConfig()
    sqlite: SqliteIndexConfig = SqliteIndexConfig()
    pgvector: PgvectorIndexConfig | None = None

    @model_validator(mode="after")
    def _needs_dsn(self) -> VectorIndexConfig:
        if self.kind == "pgvector" and self.pgvector is None:
            raise ValueError("kind pgvector needs a `pgvector:` section with a dsn")
        return self
