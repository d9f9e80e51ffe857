"""The bare dict-lookup server: the ceiling for cache hits here (the `+cache` variants of perf-ceiling.md).

uvicorn + uvloop + httptools serving a raw ASGI app. Per request: read the body, key it with
`sha256(orjson.dumps(orjson.loads(body), option=OPT_SORT_KEYS))`, answer the stored bytes from a dict.
A key not yet there is filled from a fixed chat completion (no upstream) and answered `MISS`; every
later identical body is a `HIT`. The `x-warmgate-cache` header is sent so that the benchmark's hit
counting treats this server and warmgate alike.

    python bench/cache/dict_server.py --port 0   # prints "dict server listening on http://HOST:PORT"
"""

from __future__ import annotations

import argparse
import hashlib
import socket
from typing import Any

import orjson
import uvicorn

COMPLETION = orjson.dumps({
    "id": "chatcmpl-dict00000000000000000000", "object": "chat.completion", "created": 1_700_000_000,
    "model": "gpt-sim", "system_fingerprint": "fp_dict",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": {
        "role": "assistant", "refusal": None,
        "content": "Day one: the Marais and the Musée Picasso in the morning, the Jardin des Plantes after "
                   "lunch. Stay near Saint-Paul or the Latin Quarter to walk most places.",
    }}],
    "usage": {"prompt_tokens": 212, "completion_tokens": 41, "total_tokens": 253},
})


def headers(body: bytes, status: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-warmgate-cache", status)]


class DictServer:
    def __init__(self, ready_line: str) -> None:
        self.ready_line = ready_line
        self.store: dict[bytes, tuple[bytes, list[tuple[bytes, bytes]]]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
                print(self.ready_line, flush=True)
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        try:
            key = hashlib.sha256(orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)).digest()
        except orjson.JSONDecodeError:
            key = b""
        found = self.store.get(key)
        if found is None:
            self.store[key] = (COMPLETION, headers(COMPLETION, b"HIT"))
            found = (COMPLETION, headers(COMPLETION, b"MISS"))
        await send({"type": "http.response.start", "status": 200, "headers": found[1]})
        await send({"type": "http.response.body", "body": found[0]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    sock = socket.create_server((args.host, args.port), backlog=1024)  # bound and listening before the print
    host, port = sock.getsockname()[:2]
    app = DictServer(f"dict server listening on http://{host}:{port}")
    config = uvicorn.Config(app, loop="uvloop", http="httptools", lifespan="on", access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
