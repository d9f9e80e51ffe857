"""Micro-batching: concurrent `embed` calls share one model run (or one upstream call).

A call queues its texts and awaits its rows. At most `max_concurrency` runs are in flight; each run
takes the queued calls in arrival order, up to `max_batch` texts (a call is never split across runs
unless it alone is larger than `max_batch`, in which case it is cut into chunks first). While a run
is busy, new calls queue up and the next run takes them all together ("natural" batching: it adds
no wait when the embedder is idle). `wait` (seconds, default 0) additionally lets a run that starts
with less than a full batch linger for more calls. Identical texts within one run are embedded once.

A failed run fails exactly the calls it carried, always with `EmbeddingUnavailable`. So does a
call that finds `max_queue` texts already waiting (0: unbounded): under overload a request skips
the semantic lookup at once instead of waiting for its timeout; callers that gave up (cancelled,
e.g. by their timeout) leave the queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from warmgate.embeddings.base import EmbeddingUnavailable

if TYPE_CHECKING:
    from warmgate.embeddings.base import Matrix

log = logging.getLogger("warmgate.embeddings")

RunBatch = Callable[[list[str]], Awaitable["Matrix"]]


class _Call:
    __slots__ = ("future", "texts")

    def __init__(self, texts: list[str], future: asyncio.Future[Matrix]):
        self.texts = texts
        self.future = future


class MicroBatcher:
    def __init__(
        self, run: RunBatch, *, max_batch: int, max_concurrency: int = 1, wait: float = 0.0, max_queue: int = 0
    ):
        if max_batch < 1 or max_concurrency < 1 or wait < 0 or max_queue < 0:
            raise ValueError("max_batch and max_concurrency must be >= 1, wait and max_queue >= 0")
        self._max_queue = max_queue
        self._run = run
        self._max_batch = max_batch
        self._max_concurrency = max_concurrency
        self._wait = wait
        self._queue: deque[_Call] = deque()
        self._queued_texts = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.runs = 0  # model runs / upstream calls made (for tests and benchmarks)
        self.shed = 0  # calls refused because the queue was full

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if self._closed:
            raise EmbeddingUnavailable("the embedder is closed")
        items = list(texts)
        if len(items) > self._max_batch:
            step = self._max_batch
            parts = await asyncio.gather(*(self.embed(items[i : i + step]) for i in range(0, len(items), step)))
            return np.concatenate(parts, axis=0)
        if self._max_queue and self._queued_texts + len(items) > self._max_queue:
            self._drop_abandoned()
            if self._queued_texts + len(items) > self._max_queue:
                self.shed += 1
                raise EmbeddingUnavailable(f"{self._queued_texts} texts are waiting to be embedded")
        future: asyncio.Future[Matrix] = asyncio.get_running_loop().create_future()
        self._queue.append(_Call(items, future))
        self._queued_texts += len(items)
        self._start_runs()
        return await future

    def _start_runs(self) -> None:
        while self._queue and len(self._tasks) < self._max_concurrency:
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._run_done)

    def _run_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("embedding run failed", exc_info=exc)  # its callers got EmbeddingUnavailable
        if not self._closed:
            self._start_runs()  # a run that died of a bug leaves no queued caller behind

    async def _drain(self) -> None:
        while self._queue:
            if self._wait > 0 and self._queued_texts < self._max_batch:
                await asyncio.sleep(self._wait)
            batch = self._take()
            if batch:
                await self._run_batch(batch)

    def _drop_abandoned(self) -> None:
        live = deque(c for c in self._queue if not c.future.done())
        self._queued_texts = sum(len(c.texts) for c in live)
        self._queue = live

    def _take(self) -> list[_Call]:
        batch: list[_Call] = []
        n = 0
        while self._queue and n + len(self._queue[0].texts) <= self._max_batch:
            call = self._queue.popleft()
            n += len(call.texts)
            self._queued_texts -= len(call.texts)
            if not call.future.done():  # a caller that gave up (cancelled) is dropped
                batch.append(call)
        return batch

    async def _run_batch(self, batch: list[_Call]) -> None:
        index: dict[str, int] = {}
        rows = [[index.setdefault(t, len(index)) for t in call.texts] for call in batch]
        matrix: Matrix | None = None
        error = EmbeddingUnavailable("the embedding run failed")
        try:
            self.runs += 1
            matrix = await self._run(list(index))
            if matrix.shape[0] != len(index):
                matrix = None
                error = EmbeddingUnavailable(f"the model returned the wrong number of rows for {len(index)} texts")
        except EmbeddingUnavailable as exc:
            error = exc
        finally:
            # Also on a bug or on close() cancelling the run: every caller of the batch gets an answer.
            for call, ids in zip(batch, rows, strict=True):
                if call.future.done():
                    continue
                if matrix is None:
                    call.future.set_exception(error)
                else:
                    call.future.set_result(matrix[ids])

    async def close(self) -> None:
        """Fail the queued calls and stop the runs in flight."""
        self._closed = True
        while self._queue:
            call = self._queue.popleft()
            if not call.future.done():
                call.future.set_exception(EmbeddingUnavailable("the embedder is closed"))
        self._queued_texts = 0
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

