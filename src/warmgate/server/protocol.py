"""uvicorn's httptools protocol, with the guards it lacks against slow or abusive clients.

- Deadlines for the request head (`header_timeout`) and then for the body (`body_timeout`): a
  connection that opens and sends nothing, or sends its head or body a byte at a time (slowloris),
  is answered 408 (in the wire format of the route it asked for) and closed. uvicorn's own
  keep-alive timer only runs between requests. Doing this here, with one timer per request, is
  much cheaper than an `asyncio.timeout` around every body read in the app.
- A hard cap on the bytes of a request head, so a header flood cannot grow memory. The
  configured `max_header_bytes` is enforced in the app, where the error can be given in the
  caller's wire format; this cap sits above it and answers a plain 431.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from warmgate.errors import RequestTimeout, Wire, render


def _raw_response(
    status: bytes, body: bytes, request_id: str, content_type: bytes = b"text/plain; charset=utf-8"
) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n"
        b"x-warmgate-request-id: " + request_id.encode() + b"\r\n\r\n" + body
    )


def _timeout_response(url: bytes, what: str) -> bytes:
    request_id = os.urandom(12).hex()
    wire: Wire = "anthropic" if url.startswith(b"/v1/messages") else "openai"
    body = render(RequestTimeout(f"request {what} not received in time"), wire, request_id)
    return _raw_response(b"408 Request Timeout", body, request_id, b"application/json")


_IDLE, _HEAD, _BODY = 0, 1, 2


def guarded_protocol(header_timeout: float, body_timeout: float, head_cap: int) -> type[HttpToolsProtocol]:
    """A protocol class for `uvicorn.Config(http=...)` with the given limits.

    The common case costs nothing: a timer is armed only when a chunk of data leaves a request
    incomplete (its head or body still to come), or when a new connection has sent nothing yet.
    """

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _state = _IDLE
        _head_bytes = 0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._timer = self.loop.call_later(header_timeout, self._timed_out, "head")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state = self._state
            if state == _IDLE or self.transport.is_closing():
                return
            if state == _HEAD:
                # Bytes of a head still incomplete after this chunk; the chunk that completes a head
                # is bounded by the transport's read size, and the app checks the exact limit.
                self._head_bytes += len(data)
                if self._head_bytes > head_cap:
                    self._disarm()
                    self.transport.write(
                        _raw_response(b"431 Request Header Fields Too Large", b"request head too large", os.urandom(12).hex())
                    )
                    self.transport.close()
                    return
            if self._timer is None:
                if state == _HEAD:
                    self._timer = self.loop.call_later(header_timeout, self._timed_out, "head")
                else:
                    self._timer = self.loop.call_later(body_timeout, self._timed_out, "body")

        def _timed_out(self, waiting_for: str) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            cycle = getattr(self, "cycle", None)
            if waiting_for == "body" and cycle is not None and cycle.response_started:
                self.transport.close()  # the app already answered (without reading the body)
                return
            self.transport.write(_timeout_response(getattr(self, "url", b""), waiting_for))
            self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._state = _HEAD
            self._head_bytes = 0

        def on_headers_complete(self) -> None:
            self._state = _BODY
            if self._timer is not None:  # the head's deadline is met; the body's starts if it is late
                self._timer.cancel()
                self._timer = None
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._state = _IDLE
            self._disarm()
            super().on_message_complete()

    return GuardedHttpToolsProtocol
