"""The shared index: PostgreSQL + pgvector, so several gateway instances see each other's entries.

One table (`warmgate_vectors` by default, created with the extension on first use):

    partition text COLLATE "C", item_id text COLLATE "C", embedding vector(D), text text,
    expires_at double precision, PRIMARY KEY (partition, item_id)
    + btree (item_id) for purges, btree (expires_at) for sweeps,
    + HNSW (embedding vector_cosine_ops) for big partitions.

A search must never leave its partition, and pgvector (before 0.8) filters an HNSW scan only after
it: the `ef_search` nearest rows of the whole table are fetched, then the other partitions' rows
are dropped, so a small partition would mostly come back empty. So a partition is searched exactly
through the primary key (ordering by `<#>`, the negative inner product, which equals the cosine on
unit vectors and which the cosine HNSW index cannot serve, so the planner never picks it), and only
a partition known to hold at least `ann_at` rows (its size is counted and remembered for a minute)
goes through the HNSW index; if that returns fewer than `k` rows the exact search runs after all.

The driver is asyncpg (a pool of `pool_size` connections made on first use, not reset between
calls; vectors are sent in pgvector's binary format, so a call is one round trip). Every call runs under `timeout`: a timeout, a refused
connection, a server that went away or any database error becomes `VectorIndexError`, and the
next call tries again.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import numpy as np

from warmgate.stores.sqlite import prefix_end
from warmgate.vectors.base import Match, VectorIndexError

T = TypeVar("T")

_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
SIZE_TTL = 60.0  # seconds a partition's counted size is trusted
MAX_SIZES = 10_000  # partitions whose size is remembered


class PgVectorIndex:
    """`VectorIndex` on PostgreSQL + pgvector (see the module docstring)."""

    def __init__(self, dsn: str, dimensions: int, *, table: str = "warmgate_vectors", timeout: float = 0.25,
                 connect_timeout: float = 2.0, pool_size: int = 4, hnsw_m: int = 16,
                 hnsw_ef_construction: int = 64, ef_search: int = 64, ann_at: int = 2048) -> None:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"bad table name {table!r}")
        self.dimensions = dimensions
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.ann_at = ann_at
        self._dsn = dsn
        self._table = table
        self._pool_size = pool_size
        self._hnsw = (hnsw_m, hnsw_ef_construction)
        self._ef_search = ef_search
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._sizes: dict[str, tuple[int, float]] = {}
        self._closed = False
        t = table
        q = "$2::vector"
        self._sql = {
            "add": f"INSERT INTO {t} (partition, item_id, embedding, text, expires_at)"
                   f" VALUES ($1, $3, {q}, $4, $5) ON CONFLICT (partition, item_id)"
                   " DO UPDATE SET embedding = EXCLUDED.embedding, text = EXCLUDED.text,"
                   " expires_at = EXCLUDED.expires_at",
            "exact": f"SELECT item_id, text, -(embedding <#> {q}) FROM {t}"
                     f" WHERE partition = $1 AND expires_at > $3 ORDER BY embedding <#> {q} LIMIT $4",
            "ann": f"SELECT item_id, text, 1 - (embedding <=> {q}) FROM {t}"
                   f" WHERE partition = $1 AND expires_at > $3 ORDER BY embedding <=> {q} LIMIT $4",
            "size": f"SELECT count(*) FROM {t} WHERE partition = $1",
            "remove": f"DELETE FROM {t} WHERE partition = $1 AND item_id = $2",
            "prefix": f"DELETE FROM {t} WHERE item_id >= $1 AND item_id < $2",
            "prefix_open": f"DELETE FROM {t} WHERE item_id >= $1",
            "sweep": f"DELETE FROM {t} WHERE expires_at <= $1",
        }

    # ---- the Protocol

    async def add(self, partition: str, item_id: str, vector: Any, text: str, expires_at: float) -> None:
        vec = self._checked(vector)
        await self._call(lambda c: c.execute(self._sql["add"], partition, vec, item_id, text, expires_at))

    async def search(self, partition: str, vector: Any, k: int, now: float) -> list[Match]:
        vec = self._checked(vector)
        if k < 1:
            return []

        async def work(conn: asyncpg.Connection) -> list[Match]:
            if await self._size(conn, partition) >= self.ann_at:
                rows = await conn.fetch(self._sql["ann"], partition, vec, now, k)
                if len(rows) >= k:
                    return [Match(r[0], float(r[2]), r[1]) for r in rows]
            rows = await conn.fetch(self._sql["exact"], partition, vec, now, k)
            return [Match(r[0], float(r[2]), r[1]) for r in rows]

        return await self._call(work)

    async def remove(self, partition: str, item_id: str) -> None:
        await self._call(lambda c: c.execute(self._sql["remove"], partition, item_id))

    async def delete_prefix(self, prefix: str) -> int:
        end = prefix_end(prefix)
        if end is None:
            status = await self._call(lambda c: c.execute(self._sql["prefix_open"], prefix))
        else:
            status = await self._call(lambda c: c.execute(self._sql["prefix"], prefix, end))
        return _count(status)

    async def sweep(self, now: float) -> int:
        return _count(await self._call(lambda c: c.execute(self._sql["sweep"], now)))

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await pool.close()
            except _ERRORS:
                pool.terminate()

    # ---- helpers

    def _checked(self, vector: Any) -> bytes:
        if self._closed:
            raise VectorIndexError("vector index is closed")
        try:
            vec = np.asarray(vector, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise VectorIndexError(f"not a vector: {exc}") from exc
        if vec.shape != (self.dimensions,):
            raise VectorIndexError(f"vector of shape {vec.shape}, the index holds {self.dimensions} dimensions")
        # pgvector's binary input: dimensions (int16), unused (int16), then big-endian float4s
        return struct.pack(">HH", self.dimensions, 0) + vec.astype(">f4").tobytes()

    async def _size(self, conn: asyncpg.Connection, partition: str) -> int:
        now = time.monotonic()
        known = self._sizes.get(partition)
        if known is not None and now - known[1] < SIZE_TTL:
            return known[0]
        size = int(await conn.fetchval(self._sql["size"], partition))
        if len(self._sizes) >= MAX_SIZES:
            self._sizes.clear()
        self._sizes[partition] = (size, now)
        return size

    async def _call(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if self._closed:
            raise VectorIndexError("vector index is closed")
        try:
            pool = self._pool or await self._open()
            async with asyncio.timeout(self.timeout), pool.acquire() as conn:
                return await fn(conn)
        except _ERRORS as exc:
            raise VectorIndexError(f"pgvector: {type(exc).__name__}: {exc}") from exc

    async def _open(self) -> asyncpg.Pool:
        """Create the extension, the table and its indexes (once, under an advisory lock, so that
        instances starting together do not race), then the pool."""
        async with self._opening:
            if self._pool is not None:
                return self._pool
            async with asyncio.timeout(self.connect_timeout):
                conn = await asyncpg.connect(self._dsn)
                try:
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock(7269121431)")
                        await conn.execute(self._schema())
                    schema = await conn.fetchval(
                        "SELECT n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                        " WHERE t.typname = 'vector'"
                    )
                finally:
                    await conn.close()

                async def init(c: asyncpg.Connection) -> None:
                    # vectors travel in pgvector's binary format, already encoded by `_checked`
                    await c.set_type_codec("vector", schema=schema, encoder=bytes, decoder=bytes, format="binary")

                pool: asyncpg.Pool = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=self._pool_size, init=init, reset=_keep,
                    server_settings={"hnsw.ef_search": str(self._ef_search)},
                )
            if self._closed:
                await pool.close()
                raise VectorIndexError("vector index is closed")
            self._pool = pool
            return pool

    def _schema(self) -> str:
        t, (m, efc) = self._table, self._hnsw
        return f"""
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS {t} (
    partition text COLLATE "C" NOT NULL,
    item_id text COLLATE "C" NOT NULL,
    embedding vector({self.dimensions}) NOT NULL,
    text text NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (partition, item_id)
);
CREATE INDEX IF NOT EXISTS {t}_item ON {t} (item_id);
CREATE INDEX IF NOT EXISTS {t}_expiry ON {t} (expires_at);
CREATE INDEX IF NOT EXISTS {t}_hnsw ON {t} USING hnsw (embedding vector_cosine_ops)
    WITH (m = {int(m)}, ef_construction = {int(efc)});
"""


async def _keep(conn: asyncpg.Connection) -> None:
    """No reset when a connection goes back to the pool (asyncpg's default costs a round trip per
    call): this index never leaves session state behind."""


def _count(status: str) -> int:
    """Rows of a command status such as 'DELETE 3'."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0
