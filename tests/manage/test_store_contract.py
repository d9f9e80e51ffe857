"""One contract for every management store (memory, SQLite, Redis): versioned compare-and-set with
the audit record in the same step, concurrent writers never both win."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer
from warmgate.manage.store import AdminStore, MemoryAdminStore, SqliteAdminStore
from warmgate.manage.store_redis import RedisAdminStore


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AdminStore]:
    made: AdminStore
    if request.param == "memory":
        made = MemoryAdminStore()
    elif request.param == "sqlite":
        made = SqliteAdminStore(tmp_path / "admin.sqlite3")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisAdminStore(server.url, f"test-admin-{uuid.uuid4().hex[:8]}:")
    yield made
    await made.close()


async def test_empty_then_compare_and_set(store: AdminStore) -> None:
    assert await store.read() == (0, None)
    assert await store.version() == 0
    assert await store.write(0, b'{"a":1}', b"first")
    assert not await store.write(0, b'{"a":2}', b"stale writer")  # the version moved: nothing written
    assert await store.read() == (1, b'{"a":1}')
    assert await store.write(1, b'{"a":3}', b"second")
    assert await store.version() == 2
    assert await store.audit(10) == [b"second", b"first"]
    assert await store.audit(1) == [b"second"]


async def test_concurrent_writers_one_wins(store: AdminStore) -> None:
    results = await asyncio.gather(*(store.write(0, f"doc-{i}".encode(), f"w{i}".encode()) for i in range(8)))
    assert sum(results) == 1
    version, doc = await store.read()
    assert version == 1 and doc == f"doc-{results.index(True)}".encode()
    assert len(await store.audit(100)) == 1


async def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    first = SqliteAdminStore(tmp_path / "admin.sqlite3")
    assert await first.write(0, b"kept", b"audit")
    await first.close()
    second = SqliteAdminStore(tmp_path / "admin.sqlite3")
    assert await second.read() == (1, b"kept")
    await second.close()
