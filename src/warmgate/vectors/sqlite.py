"""The in-process index made durable: every change is written through to a SQLite table, and the
index is rebuilt from it on start (rows already expired are deleted, not loaded).

The table `vectors` lives in the response cache's SQLite file by default (`cache.sqlite.path`): one
file to back up, move or delete holds both the answers and the vectors that point at them, and a
WAL-mode file takes a second connection without trouble (readers never block; the two writers queue
on the file's lock for the microseconds a small insert takes). A sibling file works the same: set
`path`.

Searches never touch the disk: they run on the in-memory index (`MemoryVectorIndex`). Writes go to
the file first, on a dedicated worker thread that owns the only connection, and change the memory
index only once stored, so the two never disagree after a failure. Every call waits for the initial
load, which reads the rows on the worker thread and inserts them in chunks that yield to the loop;
graphs of big partitions are then built on threads (exact search serves them meanwhile).

Several processes may share the file, but each keeps its own in-memory index, loaded at its start:
an item added by another process is seen after a restart. Gateways that must see each other's
entries at once share a pgvector index instead.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from warmgate.sqlite_file import open_sqlite
from warmgate.stores.sqlite import prefix_end
from warmgate.vectors.base import Match, VectorIndexError
from warmgate.vectors.memory import F32, YIELD_EVERY, MemoryVectorIndex

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    partition TEXT NOT NULL,
    item_id TEXT NOT NULL,
    vector BLOB NOT NULL,
    text TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (partition, item_id)
);
CREATE INDEX IF NOT EXISTS vectors_item ON vectors (item_id);
CREATE INDEX IF NOT EXISTS vectors_expiry ON vectors (expires_at);
"""

Row = tuple[str, str, F32, str, float]


class SqliteVectorIndex:
    """`VectorIndex` = `MemoryVectorIndex` + write-through to the `vectors` table of `path`.
    `clock` (unix seconds) decides which rows are expired at load; `memory` options go to the
    in-memory index."""

    def __init__(self, path: str | Path, dimensions: int, *, timeout: float = 5.0,
                 clock: Callable[[], float] = time.time, **memory: Any) -> None:
        self.path = str(path)
        self.dimensions = dimensions
        self.timeout = timeout
        self._clock = clock
        self._mem = MemoryVectorIndex(dimensions, **memory)
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmgate-vectors")
        self._loading: asyncio.Task[None] | None = None
        self._loaded = False
        self._closed = False

    # ---- the Protocol

    async def add(self, partition: str, item_id: str, vector: Any, text: str, expires_at: float) -> None:
        vec = self._mem.checked(vector)
        await self._ready()
        blob = vec.tobytes()
        await self._run(lambda c: c.execute(
            "INSERT OR REPLACE INTO vectors (partition, item_id, vector, text, expires_at) VALUES (?, ?, ?, ?, ?)",
            (partition, item_id, blob, text, expires_at),
        ))
        self._mem.put(partition, item_id, vec, text, expires_at)

    async def search(self, partition: str, vector: Any, k: int, now: float) -> list[Match]:
        self._mem.checked(vector)
        await self._ready()
        return await self._mem.search(partition, vector, k, now)

    async def remove(self, partition: str, item_id: str) -> None:
        await self._ready()
        await self._run(lambda c: c.execute(
            "DELETE FROM vectors WHERE partition = ? AND item_id = ?", (partition, item_id)
        ))
        self._mem.drop(partition, item_id)

    async def delete_prefix(self, prefix: str) -> int:
        await self._ready()
        end = prefix_end(prefix)
        if end is None:
            await self._run(lambda c: c.execute("DELETE FROM vectors WHERE item_id >= ?", (prefix,)))
        else:
            await self._run(lambda c: c.execute(
                "DELETE FROM vectors WHERE item_id >= ? AND item_id < ?", (prefix, end)
            ))
        return await self._mem.delete_prefix(prefix)

    async def sweep(self, now: float) -> int:
        await self._ready()
        await self._run(lambda c: c.execute("DELETE FROM vectors WHERE expires_at <= ?", (now,)))
        return await self._mem.sweep(now)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loading is not None:
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
        await self._mem.close()

        def work() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except sqlite3.Error as exc:
            raise VectorIndexError(f"sqlite: {exc}") from exc
        finally:
            self._executor.shutdown(wait=False)

    # ---- helpers

    def __len__(self) -> int:
        return len(self._mem)

    async def wait_built(self) -> None:
        await self._ready()
        await self._mem.wait_built()

    async def _ready(self) -> None:
        """Wait for the initial load (started by the first call); a failed load is retried next call."""
        if self._loaded:
            return
        if self._closed:
            raise VectorIndexError("vector index is closed")
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._load())
        task = self._loading
        try:
            await asyncio.shield(task)
        except VectorIndexError:
            if self._loading is task:
                self._loading = None
            raise

    async def _load(self) -> None:
        now = self._clock()
        rows = await self._run(lambda c: self._read_live(c, now))
        self._mem.pause_builds()
        try:
            for n, row in enumerate(rows, 1):
                self._mem.put(*row)
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        finally:
            self._mem.resume_builds()
        self._loaded = True

    def _read_live(self, conn: sqlite3.Connection, now: float) -> list[Row]:
        conn.execute("DELETE FROM vectors WHERE expires_at <= ?", (now,))
        size = 4 * self.dimensions
        # rows of another dimension (a different embedder was configured) can never match: drop them
        conn.execute("DELETE FROM vectors WHERE length(vector) != ?", (size,))
        return [
            (p, i, np.frombuffer(v, dtype=np.float32), t, e)
            for p, i, v, t, e in conn.execute("SELECT partition, item_id, vector, text, expires_at FROM vectors")
        ]

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_sqlite(self.path, SCHEMA, timeout=self.timeout)
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise VectorIndexError("vector index is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(self._open()))
        except (sqlite3.Error, OSError) as exc:
            raise VectorIndexError(f"sqlite: {exc}") from exc
