"""uvicorn's httptools protocol, with the two guards it lacks against slow or abusive clients.

- A deadline for the request head: a connection that opens and sends nothing, or sends its
  headers a byte at a time (slowloris), is answered 408 and closed after `header_timeout`.
  (uvicorn's own keep-alive timer only runs between requests; the body has its own deadline in
  the app.)
- A hard cap on the bytes of the request head, so a header flood cannot grow memory. The
  configured `max_header_bytes` is enforced in the app, where the error can be given in the
  caller's wire format; this cap sits above it and answers a plain 431.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadTooLarge(Exception):
    pass


def _raw_response(status: bytes, message: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(message)).encode() + b"\r\nconnection: close\r\n\r\n" + message
    )


def guarded_protocol(header_timeout: float, head_cap: int) -> type[HttpToolsProtocol]:
    """A protocol class for `uvicorn.Config(http=...)` with the given limits."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_bytes = 0
            self._head_timer = self.loop.call_later(header_timeout, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.write(_raw_response(b"408 Request Timeout", b"request head not received in time"))
                self.transport.close()

        def send_400_response(self, msg: str) -> None:
            # The parser turns the exception raised by `_count` into a parse error, which uvicorn
            # answers with a 400 through here.
            self._disarm()
            if self._head_bytes > head_cap:
                self.transport.write(_raw_response(b"431 Request Header Fields Too Large", b"request head too large"))
                self.transport.close()
            else:
                super().send_400_response(msg)

        def _count(self, n: int) -> None:
            self._head_bytes += n
            if self._head_bytes > head_cap:
                raise _HeadTooLarge

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._head_timer is None:
                self._arm()
            else:
                self._head_bytes = 0

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

    return GuardedHttpToolsProtocol

