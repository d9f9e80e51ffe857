"""The pgvector index: sharing between instances, failures and timeouts as VectorIndexError."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.pg_server import PgServer, _free_port
from tests.vectors.conftest import DIM, LATER, NOW, drop_table, table_name, unit
from warmgate.vectors.base import VectorIndexError
from warmgate.vectors.config import VectorIndexConfig
from warmgate.vectors.factory import build_index
from warmgate.vectors.pgvector import PgVectorIndex


@pytest.fixture
async def table(pg_server: PgServer) -> AsyncIterator[str]:
    name = table_name()
    yield name
    await drop_table(pg_server.dsn, name)


async def test_two_instances_share_entries(pg_server: PgServer, table: str) -> None:
    cfg = VectorIndexConfig.model_validate(
        {"kind": "pgvector", "pgvector": {"dsn": pg_server.dsn, "table": table, "timeout": 5}}
    )
    one, two = build_index(cfg, DIM), build_index(cfg, DIM)
    await one.add("p", "a", unit(1), "from one", LATER)
    [m] = await two.search("p", unit(1), 3, NOW)
    assert (m.item_id, m.text) == ("a", "from one")
    await two.remove("p", "a")
    assert await one.search("p", unit(1), 3, NOW) == []
    await one.close()
    await two.close()


async def test_past_ann_at_a_partition_is_searched_through_the_hnsw_query_and_small_ones_stay_exact(
    pg_server: PgServer, table: str
) -> None:
    index = PgVectorIndex(pg_server.dsn, DIM, table=table, timeout=5.0, ann_at=40)
    for i in range(100):
        await index.add("big", f"b{i}", unit(i), "big", LATER)
    await index.add("small", "s", unit(7), "small", LATER)
    for i in (0, 7, 99):
        got = await index.search("big", unit(i), 3, NOW)
        assert got[0].item_id == f"b{i}"
    assert [m.item_id for m in await index.search("small", unit(7), 3, NOW)] == ["s"]
    await index.close()


async def test_nothing_listening_is_an_index_error() -> None:
    index = PgVectorIndex(f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres", DIM, connect_timeout=2)
    with pytest.raises(VectorIndexError):
        await index.search("p", unit(1), 3, NOW)
    with pytest.raises(VectorIndexError):
        await index.add("p", "a", unit(1), "a", LATER)
    await index.close()


async def test_a_stopped_server_is_an_index_error_and_a_restart_recovers(pg_server: PgServer, table: str) -> None:
    index = PgVectorIndex(pg_server.dsn, DIM, table=table, timeout=2.0, connect_timeout=2.0)
    await index.add("p", "a", unit(1), "a", LATER)
    pg_server.stop()
    try:
        for _ in range(2):
            with pytest.raises(VectorIndexError):
                await index.search("p", unit(1), 3, NOW)
        with pytest.raises(VectorIndexError):
            await index.sweep(NOW)
    finally:
        pg_server.start()
    [m] = await index.search("p", unit(1), 3, NOW)
    assert m.item_id == "a"
    await index.close()


async def test_a_call_past_the_timeout_is_an_index_error(pg_server: PgServer, table: str) -> None:
    index = PgVectorIndex(pg_server.dsn, DIM, table=table, timeout=0.2)
    await index.add("p", "a", unit(1), "a", LATER)
    blocker = await asyncpg.connect(pg_server.dsn)
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(VectorIndexError):
            await index.search("p", unit(1), 3, NOW)
        await tx.rollback()
    finally:
        await blocker.close()
    assert [m.item_id for m in await index.search("p", unit(1), 3, NOW)] == ["a"]
    await index.close()


def test_the_config_needs_a_dsn_for_pgvector() -> None:
    with pytest.raises(ValueError, match="dsn"):
        VectorIndexConfig.model_validate({"kind": "pgvector"})
    with pytest.raises(ValueError):
        VectorIndexConfig.model_validate({"kind": "memory", "surprise": 1})
    assert VectorIndexConfig().kind == "memory"
