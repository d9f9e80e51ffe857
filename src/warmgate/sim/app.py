"""The simulator's raw ASGI app: routing, auth, faults, latency, stats and the /sim control API.

Route handlers (pure, in the ``openai_*`` and ``anthropic_api`` modules) turn a request into a
``Reply``; this module does all the I/O. Every answer to an authenticated request carries
``x-sim-account``. ``except Exception`` appears only here, at the HTTP edge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from warmgate.sim.accounts import Account, Accounts
from warmgate.sim.anthropic_api import count_tokens_route, messages
from warmgate.sim.config import SimConfig
from warmgate.sim.faults import Fault, FaultError, FaultTable, parse_fault
from warmgate.sim.openai_chat import chat_completions
from warmgate.sim.openai_misc import create_video, echo, embeddings, get_video, images, model_detail, models
from warmgate.sim.openai_responses import responses
from warmgate.sim.wire import ApiError, Headers, Reply, Request, error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[Request, Account, SimConfig], Reply]

ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/chat/completions"): chat_completions,
    ("POST", "/v1/responses"): responses,
    ("POST", "/v1/embeddings"): embeddings,
    ("GET", "/v1/models"): models,
    ("POST", "/v1/messages"): messages,
    ("POST", "/v1/messages/count_tokens"): count_tokens_route,
    ("POST", "/v1/images/generations"): images,
    ("POST", "/v1/videos"): create_video,
}
PREFIX_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/v1/videos/", get_video),
    ("GET", "/v1/models/", model_detail),
)


def _route(method: str, path: str) -> Handler:
    handler = ROUTES.get((method, path))
    if handler is not None:
        return handler
    for m, prefix, h in PREFIX_ROUTES:
        if method == m and path.startswith(prefix):
            return h
    return echo


def _api_key(headers: dict[bytes, bytes]) -> str | None:
    auth = headers.get(b"authorization")
    if auth is not None and auth[:7].lower() == b"bearer ":
        key = auth[7:].strip()
        if key:
            return key.decode("latin-1")
    for name in (b"x-api-key", b"api-key"):
        value = headers.get(name)
        if value:
            return value.decode("latin-1")
    return None


async def _abort(send: Send) -> None:
    """Drop the connection without (finishing) a response.

    Uvicorn's ``send`` is a bound method of its request cycle, which holds the transport; closing it
    is what a crashing provider looks like. Yield until uvicorn has noticed, so it does not answer 500.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("simulated connection drop")
    transport.close()
    for _ in range(10):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)


class SimApp:
    """ASGI callable. State (accounts, faults) lives on the instance; one instance per server."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.accounts = Accounts(config)
        self.faults = FaultTable()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        req = Request(
            scope["method"],
            scope["path"],
            scope["query_string"].decode("latin-1"),
            dict(scope["headers"]),
            body,
        )
        if req.path.startswith("/sim/"):
            await self._control(req, send)
            return
        dialect = "anthropic" if req.path.startswith("/v1/messages") else "openai"
        if req.path == "/v1/models" and b"anthropic-version" in req.headers:
            dialect = "anthropic"
        if not req.path.startswith("/v1/"):
            await _send_body(send, 404, error_body(dialect, 404, f"Unknown path {req.path}"), [])
            return
        key = _api_key(req.headers)
        if key is None:
            msg = (
                "x-api-key header is required" if dialect == "anthropic" else "You didn't provide an API key."
            )
            await _send_body(send, 401, error_body(dialect, 401, msg), [])
            return
        acct = self.accounts.get(key)
        stats = acct.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            await self._serve(req, acct, dialect, receive, send)
        finally:
            stats.in_flight -= 1

    async def _serve(self, req: Request, acct: Account, dialect: str, receive: Receive, send: Send) -> None:
        headers: Headers = [(b"x-sim-account", acct.label.encode())]
        fault = self.faults.take(acct.key) if self.faults else None
        one_off = req.headers.get(b"x-sim-fail")
        if one_off is not None and fault is None and one_off.isdigit():
            fault = Fault(status=int(one_off))
        if fault is not None and fault.mode != "cut":
            acct.stats.errors += 1
            await self._fail(fault, dialect, headers, receive, send)
            return
        try:
            reply = _route(req.method, req.path)(req, acct, self.config)
        except ApiError as exc:
            acct.stats.errors += 1
            body = error_body(dialect, exc.status, exc.message, exc.param, exc.code)
            await _send_body(send, exc.status, body, headers)
            return
        except Exception as exc:  # the HTTP edge: any bug becomes a provider-shaped 500
            acct.stats.errors += 1
            await _send_body(send, 500, error_body(dialect, 500, f"simulator error: {exc!r}"), headers)
            return
        usage = reply.usage
        if usage is not None:
            s = acct.stats
            s.prompt_tokens += usage.prompt_tokens
            s.cached_tokens += usage.cached_tokens
            s.cache_write_tokens += usage.cache_write_tokens
            s.output_tokens += usage.output_tokens
        ttft, per_token = self._latency(req, reply)
        headers.extend(reply.headers)
        if fault is not None:  # cut: start the answer, then drop the connection mid-body
            acct.stats.errors += 1
            await _send_cut(send, reply, headers)
            return
        caller = _Caller(receive) if ttft > 0 or per_token > 0 else None
        try:
            if reply.events is None:
                n_out = usage.output_tokens if usage is not None else 0
                delay = ttft + per_token * n_out
                if caller is not None and not await caller.sleep(delay):
                    acct.stats.cancelled += 1
                    return
                await _send_body(send, reply.status, reply.body, headers, reply.content_type)
            elif not await _send_stream(send, reply.events, headers, ttft, per_token, caller):
                acct.stats.cancelled += 1
        finally:
            if caller is not None:
                caller.close()

    def _latency(self, req: Request, reply: Reply) -> tuple[float, float]:
        cfg = self.config
        ttft_ms = req.header_float(b"x-sim-ttft-ms")
        per_token_ms = req.header_float(b"x-sim-per-token-ms")
        if ttft_ms is None:
            uncached = reply.usage.uncached if reply.usage is not None else 0
            ttft_ms = cfg.ttft_base_ms + cfg.ttft_per_1k_uncached_ms * uncached / 1000.0
        if per_token_ms is None:
            per_token_ms = cfg.per_token_ms
        return ttft_ms / 1000.0, per_token_ms / 1000.0

    async def _fail(self, fault: Fault, dialect: str, headers: Headers, receive: Receive, send: Send) -> None:
        if fault.mode == "close":
            await _abort(send)
            return
        if fault.mode == "stall":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.stall_seconds):
                    while (await receive())["type"] != "http.disconnect":
                        pass
            await _abort(send)
            return
        if fault.retry_after is not None:
            headers.append((b"retry-after", str(int(fault.retry_after + 0.999)).encode()))
            headers.append((b"retry-after-ms", str(int(fault.retry_after * 1000)).encode()))
        message = f"Simulated failure (HTTP {fault.status})"
        if fault.status == 429:
            message = "Rate limit reached (simulated)."
        await _send_body(send, fault.status, error_body(dialect, fault.status, message), headers)

    async def _control(self, req: Request, send: Send) -> None:
        """``GET /sim/stats``, ``POST /sim/reset``, ``GET|POST|DELETE /sim/faults``."""
        route = (req.method, req.path)
        status, doc = 200, None
        if route == ("GET", "/sim/stats"):
            doc = self.accounts.stats_json()
        elif route == ("POST", "/sim/reset"):
            self.accounts.clear()
            self.faults.clear()
            doc = {"ok": True}
        elif route == ("GET", "/sim/faults"):
            doc = {"faults": self.faults.as_json()}
        elif route == ("DELETE", "/sim/faults"):
            self.faults.clear()
            doc = {"ok": True}
        elif route == ("POST", "/sim/faults"):
            try:
                selector, fault = parse_fault(orjson.loads(req.body or b"{}"))
            except (orjson.JSONDecodeError, FaultError) as exc:
                status, doc = 400, {"error": str(exc)}
            else:
                self.faults.set(selector, fault)
                doc = {"ok": True, "faults": self.faults.as_json()}
        else:
            status, doc = 404, {"error": f"unknown control route {req.method} {req.path}"}
        await _send_body(send, status, orjson.dumps(doc), [])

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _send_body(
    send: Send, status: int, body: bytes, headers: Headers, content_type: bytes = b"application/json"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]


class _Caller:
    """Watches for the caller's disconnect while the simulator sleeps (only used when it sleeps)."""

    def __init__(self, receive: Receive) -> None:
        self.gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.gone.set()

        self._watcher = asyncio.ensure_future(watch())

    async def sleep(self, delay: float) -> bool:
        """Sleep `delay` seconds; False if the caller disconnected meanwhile."""
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.gone.wait()
        return not self.gone.is_set()

    def close(self) -> None:
        self._watcher.cancel()


async def _send_stream(
    send: Send,
    events: list[tuple[bytes, bool]],
    headers: Headers,
    ttft: float,
    per_token: float,
    caller: _Caller | None,
) -> bool:
    """Send SSE events; sleep ``ttft`` before the first token event and ``per_token`` before the others.
    False if the caller disconnected before the end.

    Without delays the whole stream goes out in one write (still a valid chunked SSE body).
    """
    await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *headers]})
    if caller is None:
        await send({"type": "http.response.body", "body": b"".join(e for e, _ in events)})
        return True
    pending: list[bytes] = []
    first = True
    for data, is_token in events:
        if is_token:
            delay = ttft if first else per_token
            first = False
            if delay > 0:
                if pending:
                    await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
                    pending = []
                if not await caller.sleep(delay):
                    return False
        pending.append(data)
    await send({"type": "http.response.body", "body": b"".join(pending)})
    return True


async def _send_cut(send: Send, reply: Reply, headers: Headers) -> None:
    """Send the start of the reply (half the events or half the body), then drop the connection."""
    if reply.events is not None:
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *headers]})
        half = reply.events[: max(1, len(reply.events) // 2)]
        await send({"type": "http.response.body", "body": b"".join(e for e, _ in half), "more_body": True})
    else:
        body = reply.body
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (b"content-type", reply.content_type),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    await _abort(send)


def create_app(config: SimConfig | None = None) -> SimApp:
    """The simulator as an ASGI app (state lives on the returned instance)."""
    return SimApp(config or SimConfig())
