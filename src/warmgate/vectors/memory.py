"""The in-process vector index: exact numpy search for small partitions, a usearch HNSW graph for big ones.

Partitions are many and mostly small (one per tenant, model, system prompt, tools and earlier turns),
and a search never leaves its partition. So one global graph with a partition filter would walk
mostly foreign nodes for a small partition, while a graph per partition costs ~50 KB even for one
item. Instead a partition keeps its rows in a float32 matrix and is searched exactly (one
matrix-vector product per block of 1 024 rows: ~0.03 ms a block) until it holds `graph_at` (2 048) items;
then an HNSW graph (usearch, inner product on unit vectors = cosine) is built for it on a worker
thread, and the partition moves to it once built (changes made meanwhile are replayed). A graph
partition that shrinks below `graph_at / 4` goes back to a matrix; a graph whose removed nodes
outnumber its live ones is rebuilt. Measurements behind these choices: bench/semantic/ann.py and
docs/semantic.md.

All state is touched only on the event loop, and every call returns without awaiting anything
except `close` (and `search` on a graph costs well under a millisecond); graph builds run on threads.
`usearch` and `numpy` are imported by the factory that picks this index (the `semantic` extra).

Expiry: `search` skips items whose `expires_at <= now`; `sweep` removes them, in expiry order from a
heap. Above `max_items` live items, `add` first drops the items that expire soonest.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from typing import Any

import numpy as np
import numpy.typing as npt

# Loaded after usearch's compiled module, onnxruntime crashes the process at import (a segfault in
# its native initialisation; usearch 2.26.6 + onnxruntime 1.32.0, reproduced here both ways round:
# onnxruntime first is fine). Both come with the `semantic` extra, and the offline embedder needs
# onnxruntime anyway, so it is loaded first here when installed.
with contextlib.suppress(ImportError):
    import onnxruntime  # noqa: F401
from usearch.index import Index

from warmgate.vectors.base import Match, VectorIndexError

F32 = npt.NDArray[np.float32]

CONNECTIVITY = 16  # HNSW M
EXPANSION_ADD = 100  # ef_construction
EXPANSION_SEARCH = 64  # ef (recall@1 1.0, recall@5 >= 0.99 at 100k: bench/semantic/ann.py)
YIELD_EVERY = 4096  # items handled between yields to the loop in long scans
# Rows per matrix-vector product. OpenBLAS spreads a bigger product over threads, which costs
# ~10 ms at 4 096 rows on a busy 2-core machine instead of ~0.03 ms per 1 024-row block on one.
CHUNK = 1024
MAX_REPLAY = 64  # changes made during a graph build replayed onto it; more: build again


class _Matrix:
    """Rows `0..n-1` of `vecs` are live items; removal moves the last row into the hole."""

    __slots__ = ("exp", "ids", "n", "row", "texts", "vecs")

    def __init__(self, dim: int, cap: int = 8) -> None:
        self.vecs: F32 = np.empty((cap, dim), dtype=np.float32)
        self.exp = np.empty(cap, dtype=np.float64)
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.row: dict[str, int] = {}
        self.n = 0

    def put(self, item_id: str, vec: F32, text: str, expires_at: float) -> None:
        r = self.row.get(item_id)
        if r is None:
            if self.n == len(self.vecs):
                cap = 2 * len(self.vecs)
                self.vecs = np.resize(self.vecs, (cap, self.vecs.shape[1]))
                self.exp = np.resize(self.exp, cap)
            r = self.n
            self.n += 1
            self.ids.append(item_id)
            self.texts.append(text)
            self.row[item_id] = r
        else:
            self.texts[r] = text
        self.vecs[r] = vec
        self.exp[r] = expires_at

    def drop(self, item_id: str) -> bool:
        r = self.row.pop(item_id, None)
        if r is None:
            return False
        last = self.n - 1
        if r != last:
            self.vecs[r] = self.vecs[last]
            self.exp[r] = self.exp[last]
            self.ids[r] = self.ids[last]
            self.texts[r] = self.texts[last]
            self.row[self.ids[r]] = r
        self.ids.pop()
        self.texts.pop()
        self.n = last
        if 32 < self.n * 4 < len(self.vecs):  # shrink when three quarters are empty
            cap = len(self.vecs) // 2
            self.vecs = self.vecs[:cap].copy()
            self.exp = self.exp[:cap].copy()
        return True

    def search(self, vec: F32, k: int, now: float) -> list[Match]:
        if self.n == 0:
            return []
        n = self.n
        scores = np.empty(n, dtype=np.float32)
        for start in range(0, n, CHUNK):
            end = min(start + CHUNK, n)
            np.matmul(self.vecs[start:end], vec, out=scores[start:end])
        scores[self.exp[:n] <= now] = -np.inf
        if k < self.n:
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
        else:
            top = np.argsort(-scores, kind="stable")
        return [Match(self.ids[i], float(scores[i]), self.texts[i]) for i in top.tolist() if scores[i] > -np.inf]


class _Graph:
    """An HNSW graph with item metadata by usearch key. Keys are never reused within one graph."""

    __slots__ = ("index", "key_of", "meta", "next_key", "removed")

    def __init__(self, dim: int) -> None:
        self.index = Index(ndim=dim, metric="ip", dtype="f32", connectivity=CONNECTIVITY,
                           expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)
        self.meta: dict[int, tuple[str, str, float]] = {}  # key -> (item_id, text, expires_at)
        self.key_of: dict[str, int] = {}
        self.next_key = 0
        self.removed = 0

    def bulk(self, items: list[tuple[str, str, float]], vecs: F32, threads: int) -> None:
        """Fill an empty graph (on a worker thread: nobody else sees it yet)."""
        keys = np.arange(len(items), dtype=np.uint64)
        if len(items):
            self.index.add(keys, vecs, threads=threads)
        for key, meta in enumerate(items):
            self.meta[key] = meta
            self.key_of[meta[0]] = key
        self.next_key = len(items)

    def put(self, item_id: str, vec: F32, text: str, expires_at: float) -> None:
        self.drop(item_id)
        key = self.next_key
        self.next_key += 1
        self.index.add(key, vec, threads=1)
        self.meta[key] = (item_id, text, expires_at)
        self.key_of[item_id] = key

    def drop(self, item_id: str) -> bool:
        key = self.key_of.pop(item_id, None)
        if key is None:
            return False
        del self.meta[key]
        self.index.remove(key)
        self.removed += 1
        return True

    def __len__(self) -> int:
        return len(self.meta)

    def search(self, vec: F32, k: int, now: float) -> list[Match]:
        live = len(self.meta)
        want = min(k, live)
        count = min(live, max(2 * k, k + 8))
        while want:
            found = self.index.search(vec, count, threads=1)
            out: list[Match] = []
            for key, dist in zip(found.keys.tolist(), found.distances.tolist(), strict=True):
                meta = self.meta.get(key)
                if meta is not None and meta[2] > now:
                    out.append(Match(meta[0], 1.0 - dist, meta[1]))
            if len(out) >= want or count >= live:
                return out[:k]
            count = min(live, 4 * count)  # many expired neighbours: look further
        return []

    def items(self) -> list[tuple[str, str, float]]:
        return [self.meta[key] for key in sorted(self.meta)]

    def vectors(self) -> F32:
        keys = np.array(sorted(self.meta), dtype=np.uint64)
        got: F32 = np.asarray(self.index.get(keys, dtype="f32"), dtype=np.float32)
        return got.reshape(len(keys), -1)


class _Partition:
    __slots__ = ("building", "graph", "matrix", "pending")

    def __init__(self, dim: int) -> None:
        self.matrix: _Matrix | None = _Matrix(dim)
        self.graph: _Graph | None = None
        self.building: asyncio.Task[None] | None = None
        # changes made while a graph is being built, replayed onto it: (item_id, None) = removal
        self.pending: list[tuple[str, tuple[F32, str, float] | None]] = []

    def __len__(self) -> int:
        return self.matrix.n if self.matrix is not None else len(self.graph or ())

    def put(self, item_id: str, vec: F32, text: str, expires_at: float) -> None:
        if self.matrix is not None:
            self.matrix.put(item_id, vec, text, expires_at)
        else:
            assert self.graph is not None
            self.graph.put(item_id, vec, text, expires_at)
        if self.building is not None:
            self.pending.append((item_id, (vec.copy(), text, expires_at)))

    def drop(self, item_id: str) -> bool:
        if self.matrix is not None:
            done = self.matrix.drop(item_id)
        else:
            assert self.graph is not None
            done = self.graph.drop(item_id)
        if done and self.building is not None:
            self.pending.append((item_id, None))
        return done

    def expires_at(self, item_id: str) -> float | None:
        if self.matrix is not None:
            r = self.matrix.row.get(item_id)
            return None if r is None else float(self.matrix.exp[r])
        assert self.graph is not None
        key = self.graph.key_of.get(item_id)
        return None if key is None else self.graph.meta[key][2]

    def item_ids(self) -> list[str]:
        if self.matrix is not None:
            return list(self.matrix.ids)
        assert self.graph is not None
        return list(self.graph.key_of)

    def search(self, vec: F32, k: int, now: float) -> list[Match]:
        if self.matrix is not None:
            return self.matrix.search(vec, k, now)
        assert self.graph is not None
        return self.graph.search(vec, k, now)


class MemoryVectorIndex:
    """`VectorIndex` in process memory (see the module docstring). `graph_at` is the partition size
    from which a partition gets an HNSW graph; `build_threads` the threads used to build one."""

    def __init__(self, dimensions: int, *, max_items: int = 1_000_000, graph_at: int = 2048,
                 build_threads: int = 1) -> None:
        if dimensions < 1:
            raise ValueError("dimensions must be positive")
        self.dimensions = dimensions
        self.max_items = max_items
        self.graph_at = max(graph_at, 8)
        self.build_threads = build_threads
        self._parts: dict[str, _Partition] = {}
        self._heap: list[tuple[float, int, str, str]] = []  # (expires_at, seq, partition, item_id)
        self._seq = itertools.count()
        self._count = 0
        self._closed = False
        self._paused = False

    # ---- the Protocol

    async def add(self, partition: str, item_id: str, vector: Any, text: str, expires_at: float) -> None:
        self.put(partition, item_id, self.checked(vector), text, expires_at)

    async def search(self, partition: str, vector: Any, k: int, now: float) -> list[Match]:
        vec = self.checked(vector)
        part = self._parts.get(partition)
        if part is None or k < 1:
            return []
        return part.search(vec, k, now)

    async def remove(self, partition: str, item_id: str) -> None:
        self._check_open()
        self.drop(partition, item_id)

    async def delete_prefix(self, prefix: str) -> int:
        self._check_open()
        doomed = [(p, i) for p, part in self._parts.items() for i in part.item_ids() if i.startswith(prefix)]
        for n, (p, i) in enumerate(doomed, 1):
            self.drop(p, i)
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return len(doomed)

    async def sweep(self, now: float) -> int:
        self._check_open()
        gone = 0
        while self._heap and self._heap[0][0] <= now:
            exp, _, p, i = heapq.heappop(self._heap)
            part = self._parts.get(p)
            if part is not None and part.expires_at(i) == exp:
                self.drop(p, i)
                gone += 1
                if gone % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        return gone

    async def close(self) -> None:
        self._closed = True
        tasks = [part.building for part in self._parts.values() if part.building is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._parts.clear()
        self._heap.clear()
        self._count = 0

    # ---- synchronous core (also used by the SQLite-backed index)

    def __len__(self) -> int:
        return self._count

    def put(self, partition: str, item_id: str, vec: F32, text: str, expires_at: float) -> None:
        """Insert or replace one item; `vec` is already checked (`checked`)."""
        self._check_open()
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition(self.dimensions)
        before = len(part)
        part.put(item_id, vec, text, expires_at)
        self._count += len(part) - before
        heapq.heappush(self._heap, (expires_at, next(self._seq), partition, item_id))
        if len(self._heap) > 2 * self._count + 1024:
            self._compact_heap()
        while self._count > self.max_items:
            self._evict_one()
        self._maybe_rebuild(partition, part)

    def drop(self, partition: str, item_id: str) -> bool:
        part = self._parts.get(partition)
        if part is None or not part.drop(item_id):
            return False
        self._count -= 1
        if not len(part) and part.building is None:
            del self._parts[partition]
        else:
            self._maybe_rebuild(partition, part)
        return True

    async def wait_built(self) -> None:
        """Wait until no graph is being built (for tests and benchmarks)."""
        while True:
            tasks = [part.building for part in self._parts.values() if part.building is not None]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    def checked(self, vector: Any) -> F32:
        """`vector` as a float32 row of the right dimension, else VectorIndexError."""
        self._check_open()
        try:
            vec = np.asarray(vector, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise VectorIndexError(f"not a vector: {exc}") from exc
        if vec.shape != (self.dimensions,):
            raise VectorIndexError(f"vector of shape {vec.shape}, the index holds {self.dimensions} dimensions")
        return vec

    def _check_open(self) -> None:
        if self._closed:
            raise VectorIndexError("vector index is closed")

    def _compact_heap(self) -> None:
        live = []
        for exp, seq, p, i in self._heap:
            part = self._parts.get(p)
            if part is not None and part.expires_at(i) == exp:
                live.append((exp, seq, p, i))
        heapq.heapify(live)
        self._heap = live

    def _evict_one(self) -> None:
        while self._heap:
            exp, _, p, i = heapq.heappop(self._heap)
            part = self._parts.get(p)
            if part is not None and part.expires_at(i) == exp:
                self.drop(p, i)
                return

    # ---- graphs

    def pause_builds(self) -> None:
        """Start no graph build until `resume_builds` (a bulk load builds each graph once, at the end)."""
        self._paused = True

    def resume_builds(self) -> None:
        self._paused = False
        for name, part in list(self._parts.items()):
            self._maybe_rebuild(name, part)

    def _maybe_rebuild(self, name: str, part: _Partition, force: bool = False) -> None:
        if part.building is not None or self._closed or self._paused:
            return
        n = len(part)
        if part.matrix is not None:
            if n >= self.graph_at:
                self._start_build(name, part)
        elif part.graph is not None:
            if n < self.graph_at // 4:
                items, vecs = part.graph.items(), part.graph.vectors()
                matrix = _Matrix(self.dimensions, max(8, 2 * n))
                for (item_id, text, exp), vec in zip(items, vecs, strict=True):
                    matrix.put(item_id, vec, text, exp)
                part.matrix, part.graph = matrix, None
            elif force or part.graph.removed > max(n, 1024):
                self._start_build(name, part)

    def _start_build(self, name: str, part: _Partition) -> None:
        if part.matrix is not None:
            m = part.matrix
            items = [(m.ids[r], m.texts[r], float(m.exp[r])) for r in range(m.n)]
            vecs = m.vecs[: m.n].copy()
        else:
            assert part.graph is not None
            items, vecs = part.graph.items(), part.graph.vectors()
        part.pending = []
        part.building = asyncio.get_running_loop().create_task(self._build(name, part, items, vecs))

    async def _build(self, name: str, part: _Partition, items: list[tuple[str, str, float]], vecs: F32) -> None:
        graph = _Graph(self.dimensions)
        try:
            await asyncio.to_thread(graph.bulk, items, vecs, self.build_threads)
        finally:
            part.building = None
        if self._closed:
            return
        pending, part.pending = part.pending, []
        if len(pending) > MAX_REPLAY:
            # the partition changed a lot meanwhile (a load): build again from what it holds now
            # rather than replaying many single inserts on the loop
            self._maybe_rebuild(name, part, force=True)
            return
        for item_id, change in pending:
            if change is None:
                graph.drop(item_id)
            else:
                graph.put(item_id, change[0], change[1], change[2])
        part.matrix, part.graph = None, graph
        if not len(part):
            self._parts.pop(name, None)
        else:
            self._maybe_rebuild(name, part)
