"""The embedded store: one SQLite file (WAL), used from one dedicated worker thread.

Every sqlite3 call runs on a single-thread executor that owns the only connection, so the event
loop never blocks on disk and the calls of one store are serialised (which also makes each
read-check-write of `add` atomic within the process; `BEGIN IMMEDIATE` makes it atomic across
processes sharing the file).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from warmgate.sqlite_file import open_sqlite
from warmgate.stores.base import Entry, StoreError

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    value BLOB NOT NULL,
    stored_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    stale_until REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_key ON entries (key, idx);
CREATE INDEX IF NOT EXISTS entries_stale ON entries (stale_until);
"""
# A rowid table on purpose: WITHOUT ROWID suits small rows, and values may be megabytes.

SWEEP_EVERY = 60.0  # seconds (of the callers' clock) between sweeps of dead rows
SWEEP_BATCH = 1000  # rows per sweep, so one sweep never holds the worker long

_MAX_CHAR = 0x10FFFF


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string that starts with `prefix` (None: no bound).

    SQLite compares TEXT as UTF-8 bytes, which orders like code points, so incrementing the last
    character that can be incremented is exact, where `prefix + '\\uffff'` would miss keys with
    characters above the BMP and LIKE would treat `%` and `_` in the prefix as wildcards."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < _MAX_CHAR:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored as UTF-8
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None


def _prefix_where(prefix: str) -> tuple[str, tuple[str, ...]]:
    end = prefix_end(prefix)
    if end is None:
        return ("key >= ?", (prefix,))
    return ("key >= ? AND key < ?", (prefix, end))


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the file's write lock at once (no upgrade deadlocks)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteStore:
    """Buckets as rows `(key, idx, value, stored_at, expires_at, stale_until)`.

    Bucket indexes are positions among the live rows of a key in `idx` order; dead rows (past
    `stale_until`) are deleted when their bucket is read or written, and by a sweep every
    `SWEEP_EVERY` seconds run by `add`. An entry that is already dead is not stored (`add` -> None)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmgate-sqlite")
        self._last_sweep = float("-inf")
        self._closed = False
        # Queued first, so the worker opens the file before any call; an error surfaces on use,
        # and later calls try to open it again.
        self._executor.submit(self._open)

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_sqlite(self.path, SCHEMA)
        return self._conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("sqlite store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._call, fn)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc
        except OSError as exc:  # the directory of the file could not be made
            raise StoreError(f"sqlite: {exc}") from exc

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._open())

    @staticmethod
    def _read(conn: sqlite3.Connection, key: str) -> list[tuple[bytes, float, float, float]]:
        return conn.execute(
            "SELECT value, stored_at, expires_at, stale_until FROM entries WHERE key = ? ORDER BY idx",
            (key,),
        ).fetchall()

    @staticmethod
    def _drop_dead(conn: sqlite3.Connection, key: str, now: float) -> None:
        conn.execute("DELETE FROM entries WHERE key = ? AND stale_until < ?", (key, now))

    async def get(self, key: str, now: float) -> list[Entry]:
        def work(conn: sqlite3.Connection) -> list[Entry]:
            rows = self._read(conn, key)
            live = [Entry(v, a, b, c) for v, a, b, c in rows if c >= now]
            if len(live) < len(rows):
                self._drop_dead(conn, key, now)
            return live

        return await self._run(work)

    async def add(self, key: str, entry: Entry, max_entries: int, now: float) -> int | None:
        if entry.stale_until < now or max_entries < 1:
            return None
        sweep = now - self._last_sweep >= SWEEP_EVERY
        if sweep:
            self._last_sweep = now

        def work(conn: sqlite3.Connection) -> int | None:
            with _transaction(conn):
                self._drop_dead(conn, key, now)
                count, top = conn.execute(
                    "SELECT COUNT(*), MAX(idx) FROM entries WHERE key = ?", (key,)
                ).fetchone()
                if sweep:
                    self._sweep(conn, now)
                if count >= max_entries:
                    return None
                conn.execute(
                    "INSERT INTO entries (key, idx, value, stored_at, expires_at, stale_until)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        0 if top is None else top + 1,
                        entry.value,
                        entry.stored_at,
                        entry.expires_at,
                        entry.stale_until,
                    ),
                )
                return int(count)

        return await self._run(work)

    @staticmethod
    def _sweep(conn: sqlite3.Connection, now: float) -> int:
        return conn.execute(
            "DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries WHERE stale_until < ? LIMIT ?)",
            (now, SWEEP_BATCH),
        ).rowcount

    async def sweep(self, now: float) -> int:
        """Delete up to `SWEEP_BATCH` dead rows now; returns how many went."""
        self._last_sweep = now
        return await self._run(lambda conn: self._sweep(conn, now))

    async def replace(self, key: str, index: int, entry: Entry, now: float) -> bool:
        if index < 0 or entry.stale_until < now:
            return False

        def work(conn: sqlite3.Connection) -> bool:
            with _transaction(conn):
                self._drop_dead(conn, key, now)
                done: int = conn.execute(
                    "UPDATE entries SET value = ?, stored_at = ?, expires_at = ?, stale_until = ?"
                    " WHERE rowid = (SELECT rowid FROM entries WHERE key = ? ORDER BY idx LIMIT 1 OFFSET ?)",
                    (entry.value, entry.stored_at, entry.expires_at, entry.stale_until, key, index),
                ).rowcount
            return done == 1

        return await self._run(work)

    async def delete(self, key: str) -> int:
        def work(conn: sqlite3.Connection) -> int:
            return 1 if conn.execute("DELETE FROM entries WHERE key = ?", (key,)).rowcount else 0

        return await self._run(work)

    async def delete_prefix(self, prefix: str) -> int:
        where, args = _prefix_where(prefix)

        def work(conn: sqlite3.Connection) -> int:
            with _transaction(conn):
                (count,) = conn.execute(
                    f"SELECT COUNT(DISTINCT key) FROM entries WHERE {where}", args
                ).fetchone()
                conn.execute(f"DELETE FROM entries WHERE {where}", args)
            return int(count)

        return await self._run(work)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def work() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, work)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc
        finally:
            self._executor.shutdown(wait=False)
