"""The in-process index's own behaviour: the move between exact search and an HNSW graph, the bound."""

from __future__ import annotations

import numpy as np

from tests.vectors.conftest import DIM, LATER, NOW, unit
from warmgate.vectors.memory import MemoryVectorIndex


def mode(index: MemoryVectorIndex, partition: str) -> str:
    part = index._parts[partition]
    return "matrix" if part.matrix is not None else "graph"


async def test_a_growing_partition_moves_to_a_graph_and_back() -> None:
    index = MemoryVectorIndex(DIM, graph_at=32)
    for i in range(40):
        await index.add("big", f"i{i}", unit(i), f"t{i}", LATER)
        await index.add("small", f"s{i % 3}", unit(i), "s", LATER)
    await index.wait_built()
    assert (mode(index, "big"), mode(index, "small")) == ("graph", "matrix")
    for i in range(40):
        [m] = await index.search("big", unit(i), 1, NOW)
        assert m.item_id == f"i{i}"
    for i in range(33):
        await index.remove("big", f"i{i}")
    assert mode(index, "big") == "matrix"  # fewer than graph_at / 4 items left
    assert sorted(m.item_id for m in await index.search("big", unit(0), 50, NOW)) == sorted(
        f"i{i}" for i in range(33, 40))
    assert len(index) == 7 + 3
    await index.close()


async def test_changes_made_while_a_graph_is_built_are_kept() -> None:
    index = MemoryVectorIndex(DIM, graph_at=16)
    for i in range(16):
        await index.add("p", f"i{i}", unit(i), "old", LATER)
    assert index._parts["p"].building is not None
    await index.add("p", "i0", unit(100), "replaced", LATER)
    await index.remove("p", "i1")
    await index.add("p", "new", unit(101), "new", LATER)
    await index.wait_built()
    assert mode(index, "p") == "graph"
    got = {m.item_id: m.text for m in await index.search("p", unit(0), 100, NOW)}
    assert len(got) == 16
    assert "i1" not in got
    assert (got["i0"], got["new"]) == ("replaced", "new")
    [m] = await index.search("p", unit(100), 1, NOW)
    assert m.item_id == "i0"
    await index.close()


async def test_a_graph_full_of_removed_nodes_is_rebuilt() -> None:
    index = MemoryVectorIndex(DIM, graph_at=8)
    for i in range(20):
        await index.add("p", f"i{i}", unit(i), "t", LATER)
    await index.wait_built()
    for round_ in range(1100):  # every replacement leaves a removed node behind
        await index.add("p", f"i{round_ % 20}", unit(1000 + round_), "t", LATER)
    await index.wait_built()
    graph = index._parts["p"].graph
    assert graph is not None and graph.removed < 1024  # rebuilt once 1024 had piled up
    assert len(await index.search("p", unit(0), 100, NOW)) == 20
    await index.close()


async def test_above_max_items_the_soonest_to_expire_go() -> None:
    index = MemoryVectorIndex(DIM, max_items=3)
    for i, ttl in enumerate([50, 10, 40, 30]):
        await index.add(f"p{i}", f"i{i}", unit(i), "t", NOW + ttl)
    assert len(index) == 3
    assert await index.search("p1", unit(1), 1, NOW) == []
    assert [m.item_id for m in await index.search("p3", unit(3), 1, NOW)] == ["i3"]
    await index.close()


async def test_the_matrix_search_matches_brute_force() -> None:
    index = MemoryVectorIndex(DIM, graph_at=10_000)
    vecs = np.stack([unit(i) for i in range(500)])
    for i in range(500):
        await index.add("p", str(i), vecs[i], "t", LATER)
    q = unit(9999)
    want = np.argsort(-(vecs @ q))[:10].tolist()
    assert [int(m.item_id) for m in await index.search("p", q, 10, NOW)] == want
    await index.close()


async def test_many_changes_during_a_build_lead_to_one_more_build_not_a_replay() -> None:
    index = MemoryVectorIndex(DIM, graph_at=16)
    for i in range(16 + 100):
        await index.add("p", f"i{i}", unit(i), "t", LATER)
    await index.wait_built()
    graph = index._parts["p"].graph
    assert graph is not None and len(graph) == 116
    for i in (0, 15, 16, 115):
        [m] = await index.search("p", unit(i), 1, NOW)
        assert m.item_id == f"i{i}"
    await index.close()
