"""The SQLite-persisted index: restarts, expiry at load, sharing the response cache's file, failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.stores.conftest import entry
from tests.vectors.conftest import DIM, LATER, NOW, unit
from warmgate.stores.sqlite import SqliteStore
from warmgate.vectors.base import VectorIndexError
from warmgate.vectors.config import VectorIndexConfig
from warmgate.vectors.factory import build_index
from warmgate.vectors.sqlite import SqliteVectorIndex


def rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT partition, item_id FROM vectors").fetchall())


async def test_a_restart_keeps_live_items_and_drops_expired_ones(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    first = SqliteVectorIndex(path, DIM, clock=lambda: NOW)
    await first.add("p", "short", unit(1), "short", NOW + 10)
    await first.add("p", "long", unit(2), "long text", NOW + 100)
    await first.add("q", "other", unit(3), "other", LATER)
    await first.add("p", "gone", unit(4), "gone", LATER)
    await first.remove("p", "gone")
    await first.close()

    second = SqliteVectorIndex(path, DIM, clock=lambda: NOW + 50)
    got = await second.search("p", unit(1), 5, NOW + 50)
    assert [(m.item_id, m.text) for m in got] == [("long", "long text")]
    [m] = await second.search("p", unit(2), 1, NOW + 50)
    assert m.score == pytest.approx(1.0, abs=1e-5)
    assert [m.item_id for m in await second.search("q", unit(3), 5, NOW + 50)] == ["other"]
    assert rows(path) == [("p", "long"), ("q", "other")]  # the expired row left the file at load
    await second.close()


async def test_big_partitions_come_back_as_graphs(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    first = SqliteVectorIndex(path, DIM, clock=lambda: NOW, graph_at=16)
    for i in range(60):
        await first.add("big", f"i{i}", unit(i), f"t{i}", LATER)
    await first.close()
    second = SqliteVectorIndex(path, DIM, clock=lambda: NOW, graph_at=16)
    await second.wait_built()
    assert len(second) == 60
    for i in (0, 17, 59):
        [m] = await second.search("big", unit(i), 1, NOW)
        assert (m.item_id, m.text) == (f"i{i}", f"t{i}")
    await second.close()


async def test_the_index_shares_the_response_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    store = SqliteStore(path)
    index = build_index(VectorIndexConfig.model_validate({"kind": "sqlite", "sqlite": {"path": str(path)}}), DIM)
    assert await store.add("t|k", entry(b"answer"), 1, NOW) == 0
    await index.add("p", "t|k", unit(1), "question", LATER)
    assert [e.value for e in await store.get("t|k", NOW)] == [b"answer"]
    assert [m.item_id for m in await index.search("p", unit(1), 1, NOW)] == ["t|k"]
    assert await store.delete_prefix("t|") == 1
    assert await index.delete_prefix("t|") == 1
    await store.close()
    await index.close()
    assert rows(path) == []


async def test_rows_of_another_dimension_are_dropped_at_load(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    first = SqliteVectorIndex(path, DIM, clock=lambda: NOW)
    await first.add("p", "a", unit(1), "a", LATER)
    await first.close()
    wider = SqliteVectorIndex(path, DIM * 2, clock=lambda: NOW)
    assert await wider.search("p", unit(1, DIM * 2), 5, NOW) == []
    await wider.close()
    assert rows(path) == []


async def test_an_unusable_file_is_an_index_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    index = SqliteVectorIndex(blocker / "v.sqlite3", DIM, clock=lambda: NOW)
    with pytest.raises(VectorIndexError):
        await index.search("p", unit(1), 3, NOW)
    with pytest.raises(VectorIndexError):
        await index.add("p", "a", unit(1), "a", LATER)
    await index.close()
