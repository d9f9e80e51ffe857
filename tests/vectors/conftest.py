from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from warmgate.vectors.base import VectorIndex
from warmgate.vectors.memory import MemoryVectorIndex
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


@pytest.fixture(params=["memory", "memory-graph", "sqlite"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    """Every VectorIndex implementation, fresh and empty. `memory-graph` moves a partition to an
    HNSW graph from 8 items on, so the graph path runs the whole contract too."""
    made: VectorIndex
    if request.param == "memory":
        made = MemoryVectorIndex(DIM)
    elif request.param == "memory-graph":
        made = MemoryVectorIndex(DIM, graph_at=8)
    else:
        made = SqliteVectorIndex(tmp_path / "cache.sqlite3", DIM, clock=lambda: NOW, graph_at=8)
    yield made
    await made.close()
