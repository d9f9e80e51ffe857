"""SqliteStore beyond the contract: persistence, concurrency, the sweep, the prefix range."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tests.stores.conftest import NOW, entry
from warmgate.stores.base import StoreError
from warmgate.stores.sqlite import SWEEP_EVERY, SqliteStore, prefix_end


def rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM entries").fetchone()
    conn.close()
    return int(n)


async def test_entries_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite3"  # the directory is made on open
    store = SqliteStore(path)
    await store.add("t|ns|k", entry(b"kept"), 2, NOW)
    await store.add("t|ns|k", entry(b"too"), 2, NOW)
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreError):
        await store.get("t|ns|k", NOW)

    again = SqliteStore(path)
    assert [e.value for e in await again.get("t|ns|k", NOW)] == [b"kept", b"too"]
    assert await again.add("t|ns|k", entry(b"x"), 2, NOW) is None
    await again.close()


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite3")
    await store.get("k", NOW)
    with sqlite3.connect(tmp_path / "c.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    await store.close()


async def test_concurrent_calls_from_many_tasks(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite3")
    adds = [store.add("shared", entry(b"%d" % i), 3, NOW) for i in range(60)]
    own = [store.add(f"own{i}", entry(b"%d" % i), 1, NOW) for i in range(60)]
    reads = [store.get("shared", NOW) for _ in range(20)]
    results = await asyncio.gather(*adds, *own, *reads)
    assert sorted(i for i in results[:60] if i is not None) == [0, 1, 2]
    assert results[60:120] == [0] * 60
    assert len(await store.get("shared", NOW)) == 3
    assert await store.delete_prefix("own") == 60
    await store.close()


async def test_the_event_loop_keeps_running_during_big_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.sqlite3")
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    big = b"z" * (4 * 1024 * 1024)
    for i in range(5):
        await store.add(f"big{i}", entry(big), 1, NOW)
    done = True
    await task
    assert ticks > 5  # the loop ran while the worker thread wrote
    await store.close()


async def test_dead_rows_are_swept(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    store = SqliteStore(path)
    for i in range(50):
        await store.add(f"short{i}", entry(ttl=10), 1, NOW)
    await store.add("long", entry(ttl=10_000), 1, NOW)
    assert rows(path) == 51
    # an add after SWEEP_EVERY seconds sweeps every dead row, not only its own bucket's
    later = NOW + SWEEP_EVERY + 11
    await store.add("new", entry(at=later), 1, later)
    assert rows(path) == 2
    await store.add("short0", entry(at=later, ttl=1), 1, later)
    assert await store.sweep(later + 5) == 1
    await store.close()


async def test_reading_a_bucket_drops_its_dead_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    store = SqliteStore(path)
    await store.add("k", entry(b"a", ttl=10), 2, NOW)
    await store.add("k", entry(b"b", ttl=100), 2, NOW)
    assert [e.value for e in await store.get("k", NOW + 50)] == [b"b"]
    assert rows(path) == 1
    await store.close()


async def test_an_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    store = SqliteStore(tmp_path / "file" / "c.sqlite3")
    started = time.monotonic()
    with pytest.raises(StoreError):
        await store.get("k", NOW)
    with pytest.raises(StoreError):
        await store.add("k", entry(), 1, NOW)
    assert time.monotonic() - started < 1
    await store.close()


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("", None),
        ("t.a|", "t.a}"),
        ("a%", "a&"),
        ("x\uffff", "x\U00010000"),
        ("x\U0010ffff", "y"),
        ("\U0010ffff\U0010ffff", None),
        ("a\ud7ff", "a\ue000"),
    ],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end
