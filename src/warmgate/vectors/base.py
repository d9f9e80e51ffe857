"""The vector index seam: one small async Protocol, implemented by an in-process ANN index
(persisted beside the SQLite store and rebuilt on start) and by PostgreSQL + pgvector (shared by
several gateway instances).

An item is one cached answer seen by meaning:
- `partition`: an opaque string (a digest) built by the semantic cache from everything that must
  match exactly (tenant, namespace, endpoint, model, system prompt, tools, parameters, earlier
  turns, embedder name). A search only ever sees items of its own partition.
- `item_id`: the exact-cache key of the stored answer (the answer itself lives in the response
  store; an id whose answer is gone is simply a miss).
- `vector`: unit-norm float32 row of the index's dimension; similarity is the cosine (dot product).
- `text`: the compared text (the last user turn), kept so a guard can check the candidate lexically.
- `expires_at`: unix seconds; an item past it is never returned and leaves the index (`sweep`).

Keys of purges mirror the response store: `delete_prefix(p)` drops every item whose `item_id`
starts with `p` ("" = everything).

Any failure or timeout raises `VectorIndexError` (never a raw driver exception); the caller treats it
as "no semantic candidate".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float32]


class VectorIndexError(Exception):
    """The index failed or timed out; the request goes on without a semantic candidate."""


class Match(NamedTuple):
    item_id: str
    score: float  # cosine similarity, higher = closer, at most 1.0
    text: str


class VectorIndex(Protocol):
    dimensions: int

    async def add(self, partition: str, item_id: str, vector: Vector, text: str, expires_at: float) -> None:
        """Insert or replace (same partition and item_id) one item."""
        ...

    async def search(self, partition: str, vector: Vector, k: int, now: float) -> list[Match]:
        """Up to `k` live items of `partition` (expires_at > now), best first."""
        ...

    async def remove(self, partition: str, item_id: str) -> None:
        """Drop one item if present."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Drop every item whose item_id starts with `prefix`; returns how many."""
        ...

    async def sweep(self, now: float) -> int:
        """Drop items with expires_at <= now; returns how many."""
        ...

    async def close(self) -> None: ...
