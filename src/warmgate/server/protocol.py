"""uvicorn's httptools protocol, with the guards it lacks against slow or abusive clients.

- Deadlines for the request head (`header_timeout`) and then for the body (`body_timeout`): a
  connection that opens and sends nothing, or sends its head or body a byte at a time (slowloris),
  is answered 408 (in the wire format of the route it asked for) and closed. uvicorn's own
  keep-alive timer only runs between requests. Doing this here, with one timer per request, is
  much cheaper than an `asyncio.timeout` around every body read in the app.
- A hard cap on the bytes of a request head, so a header flood cannot grow memory. The
  configured `max_header_bytes` is enforced in the app, where the error can be given in the
  caller's wire format; this cap sits above it and answers a plain 431.
- Answers without a task: for a POST with a body of known, bounded length, the ASGI task is
  started only once the body is complete, and first `answer_now(scope, body)` (the app's) may
  answer it on the spot: a fresh hit in the memory cache needs no I/O, so it skips the task, the
  ASGI messages and uvicorn's per-header checks (measured: about a third of a hit's cost). When
  it returns None the task starts as usual, with the body already in the cycle.
- Replies without uvicorn's per-header checks: every task's scope carries a `Responder` at
  `scope[RESPOND]` (the app must pop it from the scope: it refers to the cycle that holds the
  scope). `responder(status, headers, body)` writes a complete response in one transport write,
  as `answer_now` replies are; `responder.start(status, headers)` writes a stream's head, whose
  body then goes through uvicorn's `send` as usual (chunked, with its flow control). The headers
  come from the gateway itself or from the provider's response as aiohttp parsed it (no CR/LF
  can be in them). Measured: uvicorn's `send` was the largest single cost of a pass-through
  request (~19 % of its CPU).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from warmgate.errors import RequestTimeout, Wire, render
from warmgate.exchange import Reply

log = logging.getLogger("warmgate")

AnswerNow = Callable[[dict[str, Any], bytes], Reply | None]
RESPOND = "warmgate.respond"  # the scope key of a `Responder`


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


def guarded_protocol(
    header_timeout: float, body_timeout: float, head_cap: int, answer_now: AnswerNow | None = None, body_cap: int = 0
) -> type[HttpToolsProtocol]:
    """A protocol class for `uvicorn.Config(http=...)` with the given limits.

    The common case costs nothing: a timer is armed only when a chunk of data leaves a request
    incomplete (its head or body still to come), or when a new connection has sent nothing yet.
    `answer_now` (with bodies up to `body_cap` bytes) answers requests without a task (see the
    module docstring).
    """

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _state = _IDLE
        _head_bytes = 0
        _deferred: tuple[Any, Any] | None = None  # (cycle, app) whose task waits for the whole body

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._timer = self.loop.call_later(header_timeout, self._timed_out, "head")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._deferred = None
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
            deferred = self._deferred
            if deferred is not None:
                self._deferred = None
                cycle, app = deferred
                if not self._answer_now(cycle):
                    self._start_task(cycle, app)

        # -- answers without a task ------------------------------------------------------------

        def _start_asgi_task(self, cycle: Any, app: Any) -> None:
            if answer_now is not None and cycle.more_body and self._may_defer(cycle.scope):
                self._deferred = (cycle, app)
                return
            self._start_task(cycle, app)

        def _start_task(self, cycle: Any, app: Any) -> None:
            # The scope -> partial -> cycle -> scope reference cycle would leave every request's
            # objects to the garbage collector: the app takes RESPOND out of the scope first thing.
            scope = cycle.scope
            if scope["method"] != "HEAD":
                scope[RESPOND] = Responder(self, cycle)
            super()._start_asgi_task(cycle, app)

        def _may_defer(self, scope: Any) -> bool:
            if scope["method"] != "POST" or self.expect_100_continue:
                return False
            for name, value in scope["headers"]:
                if name == b"content-length":
                    return value.isdigit() and int(value) <= body_cap
            return False  # chunked: the task reads it as it comes

        def on_body(self, body: bytes) -> None:
            if self._deferred is None:
                super().on_body(body)
            else:  # bounded by `body_cap` (content-length): no flow control needed until the task starts
                self.cycle.body += body

        def _answer_now(self, cycle: Any) -> bool:
            """Answer `cycle` here if the app can; False to start its task instead."""
            assert answer_now is not None
            try:
                reply = answer_now(cycle.scope, bytes(cycle.body))
            except Exception:  # the task will meet the same problem and answer it properly
                log.exception("answering a request without a task failed")
                return False
            if reply is None:
                return False
            _write_whole(self, cycle, reply.status, reply.headers, reply.body)
            return True

    return GuardedHttpToolsProtocol


def _log_access(cycle: Any, status: int) -> None:
    """uvicorn's access log line (`server.access_log`), as its `send` writes it."""
    scope = cycle.scope
    cycle.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],
                             get_path_with_query_string(scope), scope["http_version"], status)


def _head(line: bytes, cycle: Any, headers: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
    """A response head's parts up to its last header (the caller adds the framing and the blank line)."""
    parts = [line]
    for name, value in cycle.default_headers:
        parts += (name, b": ", value, b"\r\n")
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if not cycle.keep_alive:
        parts.append(b"connection: close\r\n")
    return parts


def _write_whole(protocol: Any, cycle: Any, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> bool:
    """`Responder.__call__` (a function of its own: a hit answered without a task calls it with no
    `Responder` made)."""
    line = STATUS_LINE.get(status)
    if cycle.response_started or line is None:
        return False
    cycle.response_started = cycle.response_complete = True
    if cycle.access_log:
        _log_access(cycle, status)
    if cycle.disconnected or protocol.transport.is_closing():
        return True
    parts = _head(line, cycle, headers)
    parts += (b"content-length: ", str(len(body)).encode(), b"\r\n\r\n", body)
    protocol.transport.write(b"".join(parts))
    cycle.message_event.set()
    if not cycle.keep_alive:
        protocol.transport.close()
    protocol.on_response_complete()
    return True


class Responder:
    """Writes a task's response for its cycle without uvicorn's per-header checks (`RESPOND`, see
    the module docstring). Each way returns False when it cannot (a response was started, or a
    status uvicorn's table does not know, e.g. 529): the caller then uses `send`."""

    __slots__ = ("cycle", "protocol")

    def __init__(self, protocol: Any, cycle: Any):
        self.protocol = protocol
        self.cycle = cycle

    def __call__(self, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes) -> bool:
        """A whole response, in one transport write."""
        return _write_whole(self.protocol, self.cycle, status, headers, body)

    def start(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> bool:
        """A streamed response's head (chunked); its body goes through uvicorn's `send`, which
        frames the chunks, waits while the client reads slowly, and ends the response."""
        cycle = self.cycle
        line = STATUS_LINE.get(status)
        if cycle.response_started or line is None:
            return False
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        cycle.chunked_encoding = True
        cycle.expected_content_length = 0
        if cycle.access_log:
            _log_access(cycle, status)
        if cycle.disconnected or self.protocol.transport.is_closing():
            return True  # (`send` then drops the body)
        parts = _head(line, cycle, headers)
        parts.append(b"transfer-encoding: chunked\r\n\r\n")
        self.protocol.transport.write(b"".join(parts))
        return True
