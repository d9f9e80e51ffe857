from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import numpy as np
import numpy.typing as npt
import pytest

from tests.pg_server import PgServer
from warmgate.vectors.base import VectorIndex
from warmgate.vectors.memory import MemoryVectorIndex
from warmgate.vectors.pgvector import PgVectorIndex
from warmgate.vectors.sqlite import SqliteVectorIndex

NOW = 1_700_000_000.0
DIM = 16
LATER = NOW + 3600


def unit(seed: int, dim: int = DIM) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    out: npt.NDArray[np.float32] = (v / np.linalg.norm(v)).astype(np.float32)
    return out


def toward(v: npt.NDArray[np.float32], w: npt.NDArray[np.float32], t: float) -> npt.NDArray[np.float32]:
    """The unit vector a fraction `t` of the way from `v` to `w` (cosine to `v` falls as `t` grows)."""
    m = (1 - t) * v + t * w
    out: npt.NDArray[np.float32] = (m / np.linalg.norm(m)).astype(np.float32)
    return out


async def settle(index: VectorIndex) -> None:
    """Let background graph builds finish, where an index has them."""
    wait = getattr(index, "wait_built", None)
    if wait is not None:
        await wait()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    yield server
    server.close()


async def drop_table(dsn: str, table: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        await conn.close()


def table_name() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=["memory", "memory-graph", "sqlite", "pgvector", "pgvector-ann"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    """Every VectorIndex implementation, fresh and empty. `memory-graph` moves a partition to an
    HNSW graph from 8 items on and `pgvector-ann` searches partitions of 8 rows or more through the
    HNSW index, so the graph paths run the whole contract too."""
    made: VectorIndex
    if request.param == "memory":
        made = MemoryVectorIndex(DIM)
    elif request.param == "memory-graph":
        made = MemoryVectorIndex(DIM, graph_at=8)
    elif request.param == "sqlite":
        made = SqliteVectorIndex(tmp_path / "cache.sqlite3", DIM, clock=lambda: NOW, graph_at=8)
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        table = table_name()
        ann_at = 8 if request.param == "pgvector-ann" else 20_000
        made = PgVectorIndex(server.dsn, DIM, table=table, timeout=5.0, ann_at=ann_at)
    yield made
    await made.close()
    if isinstance(made, PgVectorIndex):
        await drop_table(server.dsn, table)
