"""What gateways and caching configurations cost: per request, per change. Prints numbers.

    python bench/manage.py            (pin it for stabler numbers: taskset -c 1 python bench/manage.py)

1. A fresh memory-cache hit answered by the protocol's fast path (`GatewayApp.answer_now`, in-process,
   no sockets): on `/v1` with the YAML file's cache (the baseline, measured in the same run), on
   `/g/support/v1` with a caching configuration assigned to the model, and with a request control.
2. The policy: `effective` without a layer (the baseline), with a resolved layer, and a layer lookup.
3. A change through the management service on SQLite (compare-and-set write + layer rebuild and
   swap), with 10 and 1000 configurations in the state.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from warmgate.cache.policy import effective
from warmgate.config_file import parse_config
from warmgate.controls import NO_DIRECTIVE
from warmgate.exchange import Reply
from warmgate.manage.model import CachingConfig
from warmgate.server.app import GatewayApp

CONFIG = """
server: {host: 127.0.0.1, port: 0}
keys: [{key: sk-bench, tenant: bench}]
admin_key: sk-admin
providers:
  - {name: sim, api: openai, base_url: "http://127.0.0.1:9/v1", accounts: [{name: a1, api_key: sk-x}]}
models: {gpt-sim: sim, gpt-two: sim}
cache: {enabled: true}
gateways: {support: {models: [gpt-sim]}}
management: {sqlite: {path: PATH}}
"""
BODY = orjson.dumps({
    "model": "gpt-sim",
    "messages": [{"role": "system", "content": "You are a careful assistant. " * 8},
                 {"role": "user", "content": "Plan four days in Paris. " * 4}],
    "max_tokens": 256,
})
ANSWER = orjson.dumps({
    "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-sim",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Day one. " * 20}}],
    "usage": {"prompt_tokens": 212, "completion_tokens": 41, "total_tokens": 253},
})


def scope(path: str, extra: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"authorization", b"Bearer sk-bench"),
                        *(extra or [])]}


def per_call_us(fn: Callable[[], object], number: int = 3000) -> tuple[float, float]:
    """(median, p99) over 40 batches of the mean per-call time, in microseconds."""
    runs = sorted(t / number * 1e6 for t in timeit.repeat(fn, number=number, repeat=40))
    return statistics.median(runs), runs[int(len(runs) * 0.99) - 1]


async def seed(app: GatewayApp, path: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    async def fake_forward(*args: Any) -> Reply:
        return Reply(200, [(b"content-type", b"application/json")], body=ANSWER)

    orig = app.pipeline._forward
    app.pipeline._forward = fake_forward  # type: ignore[method-assign]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(m: Any) -> None:
        sent.append(m)

    await app(scope(path, extra), receive, send)
    assert app.cache_flow is not None
    await app.cache_flow.drain()
    app.pipeline._forward = orig  # type: ignore[method-assign]


async def main_async() -> None:
    tmp = tempfile.TemporaryDirectory()
    app = GatewayApp(parse_config(CONFIG.replace("PATH", str(Path(tmp.name) / "admin.sqlite3"))))
    await app.startup()
    m = app.management
    assert m is not None
    try:
        await m.change("bench", "create", "bench-config", None,
                       lambda s, d: (s.create(CachingConfig(name="bench-config", types=("exact",), ttl=600)), None))
        await m.change("bench", "assign", "bench-config", None,
                       lambda s, d: (s.assign("bench-config", "support", ("gpt-sim",), d), None))
        control = [(b"x-cache-control", b"max-age=300")]
        cases = [("/v1, YAML cache (baseline)", "/v1/chat/completions", None),
                 ("/g/support/v1, configuration", "/g/support/v1/chat/completions", None),
                 ("/g/support/v1 + x-cache-control", "/g/support/v1/chat/completions", control)]
        print("command: python bench/manage.py")
        print(f"{'1. fresh hit via answer_now':<44} {'median us':>10} {'p99 us':>8} {'ratio':>6}")
        hits = []
        for _name, path, extra in cases:
            await seed(app, path, extra)
            sc = scope(path, extra)

            def hit(sc: dict[str, Any] = sc) -> object:
                reply = app.answer_now(dict(sc), BODY)
                assert reply is not None
                return reply

            hits.append(hit)
        # round robin: each batch of every case runs next to the others' (a noisy machine drifts)
        runs: list[list[float]] = [[] for _ in cases]
        for _ in range(40):
            for i, fn in enumerate(hits):
                runs[i].append(timeit.timeit(fn, number=2000) / 2000 * 1e6)
        base = 0.0
        for (name, _, _), times in zip(cases, runs, strict=True):
            times.sort()
            med, p99 = statistics.median(times), times[int(len(times) * 0.99) - 1]
            base = base or med
            print(f"{name:<44} {med:>10.2f} {p99:>8.2f} {med / base:>6.2f}")

        cfg = app.config.cache
        layers = app.cache_flow.layers  # type: ignore[union-attr]
        layer = layers.layer("support", "gpt-sim")
        print(f"\n{'2. policy':<44} {'median us':>10} {'p99 us':>8} {'ratio':>6}")
        base = 0.0
        for name, fn in (("effective, no layer (baseline)", lambda: effective(cfg, "gpt-sim", NO_DIRECTIVE, "t")),
                         ("effective, with layer", lambda: effective(cfg, "gpt-sim", NO_DIRECTIVE, "t", layer)),
                         ("layers.layer (memoised)", lambda: layers.layer("support", "gpt-sim"))):
            med, p99 = per_call_us(fn)
            base = base or med
            print(f"{name:<44} {med:>10.2f} {p99:>8.2f} {med / base:>6.2f}")

        print(f"\n{'3. one change (SQLite CAS + swap)':<44} {'median ms':>10} {'p99 ms':>8}")
        for total in (10, 1000):
            have = len(m.snapshot.state.configs)

            def add_many(s: Any, d: Any, have: int = have, total: int = total) -> tuple[Any, None]:
                for i in range(have, total):
                    s = s.create(CachingConfig(name=f"filler-{i:05d}", types=("exact",), ttl=60))
                return s, None

            await m.change("bench", "fill", "-", None, add_many)
            times = []
            for i in range(30):
                t0 = time.perf_counter()
                await m.change("bench", "edit", "bench-config", None,
                               lambda s, d, i=i: s.edit("bench-config", {"ttl": 100 + i}))
                times.append((time.perf_counter() - t0) * 1e3)
            times.sort()
            print(f"{f'{total} configurations':<44} {statistics.median(times):>10.2f} {times[-1]:>8.2f}")
    finally:
        await app.shutdown()
        tmp.cleanup()


def main() -> None:
    import uvloop

    uvloop.run(main_async())


if __name__ == "__main__":
    main()
