"""The bare reference proxy: the ceiling a Python gateway can reach here (variant a of perf-ceiling.md).

uvicorn + uvloop + httptools serving a raw ASGI app; one aiohttp ClientSession with a pooled
keep-alive connector. Per request: read the body, `orjson.loads`, `orjson.dumps`, POST it to the same
path upstream, return the body; a `"stream": true` request has the upstream chunks forwarded as they
arrive. No auth, no cache, no routing: whatever warmgate does beyond this is its overhead.

    python bench/overhead/bare_proxy.py --upstream http://127.0.0.1:PORT --port 0
    # prints "bare proxy listening on http://HOST:PORT" once it accepts connections
"""

from __future__ import annotations

import argparse
import socket
from typing import Any

import aiohttp
import orjson
import uvicorn


class BareProxy:
    def __init__(self, upstream: str, api_key: str, ready_line: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.ready_line = ready_line
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.proxy(scope, receive, send)

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
                self.session = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))
                await send({"type": "lifespan.startup.complete"})
                print(self.ready_line, flush=True)
            elif msg["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def proxy(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            await respond(send, 400, b'{"error":{"message":"invalid JSON"}}', b"application/json")
            return
        assert self.session is not None
        url = self.upstream + scope["path"]
        async with self.session.post(url, data=orjson.dumps(obj), headers=self.headers) as resp:
            ctype = resp.headers.get("Content-Type", "application/json").encode()
            if not (isinstance(obj, dict) and obj.get("stream")):
                await respond(send, resp.status, await resp.read(), ctype)
                return
            await send({"type": "http.response.start", "status": resp.status, "headers": [(b"content-type", ctype)]})
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})


async def respond(send: Any, status: int, body: bytes, ctype: bytes) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="upstream origin, e.g. http://127.0.0.1:9000")
    ap.add_argument("--api-key", default="sk-sim-1", help="sent upstream as the Bearer key")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    sock = socket.create_server((args.host, args.port), backlog=1024)  # bound and listening before the print
    host, port = sock.getsockname()[:2]
    app = BareProxy(args.upstream, args.api_key, f"bare proxy listening on http://{host}:{port}")
    config = uvicorn.Config(app, loop="uvloop", http="httptools", lifespan="on", access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
