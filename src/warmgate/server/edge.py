"""The proxy edge's ASGI plumbing, apart from the app: message types, request ids, sending
whole bodies and wire-format errors, the disconnect watch, and reading a request's JSON body."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from warmgate.dialects.base import json_object
from warmgate.errors import BadRequest, GatewayError, Wire, render
from warmgate.routing.models import ModelTable

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADER = (b"content-type", b"application/json")
ENDED = {"type": "http.response.body", "body": b"", "more_body": False}


class ClientGone(Exception):
    """The client disconnected before the gateway could answer."""


class RequestIds:
    """Request ids, unique across processes and instances without a syscall per request: 8 random
    bytes drawn once per app (each worker process builds its own app), then a counter."""

    __slots__ = ("_next", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._next = itertools.count(1).__next__

    def __call__(self) -> str:
        return f"{self._prefix}{self._next():08x}"


class DisconnectWatch:
    """Cancels the request's task when the client disconnects, so the upstream call stops too.

    It starts watching only after `delay` seconds: a short request never pays for the extra task
    (measured: a watcher task per request cost about a tenth of the proxy's throughput).
    """

    __slots__ = ("_receive", "_task", "_timer", "_watcher", "gone")

    def __init__(self, receive: Receive, delay: float = 0.02):
        self._receive = receive
        self._task = asyncio.current_task()
        self._watcher: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(delay, self._start)
        self.gone = False

    def _start(self) -> None:
        self._timer = None
        self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                if self._task is not None:
                    self._task.cancel()
                return

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None


def gateway_path(path: str) -> tuple[str, str]:
    """`/g/<gateway>/v1/...` -> (gateway, `/v1/...`); a path without `/v1/` after the name gets a
    path that no route serves, so the caller answers 404."""
    gateway, _, rest = path[3:].partition("/")
    return gateway, "/" + rest


def model_lists(models: ModelTable, only: tuple[str, ...] | None = None) -> tuple[bytes, bytes]:
    """`GET /v1/models` answers in the OpenAI and the Anthropic shape (`only`: a gateway's models)."""
    names = models.names if only is None else [n for n in models.names if n in only]
    openai_list = {
        "object": "list",
        "data": [
            {"id": n, "object": "model", "created": 0, "owned_by": models.resolve(n).provider.name}  # type: ignore[union-attr]
            for n in names
        ],
    }
    anthropic_list = {
        "data": [{"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"} for n in names],
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }
    return orjson.dumps(openai_list), orjson.dumps(anthropic_list)


def is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def parse_json(body: bytes, content_type: bytes | None) -> dict[str, Any]:
    if not is_json(content_type):
        raise BadRequest(
            f"unsupported content type {content_type.decode('latin-1')!r}: send the body as application/json",  # type: ignore[union-attr]
            code="unsupported_content_type",
        )
    return json_object(body)


async def send_body(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, request_id: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-length", str(len(body)).encode()),
                (b"x-warmgate-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(send: Send, err: GatewayError, wire: Wire, request_id: str) -> None:
    await send_body(send, err.status, [JSON_HEADER], render(err, wire, request_id), request_id)


async def send_error_if_not_started(send: Send, err: GatewayError, wire: Wire, request_id: str) -> None:
    """Send an error body unless a response is already under way (then uvicorn closes the connection)."""
    with contextlib.suppress(RuntimeError):  # uvicorn: "Expected ASGI message 'http.response.body'..."
        await send_error(send, err, wire, request_id)
