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
import itertools
import logging
import os
import threading
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
        # Writes run in threads, and the last one at `stop` may overlap one still running: each
        # snapshot has a number, and an older one never replaces a newer one.
        self._numbers = itertools.count(1)
        self._written = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop publishing, after one last snapshot (what this worker counted stays in the sums)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._write(*self._snapshot())

    async def others(self) -> list[dict[str, Any]]:
        """The other workers' latest publications."""
        return await asyncio.to_thread(self._others)

    async def render(self) -> bytes:
        """The Prometheus text of every worker's metrics: this one's live, the others' latest snapshots."""
        return self.metrics.render([o["metrics"] for o in await self.others()])

    def _snapshot(self) -> tuple[int, bytes]:
        """A numbered snapshot, taken on the loop (no count changes meanwhile)."""
        return next(self._numbers), orjson.dumps({"metrics": self.metrics.snapshot(), "stats": self.part()})

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self._write, *self._snapshot())
            await asyncio.sleep(self.interval)

    def _write(self, number: int, data: bytes) -> None:
        tmp = self._path.with_name(f"{self._path.stem}.{number}.tmp")
        try:
            with self._lock:
                if number <= self._written:
                    return  # a newer snapshot is there already
                tmp.write_bytes(data)
                os.replace(tmp, self._path)
                self._written = number
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
