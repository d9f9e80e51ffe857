"""`/metrics` and `/admin/stats` across `--workers`: every worker publishes its metrics (and what
the stats summary takes from it besides) to a directory the supervisor made, and the worker a
request reaches answers for all of them, merged.

Worker processes share the listening socket, so a Prometheus scrape reaches one of them, at random.
Its own counters alone would jump from one worker's values to another's between scrapes (and
`rate()` would read each drop as a counter reset). So each worker writes a snapshot of its metrics
to `<directory>/<worker>.json` every `interval` seconds and when it stops, and `/metrics` answers its
own live metrics merged with the other workers' latest snapshots (`Metrics.render`), and
`/admin/stats` (the dashboard, `warmgate stats`) the summary of all (`observe.stats.summary`). Another worker's
part is at most `interval` old. A worker that exited leaves its last snapshot, so the sums never go
back. The files are written off the event loop, and replaced whole (`os.replace`): a reader never
sees half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from warmgate.metrics import Metrics

log = logging.getLogger("warmgate")

INTERVAL = 1.0


class WorkerMetrics:
    """One worker's side: it publishes `{"metrics": Metrics.snapshot(), "stats": part()}` and reads
    the other workers' (`others`)."""

    def __init__(self, directory: Path, worker: str, metrics: Metrics,
                 part: Callable[[], dict[str, Any]] = dict, interval: float = INTERVAL):
        self.directory = directory
        self.metrics = metrics
        self.part = part
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
        self._write(self._snapshot())

    async def others(self) -> list[dict[str, Any]]:
        """The other workers' latest publications."""
        return await asyncio.to_thread(self._others)

    async def render(self) -> bytes:
        """The Prometheus text of every worker's metrics: this one's live, the others' latest snapshots."""
        return self.metrics.render([o["metrics"] for o in await self.others()])

    def _snapshot(self) -> bytes:
        return orjson.dumps({"metrics": self.metrics.snapshot(), "stats": self.part()})

    async def _run(self) -> None:
        while True:
            data = self._snapshot()  # taken on the loop: no count changes meanwhile
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

    def _others(self) -> list[dict[str, Any]]:
        published = []
        for path in self.directory.glob("*.json"):
            if path == self._path:
                continue
            try:
                doc = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue  # gone, or not a publication
            if isinstance(doc, dict) and isinstance(doc.get("metrics"), dict) and isinstance(doc.get("stats"), dict):
                published.append(doc)
        return published
