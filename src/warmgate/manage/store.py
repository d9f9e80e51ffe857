"""Where the management state lives: the `AdminStore` Protocol, the SQLite store, the factory.

The state is one small JSON document with a version number. A change is a compare-and-set: it is
written only if the version is still the one the change was computed from, together with its audit
record, in one transaction; the version then goes up by one. So concurrent changes from several
instances never overwrite each other (the loser re-reads and recomputes), and a crash mid-write
leaves the previous document: nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, TypeVar

from warmgate.config import ManagementConfig
from warmgate.sqlite_file import open_sqlite

T = TypeVar("T")


class AdminStoreError(Exception):
    """The store could not be reached or failed."""


class AdminStore(Protocol):
    async def read(self) -> tuple[int, bytes | None]:
        """(version, document); (0, None) before the first write."""
        ...

    async def version(self) -> int: ...

    async def write(self, expected: int, doc: bytes, audit: bytes) -> bool:
        """Store `doc` as version `expected + 1` and append `audit`, atomically, if the version is
        still `expected`; False (nothing written) otherwise."""
        ...

    async def audit(self, limit: int) -> list[bytes]:
        """The latest audit records, newest first."""
        ...

    async def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, record BLOB NOT NULL);
"""


class SqliteAdminStore:
    """One SQLite file (WAL, synchronous=FULL: a commit is on disk before it is acknowledged), used
    from one worker thread; `BEGIN IMMEDIATE` makes the compare-and-set atomic across processes."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmgate-admin-sqlite")

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:  # FULL: an acknowledged change survives a crash
            self._conn = open_sqlite(self.path, _SCHEMA, synchronous="FULL")
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(self._open()))
        except (sqlite3.Error, OSError) as e:
            raise AdminStoreError(f"sqlite {self.path}: {e}") from e

    async def read(self) -> tuple[int, bytes | None]:
        def work(conn: sqlite3.Connection) -> tuple[int, bytes | None]:
            row = conn.execute("SELECT version, doc FROM state WHERE id = 1").fetchone()
            return (0, None) if row is None else (int(row[0]), bytes(row[1]))

        return await self._run(work)

    async def version(self) -> int:
        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT version FROM state WHERE id = 1").fetchone()
            return 0 if row is None else int(row[0])

        return await self._run(work)

    async def write(self, expected: int, doc: bytes, audit: bytes) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT version FROM state WHERE id = 1").fetchone()
                if (0 if row is None else int(row[0])) != expected:
                    conn.execute("ROLLBACK")
                    return False
                conn.execute(
                    "INSERT INTO state (id, version, doc) VALUES (1, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET version = excluded.version, doc = excluded.doc",
                    (expected + 1, doc),
                )
                conn.execute("INSERT INTO audit (record) VALUES (?)", (audit,))
                conn.execute("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - 10000")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return True

        return await self._run(work)

    async def audit(self, limit: int) -> list[bytes]:
        def work(conn: sqlite3.Connection) -> list[bytes]:
            rows = conn.execute("SELECT record FROM audit ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
            return [bytes(r[0]) for r in rows]

        return await self._run(work)

    async def close(self) -> None:
        def work() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, work)
        self._executor.shutdown(wait=False)


def open_admin_store(cfg: ManagementConfig, *, persistent: bool = True) -> AdminStore:
    """The one place that picks the concrete management store (`persistent` False: the gateway has
    no admin key and no `management:` section, so nothing can change the state: kept in memory)."""
    if not persistent:
        return MemoryAdminStore()
    if cfg.store == "redis":
        from warmgate.manage.store_redis import RedisAdminStore

        return RedisAdminStore(cfg.redis.url, cfg.redis.key_prefix)
    return SqliteAdminStore(cfg.sqlite.path)


class MemoryAdminStore:
    """The state of a gateway whose management API is off and which names no `management:` store:
    nothing can change it, so nothing is written to disk."""

    def __init__(self) -> None:
        self._version, self._doc = 0, b""
        self._audit: list[bytes] = []

    async def read(self) -> tuple[int, bytes | None]:
        return self._version, self._doc or None

    async def version(self) -> int:
        return self._version

    async def write(self, expected: int, doc: bytes, audit: bytes) -> bool:
        if expected != self._version:
            return False
        self._version, self._doc = expected + 1, doc
        self._audit.insert(0, audit)
        return True

    async def audit(self, limit: int) -> list[bytes]:
        return self._audit[:limit]

    async def close(self) -> None:
        return None
