"""MicroBatcher: grouping, dedup, overload shedding and failure delivery, with a plain async model."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from warmgate.embeddings.base import EmbeddingUnavailable
from warmgate.embeddings.batching import MicroBatcher


class Model:
    """Rows [len(text), run number]; can be held on a gate, or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.error: BaseException | None = None

    async def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(texts)
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return np.array([[len(t), len(self.batches)] for t in texts], np.float32)


async def test_queued_calls_share_a_run_and_duplicates_are_embedded_once() -> None:
    model = Model()
    b = MicroBatcher(model, max_batch=8)
    model.gate.clear()
    first = asyncio.create_task(b.embed(["a"]))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(b.embed([t])) for t in ("bb", "ccc", "bb")]
    await asyncio.sleep(0)
    model.gate.set()
    rows = [await t for t in (first, *rest)]
    assert model.batches == [["a"], ["bb", "ccc"]]
    assert [r.tolist() for r in rows] == [[[1, 1]], [[2, 2]], [[3, 2]], [[2, 2]]]


async def test_a_full_queue_sheds_at_once_and_abandoned_calls_leave_it() -> None:
    model = Model()
    model.gate.clear()
    b = MicroBatcher(model, max_batch=4, max_queue=3)
    running = asyncio.create_task(b.embed(["r"]))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(b.embed([t])) for t in "xyz"]
    await asyncio.sleep(0)
    with pytest.raises(EmbeddingUnavailable, match="3 texts are waiting"):
        await b.embed(["over"])
    assert b.shed == 1
    waiting[0].cancel()  # e.g. its request's timeout
    await asyncio.sleep(0)
    late = asyncio.create_task(b.embed(["late"]))
    model.gate.set()
    await asyncio.gather(running, *waiting[1:], late)
    assert model.batches[1] == ["y", "z", "late"]


async def test_a_failing_run_fails_its_calls_only_and_the_next_run_works() -> None:
    model = Model()
    b = MicroBatcher(model, max_batch=4)
    model.error = EmbeddingUnavailable("upstream down")
    with pytest.raises(EmbeddingUnavailable, match="upstream down"):
        await b.embed(["a"])
    model.error = KeyError("a bug")  # not an EmbeddingUnavailable: callers still get one
    with pytest.raises(EmbeddingUnavailable, match="run failed"):
        await b.embed(["b"])
    model.error = None
    assert (await b.embed(["cc"])).tolist() == [[2, 3]]


async def test_close_fails_waiting_calls() -> None:
    model = Model()
    model.gate.clear()
    b = MicroBatcher(model, max_batch=1)
    calls = [asyncio.create_task(b.embed([t])) for t in "ab"]
    await asyncio.sleep(0)
    await b.close()
    for c in calls:
        with pytest.raises(EmbeddingUnavailable):
            await c
