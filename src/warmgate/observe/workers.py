"""`/metrics` across `--workers`: every worker publishes its metrics to a directory the supervisor
made, and the worker a scrape reaches answers all of them, merged.

Worker processes share the listening socket, so a Prometheus scrape reaches one of them, at random.
Its own counters alone would jump from one worker's values to another's between scrapes (and
`rate()` would read each drop as a counter reset). So each worker writes a snapshot of its metrics
to `<directory>/<worker>.json` every `interval` seconds and when it stops, and `/metrics` answers its
own live metrics merged with the other workers' latest snapshots (`Metrics.render`). Another worker's
part is at most `interval` old. A worker that exited leaves its last snapshot, so the sums never go
back. The files are written off the event loop, and replaced whole (`os.replace`): a reader never
sees half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import orjson

from warmgate.metrics import Metrics, Snapshot

log = logging.getLogger("warmgate")

INTERVAL = 1.0


class WorkerMetrics:
    def __init__(self, directory: Path, worker: str, metrics: Metrics, interval: float = INTERVAL):
        self.directory = directory
        self.metrics = metrics
        self.interval = interval
        self._path = directory / f"{worker}.json"
        self._task: asyncio.Task[None] | None = None
        self._failed = False

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop publishing, after one last snapshot (what this worker counted stays in the sums)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._write(orjson.dumps(self.metrics.snapshot()))

    async def render(self) -> bytes:
        """The Prometheus text of every worker's metrics: this one's live, the others' latest snapshots."""
        others = await asyncio.to_thread(self._others)
        return self.metrics.render(others)

    async def _run(self) -> None:
        while True:
            data = orjson.dumps(self.metrics.snapshot())  # taken on the loop: no count changes meanwhile
            await asyncio.to_thread(self._write, data)
            await asyncio.sleep(self.interval)

    def _write(self, data: bytes) -> None:
        tmp = self._path.with_suffix(".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, self._path)
        except OSError as e:
            if not self._failed:  # said once: the scrapes then lack this worker's counts
                log.warning("cannot publish this worker's metrics to %s: %s", self.directory, e)
                self._failed = True

    def _others(self) -> list[Snapshot]:
        snapshots = []
        for path in self.directory.glob("*.json"):
            if path == self._path:
                continue
            try:
                snapshot = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue  # gone, or not a snapshot
            if isinstance(snapshot, dict):
                snapshots.append(snapshot)
        return snapshots
