"""Opening a SQLite file the way every warmgate store does (response cache, vector index,
management state): its folder created, WAL journal, the schema applied, a failed setup closing
the connection. Each store keeps its own connection on its own worker thread."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal


def open_sqlite(
    path: str, schema: str, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL", timeout: float = 5.0,
) -> sqlite3.Connection:
    """A connection in autocommit mode (`isolation_level=None`: transactions are explicit), usable
    from the store's worker thread. `synchronous`: NORMAL (with WAL, durable apart from the last
    commits before a power loss, and much faster) or FULL (every commit survives a crash)."""
    if path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.executescript(schema)
    except sqlite3.Error:
        conn.close()
        raise
    return conn
