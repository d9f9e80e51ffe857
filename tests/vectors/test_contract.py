"""The VectorIndex contract (see warmgate.vectors.base), run against every index."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.vectors.conftest import DIM, LATER, NOW, settle, toward, unit
from warmgate.vectors.base import VectorIndex, VectorIndexError


async def test_search_of_an_empty_or_unknown_partition_is_empty(index: VectorIndex) -> None:
    assert await index.search("p", unit(1), 5, NOW) == []
    await index.add("p", "a", unit(1), "a", LATER)
    assert await index.search("other", unit(1), 5, NOW) == []


async def test_an_item_finds_itself_with_its_text(index: VectorIndex) -> None:
    assert index.dimensions == DIM
    await index.add("p", "id-1", unit(1), "how do I sort a list", LATER)
    [m] = await index.search("p", unit(1), 3, NOW)
    assert m.item_id == "id-1"
    assert m.text == "how do I sort a list"
    assert m.score == pytest.approx(1.0, abs=1e-5)


async def test_results_are_best_first_and_cut_at_k(index: VectorIndex) -> None:
    q, far = unit(1), unit(2)
    for i, t in enumerate([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.05, 0.6, 0.4, 0.95, 0.15]):
        await index.add("p", f"i{i:02d}-{t}", toward(q, far, t), f"t{t}", LATER)
    await settle(index)
    got = await index.search("p", q, 4, NOW)
    assert [m.text for m in got] == ["t0.05", "t0.1", "t0.15", "t0.2"]
    scores = [m.score for m in got]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 + 1e-5 for s in scores)
    assert scores[0] == pytest.approx(float(np.dot(q, toward(q, far, 0.05))), abs=1e-4)
    assert len(await index.search("p", q, 100, NOW)) == 12
    assert await index.search("p", q, 0, NOW) == []


async def test_add_with_the_same_id_replaces(index: VectorIndex) -> None:
    await index.add("p", "a", unit(1), "old", LATER)
    await index.add("p", "b", unit(3), "b", LATER)
    await index.add("p", "a", unit(2), "new", LATER + 10)
    got = await index.search("p", unit(2), 5, NOW)
    assert [m.item_id for m in got].count("a") == 1
    assert got[0].item_id == "a"
    assert got[0].text == "new"
    assert got[0].score == pytest.approx(1.0, abs=1e-5)


async def test_remove(index: VectorIndex) -> None:
    await index.add("p", "a", unit(1), "a", LATER)
    await index.add("p", "b", unit(2), "b", LATER)
    await index.remove("p", "a")
    await index.remove("p", "a")  # absent: no error
    await index.remove("nowhere", "a")
    assert [m.item_id for m in await index.search("p", unit(1), 5, NOW)] == ["b"]
    await index.remove("p", "b")
    assert await index.search("p", unit(1), 5, NOW) == []


async def test_partitions_never_mix(index: VectorIndex) -> None:
    v = unit(1)
    await index.add("tenant-a", "same-id", v, "a's", LATER)
    await index.add("tenant-b", "same-id", v, "b's", LATER)
    for i in range(20):
        await index.add("tenant-b", f"b{i}", unit(100 + i), "b", LATER)
    await settle(index)
    assert [(m.item_id, m.text) for m in await index.search("tenant-a", v, 10, NOW)] == [("same-id", "a's")]
    await index.remove("tenant-a", "same-id")
    assert await index.search("tenant-a", v, 10, NOW) == []
    got = await index.search("tenant-b", v, 1, NOW)
    assert [(m.item_id, m.text) for m in got] == [("same-id", "b's")]


async def test_expired_items_are_never_returned_and_are_swept(index: VectorIndex) -> None:
    q = unit(1)
    await index.add("p", "short", q, "short", NOW + 10)
    await index.add("p", "long", toward(q, unit(2), 0.3), "long", NOW + 100)
    await index.add("p2", "other", q, "other", NOW + 10)
    assert [m.item_id for m in await index.search("p", q, 5, NOW + 9.999)] == ["short", "long"]
    assert [m.item_id for m in await index.search("p", q, 5, NOW + 10)] == ["long"]  # expires_at <= now
    assert [m.item_id for m in await index.search("p", q, 1, NOW + 10)] == ["long"]
    assert await index.sweep(NOW + 5) == 0
    assert await index.sweep(NOW + 10) == 2
    assert await index.sweep(NOW + 10) == 0
    assert [m.item_id for m in await index.search("p", q, 5, NOW)] == ["long"]  # gone, not just hidden
    assert await index.search("p2", q, 5, NOW) == []


async def test_a_replaced_item_keeps_only_its_new_expiry(index: VectorIndex) -> None:
    await index.add("p", "a", unit(1), "a", NOW + 10)
    await index.add("p", "a", unit(1), "a", NOW + 100)
    assert await index.sweep(NOW + 50) == 0
    assert [m.item_id for m in await index.search("p", unit(1), 5, NOW + 50)] == ["a"]
    await index.add("p", "a", unit(1), "a", NOW + 20)
    assert await index.sweep(NOW + 50) == 1
    assert await index.search("p", unit(1), 5, NOW) == []


async def test_many_expired_neighbours_do_not_hide_live_items(index: VectorIndex) -> None:
    q = unit(1)
    for i in range(40):
        await index.add("p", f"dead{i}", toward(q, unit(200 + i), 0.05), "dead", NOW + 1)
    await index.add("p", "live", toward(q, unit(2), 0.6), "live", LATER)
    await settle(index)
    assert [m.item_id for m in await index.search("p", q, 2, NOW + 5)] == ["live"]


async def test_delete_prefix(index: VectorIndex) -> None:
    for i, item_id in enumerate(["t1|a", "t1|b", "t1_x", "t1%y", "t2|a", "t10|a"]):
        await index.add("p" if i % 2 else "q", item_id, unit(i), item_id, LATER)
    assert await index.delete_prefix("t1|") == 2
    assert await index.delete_prefix("t1%") == 1  # LIKE wildcards are literal characters here
    assert await index.delete_prefix("nothing") == 0
    left = {m.item_id for p in ("p", "q") for m in await index.search(p, unit(0), 10, NOW)}
    assert left == {"t1_x", "t2|a", "t10|a"}
    assert await index.delete_prefix("") == 3
    assert {m.item_id for p in ("p", "q") for m in await index.search(p, unit(0), 10, NOW)} == set()


async def test_a_wrong_dimension_is_an_index_error(index: VectorIndex) -> None:
    with pytest.raises(VectorIndexError):
        await index.add("p", "a", unit(1, DIM + 1), "a", LATER)
    with pytest.raises(VectorIndexError):
        await index.search("p", unit(1, DIM - 1), 3, NOW)
    with pytest.raises(VectorIndexError):
        await index.add("p", "a", np.ones((2, DIM), dtype=np.float32), "a", LATER)
    assert await index.search("p", unit(1), 3, NOW) == []


async def test_concurrent_adds_searches_and_removes(index: VectorIndex) -> None:
    async def writer(w: int) -> None:
        for i in range(25):
            await index.add(f"p{w % 3}", f"w{w}-{i}", unit(w * 100 + i), f"{w}-{i}", LATER)
            if i % 5 == 4:
                await index.remove(f"p{w % 3}", f"w{w}-{i - 1}")

    async def reader() -> None:
        for i in range(25):
            for m in await index.search(f"p{i % 3}", unit(i), 3, NOW):
                assert m.item_id.startswith("w")

    await asyncio.gather(*(writer(w) for w in range(6)), *(reader() for _ in range(3)))
    await settle(index)
    for w in range(6):
        got = await index.search(f"p{w % 3}", unit(w * 100 + 24), 1, NOW)
        assert [m.item_id for m in got] == [f"w{w}-24"]
    sizes = [len(await index.search(f"p{p}", unit(0), 1000, NOW)) for p in range(3)]
    assert sum(sizes) == 6 * 20


async def test_a_closed_index_raises_index_errors(index: VectorIndex) -> None:
    await index.add("p", "a", unit(1), "a", LATER)
    await index.close()
    with pytest.raises(VectorIndexError):
        await index.search("p", unit(1), 3, NOW)
    with pytest.raises(VectorIndexError):
        await index.add("p", "b", unit(1), "b", LATER)
