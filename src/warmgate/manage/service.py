"""`Management`: the management state of one gateway instance, kept in step with the store.

- A change (`change`) re-reads the store, applies a pure rule of `model.State`, and writes the result
  with a compare-and-set; if another instance wrote in between, it re-reads and tries again. Once
  written, the new layers are swapped in at once (so the next request of this instance uses them).
- Changes made by other instances (or other worker processes) are picked up by polling the store's
  version every `management.poll_interval` seconds (one small read): the documented delay.
- Every change is logged (logger `warmgate.admin`) and written to the audit trail with who made it
  (the admin key's identity, never the key) and what it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from warmgate.cache.layers import Layers
from warmgate.config import Config
from warmgate.manage.model import Directory, State, build_layers
from warmgate.manage.store import AdminStore, AdminStoreError

log = logging.getLogger("warmgate.admin")

T = TypeVar("T")
_ATTEMPTS = 8


class Busy(Exception):
    """The change lost the compare-and-set too many times in a row (heavy concurrent editing)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything derived from one version of the state; replaced whole, never changed."""

    version: int
    state: State
    directory: Directory
    layers: Layers


class Management:
    def __init__(
        self,
        config: Config,
        store: AdminStore,
        on_swap: Callable[[Snapshot], None],
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.store = store
        self._on_swap = on_swap
        self._clock = clock
        self._poller: asyncio.Task[None] | None = None
        self._installs = 0  # how many snapshots were installed (orders reads against writes)
        self.snapshot = self._build(0, State())
        on_swap(self.snapshot)

    def _build(self, version: int, state: State) -> Snapshot:
        directory = Directory(self.config, state)
        return Snapshot(version, state, directory, build_layers(self.config, state, directory, version))

    def _install(self, version: int, state: State) -> None:
        self._installs += 1
        self.snapshot = self._build(version, state)
        self._on_swap(self.snapshot)

    async def start(self) -> None:
        """Load the state and start polling. A store that cannot be reached now is retried by the
        poller; until then the gateway serves with the YAML file's settings alone."""
        try:
            await self.reload()
        except AdminStoreError as e:
            log.warning("management store unavailable at startup (%s); retrying every %gs", e,
                        self.config.management.poll_interval)
        self._poller = asyncio.ensure_future(self._poll())

    async def reload(self) -> None:
        """Install the stored state if it differs. A read that something else overtook (a change
        installed while it was in flight) installs only a newer version, so it never undoes an edit;
        a lower version read later means the store was reset, and is installed."""
        seen = self._installs
        version, doc = await self.store.read()
        current = self.snapshot.version
        if version > current or (version != current and self._installs == seen):
            self._install(version, _decode(doc))

    async def _poll(self) -> None:
        interval = self.config.management.poll_interval
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.store.version() != self.snapshot.version:
                    await self.reload()
            except AdminStoreError as e:
                log.warning("management store poll failed: %s", e)

    async def change(
        self, actor: str, action: str, target: str, detail: Any, rule: Callable[[State, Directory], tuple[State, T]]
    ) -> T:
        """Apply `rule(state, directory) -> (new state, result)` atomically; returns the result.
        Raises what the rule raises (model.Invalid / Missing / Clash), AdminStoreError or Busy."""
        for _ in range(_ATTEMPTS):
            version, doc = await self.store.read()
            state = _decode(doc)
            new, result = rule(state, Directory(self.config, state))
            record = orjson.dumps(
                {"at": self._clock(), "actor": actor, "action": action, "target": target, "detail": detail,
                 "version": version + 1}
            )
            if await self.store.write(version, new.encode(), record):
                self._install(version + 1, new)
                log.info("admin change by %s: %s %s %s", actor, action, target,
                         orjson.dumps(detail).decode() if detail is not None else "")
                return result
        raise Busy("the management state is being changed concurrently; retry")

    async def fresh(self) -> Snapshot:
        """The snapshot after one read of the store (so a read through this instance sees a change
        another instance just made); the current one if the store cannot be read."""
        try:
            await self.reload()
        except AdminStoreError as e:
            log.warning("management store read failed, answering from memory: %s", e)
        return self.snapshot

    async def audit(self, limit: int) -> list[Any]:
        return [orjson.loads(r) for r in await self.store.audit(limit)]

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.store.close()


def _decode(doc: bytes | None) -> State:
    try:
        return State.decode(doc)
    except ValueError as e:  # not JSON, or not a state this version understands
        raise AdminStoreError(f"the stored management document is unreadable: {e}") from e
