"""The gateway's own per-request cost, without sockets: the ASGI app driven in-process.

    python bench/overhead/app_micro.py              # cache hit (memory store) and the bypass path's front half
    python bench/overhead/app_micro.py --n 20000

A shared machine makes requests/s noisy; this measures only warmgate's Python work per request
(authentication, body parse, controls, policy, key, lookup, reply headers, the ASGI messages), the
part that differs from a bare server, as the minimum over repeats of the mean time per request.
The `hit` case answers from the memory store; `reject` stops at an unknown model (the front half
of every request: auth, read, parse, facts, resolve, error body).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson

from warmgate.config_file import parse_config
from warmgate.dialects.usage import read_usage
from warmgate.server.app import GatewayApp
from warmgate.server.run import tune_gc

CONFIG = """
server: {host: 127.0.0.1, port: 0}
keys: [{key: sk-bench, tenant: bench}]
providers:
  - {name: sim, api: openai, base_url: "http://127.0.0.1:9/v1", accounts: [{name: a1, api_key: sk-x}]}
models: {gpt-sim: sim}
cache: {enabled: true}
"""

BODY = orjson.dumps({
    "model": "gpt-sim",
    "messages": [
        {"role": "system", "content": "You are a careful assistant for a travel company. " * 8},
        {"role": "user", "content": "We are two adults and a ten-year-old planning four days in Paris. " * 4},
    ],
    "max_tokens": 256, "temperature": 0.2,
})
ANSWER = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-sim",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Day one. " * 20}}],
    "usage": {"prompt_tokens": 212, "completion_tokens": 41, "total_tokens": 253},
})


def scope(model_body: bytes) -> dict[str, Any]:
    return {
        "type": "http", "http_version": "1.1", "method": "POST", "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "", "scheme": "http",
        "headers": [
            (b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
            (b"authorization", b"Bearer sk-bench"), (b"content-length", str(len(model_body)).encode()),
            (b"user-agent", b"OpenAI/Python 1.99"), (b"accept", b"application/json"),
        ],
    }


async def drive(app: GatewayApp, body: bytes | list[bytes], n: int) -> float:
    """Mean µs per request over `n` requests of `body` (or of each body of a list, in turn)."""
    bodies = body if isinstance(body, list) else [body]
    msgs = [{"type": "http.request", "body": b, "more_body": False} for b in bodies]
    msg = msgs[0]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return msg

    async def send(m: Any) -> None:
        sent.append(m)

    sc = scope(bodies[0])
    t0 = time.perf_counter()
    for i in range(n):
        msg = msgs[i % len(msgs)]
        await app(dict(sc), receive, send)
    dt = time.perf_counter() - t0
    status = sent[-2]["status"]
    assert status in (200, 404), status
    sent.clear()
    return dt / n * 1e6


def unique_bodies(n: int, tag: str) -> list[bytes]:
    """`n` bodies of BODY's shape and length, each with its own user text (so each is a cache miss)."""
    return [BODY.replace(b"planning four", f"{tag}{i:07d}".encode()[:13].ljust(13, b"x")) for i in range(n)]


async def main_async(n: int, repeats: int) -> None:
    app = GatewayApp(parse_config(CONFIG))
    tune_gc()  # as the server does once it is up
    await app.startup()
    try:
        # seed the cache with an answer for BODY, the way a miss would have stored it
        from warmgate.cache.flow import CacheFlow
        from warmgate.exchange import Reply

        flow: CacheFlow = app.cache_flow  # type: ignore[assignment]
        assert flow is not None

        async def forward(body: dict[str, Any]) -> Reply:
            return Reply(200, [(b"content-type", b"application/json")], body=ANSWER)

        orig = app.pipeline._forward
        best: dict[str, float] = {}

        async def fake_forward(req: Any, resolved: Any, body: Any, ask: bool = False) -> Reply:
            # what the router does with a JSON answer in both modes: parse it once, read its usage
            reply = Reply(200, [(b"content-type", b"application/json")], body=ANSWER)
            reply.json = orjson.loads(ANSWER)
            reply.usage = read_usage("chat.completions", reply.json)
            return reply

        app.pipeline._forward = fake_forward  # type: ignore[method-assign]
        await drive(app, BODY, 1)  # the miss that stores
        await flow.drain()
        # miss: every request a new body (stored, then never asked again); cache-off: the same requests
        # to a gateway whose cache is off, the pass-through a miss must stay close to.
        off = GatewayApp(parse_config(CONFIG.replace("cache: {enabled: true}", "cache: {enabled: false}")))
        await off.startup()
        off.pipeline._forward = fake_forward  # type: ignore[method-assign]
        try:
            for rep in range(repeats):
                results: dict[str, float] = {}
                results["miss"] = await drive(app, unique_bodies(n, f"m{rep}"), n)
                await flow.drain()
                results["cache-off"] = await drive(off, unique_bodies(n, f"o{rep}"), n)
                for name, v in results.items():
                    best[name] = min(best.get(name, 1e9), v)
        finally:
            await off.shutdown()
        app.pipeline._forward = orig  # type: ignore[method-assign]
        unknown = BODY.replace(b'"gpt-sim"', b'"nope"')
        for name, body in (("hit", BODY), ("reject", unknown)):
            best[name] = min([await drive(app, body, n) for _ in range(repeats)])
        for name, v in best.items():
            print(f"{name:9} {v:7.2f} us/request (min of {repeats} x {n})")
        print(f"miss - cache-off: {best['miss'] - best['cache-off']:.2f} us/request")
    finally:
        await app.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    import uvloop

    uvloop.run(main_async(args.n, args.repeats))


if __name__ == "__main__":
    main()
