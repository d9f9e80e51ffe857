"""A streamed reply's head is written by the gateway's protocol (`server.protocol.Responder.start`),
its body by uvicorn: on the wire that must stay valid HTTP/1.1, on a kept-alive connection and on
one the client closes."""

from __future__ import annotations

import socket
from typing import Any, BinaryIO

import orjson

from tests.servers import Gateway
from warmgate.sse import DONE
from warmgate.sse import parse as parse_sse

AUTH = b"authorization: Bearer sk-team-a\r\n"


def _read_response(f: BinaryIO) -> tuple[bytes, dict[bytes, list[bytes]], bytes]:
    """(status line, headers, de-chunked body) of one response read from the file `f`."""
    status = f.readline()
    headers: dict[bytes, list[bytes]] = {}
    while (line := f.readline()) != b"\r\n":
        name, _, value = line.rstrip(b"\r\n").partition(b":")
        headers.setdefault(name.lower(), []).append(value.strip())
    if b"content-length" in headers:
        return status, headers, f.read(int(headers[b"content-length"][0]))
    body = b""
    while (size := int(f.readline().strip(), 16)) > 0:
        body += f.read(size)
        assert f.read(2) == b"\r\n"
    assert f.read(2) == b"\r\n"
    return status, headers, body


def _post(sock: socket.socket, body: dict[str, Any], close: bool = False) -> None:
    data = orjson.dumps(body)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n" + AUTH
                 + (b"connection: close\r\n" if close else b"") + b"content-length: %d\r\n\r\n" % len(data) + data)


def test_streamed_replies_are_framed_and_the_connection_kept(gateway: Gateway) -> None:
    host, port = gateway.url.removeprefix("http://").split(":")
    chat = {"model": "gpt-sim", "messages": [{"role": "user", "content": "framing"}]}
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        f = sock.makefile("rb")
        for _ in range(2):  # a stream, then a whole reply, then a stream on the same connection
            _post(sock, {**chat, "stream": True})
            status, headers, body = _read_response(f)
            assert status.startswith(b"HTTP/1.1 200"), status
            assert headers[b"transfer-encoding"] == [b"chunked"] and b"content-length" not in headers
            assert headers[b"content-type"][0].startswith(b"text/event-stream")
            assert len(headers[b"x-warmgate-request-id"]) == 1 and b"connection" not in headers
            events = parse_sse(body)
            assert events[-1].data == DONE and all(orjson.loads(e.data)["choices"] for e in events[:-1])
            _post(sock, chat)
            status, headers, body = _read_response(f)
            assert status.startswith(b"HTTP/1.1 200") and orjson.loads(body)["choices"]
        _post(sock, {**chat, "stream": True}, close=True)
        status, headers, body = _read_response(f)
        assert status.startswith(b"HTTP/1.1 200") and headers[b"connection"] == [b"close"]
        assert parse_sse(body)[-1].data == DONE
        assert f.read(1) == b""  # the gateway closed the connection
