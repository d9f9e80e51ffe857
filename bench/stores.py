"""Cache-store micro-benchmark: get/add latency (p50, p99) of every store, bare and guarded.

    python bench/stores.py                         # ~15 s: 3000 ops of each kind, 4 KiB values
    python bench/stores.py --ops 10000 --value-bytes 32768

One coroutine issues one call at a time on uvloop (as the gateway runs), so the numbers are the
latency a request sees, not throughput. Redis is a redis-server this script starts on a free
loopback port (no persistence) and stops. `get` reads existing buckets (hits); `add` writes new ones.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop

from warmgate.stores.base import CacheStore, Entry
from warmgate.stores.guard import GuardedStore
from warmgate.stores.memory import MemoryStore
from warmgate.stores.redis import RedisStore
from warmgate.stores.sqlite import SqliteStore


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("redis-server did not start")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def timed(n: int, call: Callable[[int], Coroutine[Any, Any, object]]) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - started)
    return out


async def measure(name: str, store: CacheStore, ops: int, value: bytes) -> None:
    now = time.time()
    entry = Entry(value, now, now + 3600, now + 3600)
    keys = [f"t.bench|ns|{i:08d}" for i in range(ops)]
    await timed(min(ops, 500), lambda i: store.add("warm" + keys[i], entry, 1, now))  # warm-up
    adds = await timed(ops, lambda i: store.add(keys[i], entry, 1, now))
    gets = await timed(ops, lambda i: store.get(keys[(i * 7919) % ops], now))
    assert len(await store.get(keys[0], now)) == 1
    await store.delete_prefix("")
    await store.close()
    row = [f"{percentile(s, p) * 1e6:8.1f}" for s in (gets, adds) for p in (0.5, 0.99)]
    print(f"{name:16} {'  '.join(row)}", flush=True)


async def main(args: argparse.Namespace) -> None:
    value = bytes(range(256)) * (args.value_bytes // 256) + b"x" * (args.value_bytes % 256)
    workdir = tempfile.mkdtemp(prefix="warmgate-bench-")
    proc, url = start_redis(workdir)

    def guard(store: CacheStore) -> GuardedStore:
        return GuardedStore(store, timeout=0.5, failures=5, reset=5, clock=time.monotonic)

    makers: list[tuple[str, Callable[[], CacheStore]]] = [
        ("memory", lambda: MemoryStore(1 << 30)),
        ("memory+guard", lambda: guard(MemoryStore(1 << 30))),  # the guard's own cost
        ("sqlite", lambda: SqliteStore(Path(workdir) / "a.sqlite3")),
        ("sqlite+guard", lambda: guard(SqliteStore(Path(workdir) / "b.sqlite3"))),
        ("redis", lambda: RedisStore(url, "bench:")),
        ("redis+guard", lambda: guard(RedisStore(url, "bench:"))),
    ]
    print(f"$ {shlex.join(['python', *sys.argv])}")
    print(f"{args.ops} ops of each kind, {args.value_bytes}-byte values, latency in microseconds")
    print(f"{'store':16} {'get p50':>8}  {'get p99':>8}  {'add p50':>8}  {'add p99':>8}")
    try:
        for name, make in makers:
            await measure(name, make(), args.ops, value)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--value-bytes", type=int, default=4096)
    uvloop.run(main(parser.parse_args()))
