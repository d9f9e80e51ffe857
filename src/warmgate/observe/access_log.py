"""The JSON access log: one line per request, buffered and written at most every 50 ms (or when
64 KB are waiting), so a request pays for an `orjson.dumps` and a list append, not a syscall."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson

_FLUSH_AFTER = 0.05
_FLUSH_BYTES = 65536


class AccessLog:
    def __init__(self, path: str):
        self.path = path
        self._fd = 2 if path == "-" else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._lines: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        self._lines.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(_FLUSH_AFTER, self.flush)
            except RuntimeError:  # no loop (tests, tools): write now
                self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        data = b"".join(self._lines)
        self._lines.clear()
        self._size = 0
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError:  # a full disk or a closed stderr must not fail requests
            pass

    def close(self) -> None:
        self.flush()
        if self._fd != 2:
            os.close(self._fd)
            self._fd = 2
