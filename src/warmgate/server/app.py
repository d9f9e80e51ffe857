"""The ASGI edge: a raw ASGI app (no framework: measured ~10-45 % cheaper than Starlette here).

It authenticates, enforces the size and time limits, reads and parses the body once, hands a
`Request` to the pipeline and sends the `Reply` back, streaming it chunk by chunk. Every
response carries `x-warmgate-request-id`. This is the one place where an unexpected exception is
caught and turned into an error body in the caller's wire format.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import orjson

from warmgate.cache.flow import CacheFlow
from warmgate.cache.semantic import SemanticCache
from warmgate.cache.semantic_policy import semantic_enabled
from warmgate.cache.service import ResponseCache
from warmgate.config import DEFAULT_GATEWAY, DEFAULT_TENANT, Config
from warmgate.dialects import Endpoint, endpoint_for
from warmgate.embeddings.factory import EmbedderSetupError
from warmgate.errors import (
    BadRequest,
    GatewayError,
    InternalError,
    NotFound,
    PayloadTooLarge,
    ShuttingDown,
    Unauthorized,
    Wire,
)
from warmgate.exchange import Reply, Request
from warmgate.manage.api import ManagementApi
from warmgate.manage.service import Management, Snapshot
from warmgate.manage.store import open_admin_store
from warmgate.metrics import Metrics
from warmgate.observe.setup import build_observer
from warmgate.observe.stats import refresh_gauges, summary, worker_part
from warmgate.observe.workers import WorkerMetrics
from warmgate.pipeline import Pipeline
from warmgate.redis_link import RedisLinks
from warmgate.routing.bindings import open_bindings
from warmgate.routing.router import Router
from warmgate.server.admin import AdminApi
from warmgate.server.dashboard import Dashboard
from warmgate.server.edge import (
    ENDED,
    JSON_HEADER,
    ClientGone,
    DisconnectWatch,
    Receive,
    RequestIds,
    Scope,
    Send,
    gateway_path,
    is_json,
    model_lists,
    parse_json,
    send_body,
    send_error,
    send_error_if_not_started,
)
from warmgate.server.protocol import RESPOND, Responder
from warmgate.stores.base import CacheStore
from warmgate.stores.factory import now_store, open_store
from warmgate.upstream.client import Upstream, UpstreamFailure

log = logging.getLogger("warmgate")

PREPARED = "warmgate.request"  # scope key of a request `answer_now` parsed but did not answer

def _hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class GatewayApp:
    """The gateway as an ASGI application. `lifespan` starts and stops the upstream client."""

    def __init__(self, config: Config, worker_metrics: tuple[Path, str] | None = None):
        """`worker_metrics`: (directory, worker name) when this is one of several worker processes,
        whose `/metrics` and `/admin/stats` add up (`observe.workers`)."""
        self.config = config
        self.metrics = Metrics()
        self.worker_metrics = None if worker_metrics is None else WorkerMetrics(
            *worker_metrics, self.metrics, lambda: worker_part(self.observer, self.store)
        )
        self.upstream = Upstream()
        self.store: CacheStore | None = None
        self.cache: ResponseCache | None = None
        self.cache_flow: CacheFlow | None = None
        # One client and circuit breaker per Redis URL, shared by the cache store and the bindings.
        self.redis_links = RedisLinks(failures=config.cache.breaker_failures, reset=config.cache.breaker_reset)
        self.bindings = open_bindings(config.routing, links=self.redis_links)
        self.pipeline = Pipeline(config, Router(config, self.upstream, self.bindings, self.metrics), None)
        self.admin = AdminApi(
            config.admin_key.get_secret_value() if config.admin_key is not None else None, None, self.metrics,
            self.worker_metrics,
        )
        self.observer = build_observer(config, self.metrics)
        self.dashboard = Dashboard(
            config.admin_key.get_secret_value() if config.admin_key is not None else None, self.all_stats
        )
        self.metrics.collectors.append(
            lambda: refresh_gauges(self.metrics, self.pipeline.router.pools.values(), config.cache.store, self.store)
        )
        self.management: Management | None = None
        self.started = False
        self.new_request_id = RequestIds()
        limits = config.server
        self._max_body = limits.max_body_bytes
        self._max_head = limits.max_header_bytes
        self._body_timeout = limits.body_timeout
        self._expose_account = limits.expose_account_header
        # Gateway keys are looked up by their SHA-256, never compared as strings.
        self._keys: dict[bytes, str] | None = (
            None if config.keys is None else {_hash_key(k.key.get_secret_value()): k.tenant for k in config.keys}
        )
        self._tenants_seen: dict[bytes, str] = {}  # presented key -> tenant, for keys that were valid
        self._models_openai, self._models_anthropic = model_lists(self.pipeline.models)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except EmbedderSetupError as e:  # a configured model that cannot be loaded: say so, no traceback
                    await self.shutdown()  # what did start (the upstream session, the store) closes again
                    await send({"type": "lifespan.startup.failed", "message": f"warmgate cannot start: {e}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """The app factory's other half: the one place that picks the concrete store."""
        await self.upstream.start()
        cache_cfg = self.config.cache
        self.store = open_store(cache_cfg, time.monotonic, self.redis_links)  # the clock of the circuit breaker
        self.cache = ResponseCache(self.store, cache_cfg.store, self.metrics, now=now_store(self.store))
        self.cache_flow = CacheFlow(cache_cfg, self.cache, self.metrics, self.open_semantic(self.cache))
        self.cache_flow.on_background_call = self.observer.background_call
        self.pipeline.cache = self.cache_flow
        self.admin.cache = self.cache
        persistent = self.config.admin_key is not None or "management" in self.config.model_fields_set
        self.management = Management(self.config, open_admin_store(self.config.management, persistent=persistent),
                                     self._swap)
        await self.management.start()
        self.admin.manage = ManagementApi(self.management, self.pipeline.models)
        if self.worker_metrics is not None:
            self.worker_metrics.start()
        self.started = True

    def open_semantic(self, cache: ResponseCache) -> SemanticCache | None:
        """The semantic cache with the configured embedder and vector index, or None when no model
        is looked up by meaning (then nothing semantic runs)."""
        cfg = self.config.semantic
        if not semantic_enabled(cfg, declared="semantic" in self.config.model_fields_set):
            return None
        from warmgate.embeddings.factory import build_embedder
        from warmgate.vectors.factory import build_index

        # the embedder first: importing onnxruntime after usearch segfaults (onnxruntime 1.32, usearch 2.26)
        embedder = build_embedder(cfg.embedder, self.config.providers)
        index = build_index(cfg.index, embedder.dimensions)
        semantic = SemanticCache(cfg, embedder, index, cache, self.metrics)
        cache.purge_hooks.append(semantic.purge)
        semantic.start()
        return semantic

    def _swap(self, snapshot: Snapshot) -> None:
        """New management state: its layers and gateways apply from the next request on."""
        if self.cache_flow is not None:
            self.cache_flow.swap_layers(snapshot.layers)
        self.pipeline.gateways = snapshot.directory

    async def shutdown(self) -> None:
        self.started = False
        if self.cache_flow is not None:
            await self.cache_flow.drain()
            if self.cache_flow.semantic is not None:
                await self.cache_flow.semantic.close()
        if self.store is not None:
            await self.store.close()
        if self.management is not None:
            await self.management.close()
        await self.bindings.close()
        await self.redis_links.close()
        await self.upstream.close()
        if self.worker_metrics is not None:
            await self.worker_metrics.stop()
        self.observer.close()

    def stats(self, others: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The summary of `GET /admin/stats` (dashboard, `warmgate stats`); with `others`, the
        other workers' publications (`observe.workers`), of all workers."""
        return summary(self.observer, self.pipeline.router.pools.values(), self.config.cache.store, self.store,
                       others or ())

    async def all_stats(self) -> dict[str, Any]:
        """`stats` of every worker process (of this one when it is the only one)."""
        return self.stats(await self.worker_metrics.others() if self.worker_metrics is not None else None)

    # ------------------------------------------------------------------------------------------

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        respond: Responder | None = scope.pop(RESPOND, None)  # see server/protocol.py
        prepared: Request | None = scope.get(PREPARED)
        if prepared is not None:  # parsed by `answer_now`, which could not answer it
            await self._serve_prepared(prepared, receive, send, respond)
            return
        request_id = self.new_request_id()
        started = time.perf_counter()
        path: str = scope["path"]
        wire: Wire = "openai"
        try:
            if path.startswith("/v1/"):
                endpoint = endpoint_for(scope["method"], path)
                wire = endpoint.wire
                await self.proxy(scope, receive, send, endpoint, request_id, respond=respond)
            elif path.startswith("/g/"):
                gateway, path = gateway_path(path)
                if not path.startswith("/v1/"):
                    raise NotFound(f"no route for {scope['method']} {scope['path']}")
                endpoint = endpoint_for(scope["method"], path)
                wire = endpoint.wire
                if not self.pipeline.serves_gateway(gateway):
                    raise NotFound(f"no gateway named {gateway!r}", code="gateway_not_found")
                await self.proxy(scope, receive, send, endpoint, request_id, gateway, path, respond)
            elif path in ("/healthz", "/readyz"):
                await self.health(path, send, request_id)
            elif path.startswith("/dashboard") or path == "/admin/stats":
                status, headers, body = await self.dashboard.handle(scope, receive)
                await send_body(send, status, headers, body, request_id)
            elif path == "/metrics" or path.startswith("/admin/"):
                body = b""
                if scope["method"] in ("POST", "PATCH", "PUT"):
                    body = await self._read_body(receive)
                status, content_type, body = await self.admin.handle(scope, body)
                await send_body(send, status, [(b"content-type", content_type)], body, request_id)
            else:
                raise NotFound(f"no route for {scope['method']} {path}")
        except GatewayError as e:  # raised before any response was started
            if path.startswith("/v1/"):
                gateway = gateway_path(scope["path"])[0] if scope["path"].startswith("/g/") else DEFAULT_GATEWAY
                self.observer.failed(request_id, path, e.status, e.code, started, gateway)
            await send_error(send, e, wire, request_id)
        except ClientGone:
            return
        except asyncio.CancelledError:
            # Only the server cancels this task: the shutdown grace period ran out.
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            await send_error_if_not_started(send, ShuttingDown("the gateway is shutting down; retry"), wire, request_id)
        except Exception:
            log.exception("unexpected error on request %s", request_id)
            await send_error_if_not_started(send, InternalError("internal gateway error"), wire, request_id)

    async def health(self, path: str, send: Send, request_id: str) -> None:
        if path == "/healthz":
            status, body = 200, {"status": "ok"}
        else:
            ready = self.started and self.pipeline.ready()
            status, body = (200, {"status": "ready"}) if ready else (503, {"status": "not ready"})
        await send_body(send, status, [JSON_HEADER], orjson.dumps(body), request_id)

    async def proxy(
        self, scope: Scope, receive: Receive, send: Send, endpoint: Endpoint, request_id: str,
        gateway: str = DEFAULT_GATEWAY, path: str | None = None, respond: Responder | None = None,
    ) -> None:
        """`path`: the request's path without its `/g/<gateway>` prefix (None: `scope["path"]`)."""
        content_type, auth, api_key, anthropic_version = self._head(scope)
        tenant = self._tenant(auth, api_key)
        path = scope["path"] if path is None else path
        if path == "/v1/models" and scope["method"] == "GET":
            if gateway == DEFAULT_GATEWAY:
                body = self._models_anthropic if anthropic_version is not None else self._models_openai
            else:
                body = model_lists(self.pipeline.models, self.pipeline.gateway_models(gateway))[
                    1 if anthropic_version is not None else 0]
            await send_body(send, 200, [JSON_HEADER], body, request_id)
            return
        body = await self._read_body(receive)
        req = self._request(scope, endpoint, content_type, tenant, body, request_id, gateway, path)
        await self._relay(req, receive, send, respond)

    def answer_now(self, scope: Scope, body: bytes) -> Reply | None:
        """Called by the protocol (`server/protocol.py`) once a small POST's body is complete,
        before any task exists: a fresh cache hit that needs no I/O (memory store) is answered
        here and now. Anything else returns None and goes the usual way, with the request parsed
        here kept in the scope so the work is not done twice. Errors are left to that way too."""
        path: str = scope["path"]
        gateway = DEFAULT_GATEWAY
        if not self.started:
            return None
        if not path.startswith("/v1/"):
            if not path.startswith("/g/"):
                return None
            gateway, path = gateway_path(path)
            if not path.startswith("/v1/") or not self.pipeline.serves_gateway(gateway):
                return None  # the async way answers the 404
        endpoint = endpoint_for("POST", path)
        if not endpoint.cacheable:
            return None
        try:
            content_type, auth, api_key, _ = self._head(scope)
            req = self._request(scope, endpoint, content_type, self._tenant(auth, api_key), body, self.new_request_id(),
                                gateway, path)
            reply = self.pipeline.answer_now(req)
        except GatewayError:
            return None
        if reply is None:
            scope[PREPARED] = req
            return None
        self.observer.done(req, reply)
        reply.headers.append((b"x-warmgate-request-id", req.request_id.encode()))
        return reply

    async def _serve_prepared(self, req: Request, receive: Receive, send: Send, respond: Responder | None) -> None:
        try:
            await self._relay(req, receive, send, respond)
        except GatewayError as e:
            self.observer.failed(req.request_id, req.path, e.status, e.code, req.started, req.gateway)
            await send_error(send, e, req.endpoint.wire, req.request_id)
        except ClientGone:
            return
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            err = ShuttingDown("the gateway is shutting down; retry")
            await send_error_if_not_started(send, err, req.endpoint.wire, req.request_id)
        except Exception:
            log.exception("unexpected error on request %s", req.request_id)
            await send_error_if_not_started(send, InternalError("internal gateway error"), req.endpoint.wire, req.request_id)

    def _head(self, scope: Scope) -> tuple[bytes | None, bytes | None, bytes | None, bytes | None]:
        """(content-type, authorization, x-api-key, anthropic-version) of the request; raises
        PayloadTooLarge for a head over the configured limit."""
        content_type = auth = api_key = anthropic_version = None
        head_bytes = 0
        for k, v in scope["headers"]:
            head_bytes += len(k) + len(v) + 4
            if k == b"content-type":
                content_type = v
            elif k == b"authorization":
                auth = v
            elif k == b"x-api-key":
                api_key = v
            elif k == b"anthropic-version":
                anthropic_version = v
        if head_bytes > self._max_head:
            raise PayloadTooLarge(f"request headers are {head_bytes} bytes; the limit is {self._max_head}")
        return content_type, auth, api_key, anthropic_version

    def _request(
        self, scope: Scope, endpoint: Endpoint, content_type: bytes | None, tenant: str, body: bytes, request_id: str,
        gateway: str = DEFAULT_GATEWAY, path: str | None = None,
    ) -> Request:
        parsed: dict[str, Any] | None = None
        if endpoint.known:
            parsed = parse_json(body, content_type)
        elif body and is_json(content_type):
            try:  # passthrough: read a model if there is one; the provider judges the rest
                parsed = parse_json(body, content_type)
            except BadRequest:
                parsed = None
        return Request(
            method=scope["method"],
            path=scope["path"] if path is None else path,
            query=scope["query_string"],
            headers=scope["headers"],
            body=body,
            json=parsed,
            endpoint=endpoint,
            facts=endpoint.facts(parsed if parsed is not None else {}),
            tenant=tenant,
            request_id=request_id,
            started=time.perf_counter(),
            gateway=gateway,
        )

    async def _relay(self, req: Request, receive: Receive, send: Send, respond: Responder | None = None) -> None:
        """Run the pipeline and send its reply, cancelling the upstream call if the client leaves.
        `respond`: the protocol's way to write a reply's head, or a whole reply, at once (`server.protocol.RESPOND`)."""
        watch = DisconnectWatch(receive)
        reply: Reply | None = None
        try:
            reply = await self.pipeline.handle(req)
            headers = reply.headers
            headers.append((b"x-warmgate-request-id", req.request_id.encode()))
            if self._expose_account and reply.account is not None:
                headers.append((b"x-warmgate-account", reply.account.encode()))
            if reply.stream is None:
                watch.stop()
                if respond is not None and respond(reply.status, headers, reply.body):
                    return
                headers.append((b"content-length", str(len(reply.body)).encode()))
                await send({"type": "http.response.start", "status": reply.status, "headers": headers})
                await send({"type": "http.response.body", "body": reply.body, "more_body": False})
                return
            if respond is None or not respond.start(reply.status, headers):
                await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            try:
                async for chunk in reply.stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except UpstreamFailure as e:
                # Too late for an error body: end the response unfinished, so the client sees a cut stream.
                log.warning("request %s: %s; closing the client's stream unfinished", req.request_id, e)
                raise ClientGone from e
            watch.stop()
            await send(ENDED)
        except asyncio.CancelledError:
            if not watch.gone:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            raise ClientGone from None  # nothing more to send, and no error to report
        finally:
            watch.stop()
            if reply is not None:
                if reply.stream is not None:
                    await reply.stream.aclose()
                self.observer.done(req, reply)

    def _tenant(self, auth: bytes | None, api_key: bytes | None) -> str:
        if self._keys is None:
            return DEFAULT_TENANT
        key = None
        if auth is not None:
            scheme, _, token = auth.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                key = token.strip()
        if key is None and api_key is not None and api_key.strip():
            key = api_key.strip()
        if key is None:
            raise Unauthorized(
                "You didn't provide a gateway key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
                code="missing_api_key",
            )
        tenant = self._tenants_seen.get(key)
        if tenant is not None:
            return tenant
        tenant = self._keys.get(hashlib.sha256(key).digest())
        if tenant is None:
            raise Unauthorized("Incorrect gateway key provided.")
        if len(self._tenants_seen) < 1024:  # valid keys only, so bounded by the configured ones
            self._tenants_seen[key] = tenant
        return tenant

    async def _read_body(self, receive: Receive) -> bytes:
        """The whole body (its deadline is enforced by the protocol, which closes the connection)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise PayloadTooLarge(f"request body is over the limit of {self._max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
