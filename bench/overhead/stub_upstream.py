"""A tiny stand-in provider: raw asyncio Protocol + httptools on uvloop (the upstream of perf-ceiling.md).

`POST` anything: a body with `"stream": true` gets 20 SSE chunks plus `data: [DONE]`, sent chunked;
any other body gets a fixed 634-byte chat completion. Connections are kept alive. With
`--chunk-delay-ms N` the stream's events are sent one every N ms instead of in one burst.

    python bench/overhead/stub_upstream.py --port 0   # prints "stub upstream listening on http://HOST:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import cast

import httptools
import orjson
import uvloop


def _completion() -> bytes:
    body = {
        "id": "chatcmpl-stub0000000000000000000000",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-sim",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 231,
            "completion_tokens": 64,
            "total_tokens": 295,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
        "system_fingerprint": "fp_stub",
    }
    filler = "The capital of France is Paris, which is also its largest city. "
    base = len(orjson.dumps(body))
    body["choices"][0]["message"]["content"] = (filler * 20)[: 634 - base]
    out = orjson.dumps(body)
    assert len(out) == 634, len(out)
    return out


COMPLETION = _completion()


ANSWER = "Paris is the capital and the largest city of France , on the Seine river in the north ."


def _events() -> list[bytes]:
    words = ANSWER.split()
    out = []
    for i in range(20):
        delta = {"content": words[i % len(words)] + " "} if i < 19 else {}
        chunk = {
            "id": "chatcmpl-stub0000000000000000000000",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "gpt-sim",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None if i < 19 else "stop"}],
        }
        out.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return [b"%x\r\n%s\r\n" % (len(e), e) for e in out]  # each event is one HTTP chunk


EVENTS = _events()
PLAIN_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(COMPLETION)
STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
STREAM_END = b"0\r\n\r\n"


class StubProtocol(asyncio.Protocol):
    def __init__(self, chunk_delay: float) -> None:
        self.chunk_delay = chunk_delay
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        try:
            stream = bool(orjson.loads(b"".join(self.body)).get("stream"))
        except (orjson.JSONDecodeError, AttributeError):
            stream = False
        t = self.transport
        if t is None:
            return
        if not stream:
            t.write(PLAIN_HEAD + COMPLETION)
        elif self.chunk_delay <= 0:
            t.write(STREAM_HEAD + b"".join(EVENTS) + STREAM_END)
        else:
            t.write(STREAM_HEAD)
            self._paced(0)

    def _paced(self, i: int) -> None:
        if self.transport is None:
            return
        if i == len(EVENTS):
            self.transport.write(STREAM_END)
            return
        self.transport.write(EVENTS[i])
        asyncio.get_running_loop().call_later(self.chunk_delay, self._paced, i + 1)


async def serve(host: str, port: int, chunk_delay_ms: float) -> None:
    sock = socket.create_server((host, port), reuse_port=False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StubProtocol(chunk_delay_ms / 1000), sock=sock, backlog=1024)
    h, p = sock.getsockname()[:2]
    print(f"stub upstream listening on http://{h}:{p}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pace stream events (0 = one burst)")
    args = ap.parse_args()
    uvloop.run(serve(args.host, args.port, args.chunk_delay_ms))


if __name__ == "__main__":
    main()
