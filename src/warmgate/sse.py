"""Server-sent events: an incremental parser and the matching encoder (pure, no I/O).

The parser follows the WHATWG event-stream rules that matter to LLM APIs: lines end in ``\\n``,
``\\r\\n`` or ``\\r`` (a chunk may end between the two bytes of ``\\r\\n``); a blank line dispatches
the event; ``:`` lines are comments; several ``data:`` lines join with ``\\n``; one space after the
colon is dropped; a leading UTF-8 BOM is ignored. An event without data is not dispatched, and an
event not yet closed by a blank line when the stream ends is discarded (it may be truncated).
``id:`` and ``retry:`` fields are ignored (no LLM API sends them). The OpenAI ``[DONE]`` sentinel
is an ordinary event whose data is ``b"[DONE]"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

DONE = b"[DONE]"
_BOM = b"\xef\xbb\xbf"


class Event(NamedTuple):
    """One dispatched event: its ``event:`` name (None when absent) and its data."""

    event: str | None
    data: bytes


class SSEParser:
    """Turns a byte stream, fed in chunks split anywhere, into events."""

    __slots__ = ("_after_cr", "_data", "_event", "_has_data", "_partial", "_started")

    def __init__(self) -> None:
        self._partial = b""  # an incomplete line
        self._after_cr = False  # the last line ended in \r: drop a \n that starts the next chunk
        self._started = False  # past the (optional) byte-order mark
        self._event: str | None = None
        self._data: list[bytes] = []
        self._has_data = False

    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by ``chunk`` (often none, sometimes several)."""
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._after_cr = False
        if not chunk:
            return []
        buf = self._partial + chunk if self._partial else chunk
        if not self._started:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._partial = buf
                return []
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[len(_BOM) :]
        lines = buf.splitlines(keepends=True)  # bytes split only on \n, \r\n and \r
        self._partial = b""
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            self._partial = lines.pop()
        self._after_cr = buf.endswith(b"\r")
        out: list[Event] = []
        for raw in lines:
            self._line(raw.rstrip(b"\r\n"), out)
        return out

    def _line(self, line: bytes, out: list[Event]) -> None:
        if not line:
            if self._has_data:
                out.append(Event(self._event, b"\n".join(self._data)))
            self._event = None
            self._data = []
            self._has_data = False
            return
        if line[:1] == b":":
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._has_data = True
        elif name == b"event":
            self._event = value.decode("utf-8", "replace") or None


def parse(stream: bytes) -> list[Event]:
    """All complete events of a whole stream (a convenience around ``SSEParser``)."""
    return SSEParser().feed(stream)


def encode_event(event: Event) -> bytes:
    """One event as wire bytes: an optional ``event:`` line, one ``data:`` line per data line, a blank line."""
    head = b"event: " + event.event.encode() + b"\n" if event.event is not None else b""
    data = event.data
    if b"\n" in data or b"\r" in data:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        body = b"".join(b"data: " + line + b"\n" for line in lines)
    else:
        body = b"data: " + data + b"\n"
    return head + body + b"\n"


def encode(events: Iterable[Event]) -> bytes:
    """Events back to wire bytes; ``parse(encode(events)) == events`` for events with data."""
    return b"".join(encode_event(e) for e in events)


def event_data(event: bytes) -> list[bytes]:
    """What `parse` yields of one event given whole (its lines, with or without the blank line that
    ends it): its data, or nothing. The usual event, a single `data:` line, is read without the parser."""
    line = event.rstrip(b"\r\n")
    if line.startswith(b"data:") and b"\n" not in line and b"\r" not in line:
        return [line[6:] if line[5:6] == b" " else line[5:]]
    return [e.data for e in parse(line + b"\n\n")]
