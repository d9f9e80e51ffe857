"""The management API (admin key only) and `/metrics`.

    GET    /metrics                                   Prometheus text (admin key, when one is configured)
    DELETE /admin/cache                               every entry
    DELETE /admin/cache?tenant=T                      tenant T's entries
    DELETE /admin/cache?tenant=T&namespace=N          tenant T's entries in namespace N
    DELETE /admin/cache?shared_namespace=N            a namespace shared between tenants
    DELETE /admin/cache/keys/<key>                    one key (as sent in `x-warmgate-cache-key`)
    GET    /admin/openapi.json                        the OpenAPI document (open: it holds no secrets)
    /admin/cache-configs..., /admin/gateways..., /admin/effective, /admin/audit
                                                      caching configurations and gateways (`manage.api`)

The admin key is its own secret: gateway (tenant) keys never open these routes. Without an
`admin_key` in the configuration the management API is off (403), and `/metrics` is open.
Every purge is logged with what it dropped; every management change with who made it (the admin
key's identity `admin-key:<first 12 hex digits of its SHA-256>`, never the key) and what it was.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from warmgate.cache.keys import scope_prefix
from warmgate.cache.service import ResponseCache
from warmgate.errors import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    UpstreamUnavailable,
)
from warmgate.manage.api import ManagementApi
from warmgate.manage.openapi import document
from warmgate.metrics import Metrics
from warmgate.observe.workers import WorkerMetrics
from warmgate.stores.base import StoreError

log = logging.getLogger("warmgate.admin")

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class AdminApi:
    def __init__(self, admin_key: str | None, cache: ResponseCache | None, metrics: Metrics,
                 workers: WorkerMetrics | None = None):
        """`workers`: this process is one of several workers; `/metrics` answers all of theirs."""
        self._key_digest = None if admin_key is None else hashlib.sha256(admin_key.encode()).digest()
        self.cache = cache
        self.metrics = metrics
        self.workers = workers
        self.manage: ManagementApi | None = None
        self.actor = "admin-key:" + self._key_digest.hex()[:12] if self._key_digest is not None else "nobody"

    def _check(self, headers: list[tuple[bytes, bytes]], *, required: bool) -> None:
        if self._key_digest is None:
            if required:
                raise Forbidden("the management API is off: set admin_key in the configuration")
            return
        presented = None
        for k, v in headers:
            if k == b"authorization" and v[:7].lower() == b"bearer ":
                presented = v[7:].strip()
            elif k == b"x-api-key" and presented is None:
                presented = v.strip()
        if presented is None:
            raise Unauthorized("this route needs the admin key", code="missing_api_key")
        if not hmac.compare_digest(hashlib.sha256(presented).digest(), self._key_digest):
            raise Unauthorized("incorrect admin key")

    async def handle(self, scope: MutableMapping[str, Any], body: bytes = b"") -> tuple[int, bytes, bytes]:
        """(status, content type, body) for an admin route; raises GatewayError for errors."""
        path: str = scope["path"]
        method: str = scope["method"]
        headers = scope["headers"]
        if path == "/metrics":
            self._check(headers, required=False)
            if method != "GET":
                raise MethodNotAllowed("use GET")
            text = self.metrics.render() if self.workers is None else await self.workers.render()
            return 200, b"text/plain; version=0.0.4; charset=utf-8", text
        if path == "/admin/openapi.json":
            if method != "GET":
                raise MethodNotAllowed("use GET")
            return 200, b"application/json", document()
        self._check(headers, required=True)
        if self.manage is not None:
            done = await self.manage.handle(method, path, scope["query_string"], body, self.actor)
            if done is not None:
                return done[0], b"application/json", done[1]
        if path == "/admin/cache" or path.startswith("/admin/cache/keys/"):
            if method != "DELETE":
                raise MethodNotAllowed("use DELETE")
            if self.cache is None:
                raise NotFound("the response cache is not enabled")
            return 200, b"application/json", await self._purge(path, scope["query_string"])
        raise NotFound(f"no admin route {method} {path}")

    async def _purge(self, path: str, query: bytes) -> bytes:
        assert self.cache is not None
        if path.startswith("/admin/cache/keys/"):
            key = unquote(path.removeprefix("/admin/cache/keys/"))
            what, run = f"key {key}", self.cache.purge_key(key)
        else:
            q = {k: v[-1] for k, v in parse_qs(query.decode("latin-1")).items()}
            unknown = set(q) - {"tenant", "namespace", "shared_namespace"}
            if unknown:
                raise BadRequest(f"unknown purge parameter(s): {', '.join(sorted(unknown))}")
            if "shared_namespace" in q:
                if "tenant" in q or "namespace" in q:
                    raise BadRequest("shared_namespace cannot be combined with tenant or namespace")
                prefix = scope_prefix("s." + q["shared_namespace"])
                what = f"shared namespace {q['shared_namespace']}"
            elif "tenant" in q:
                prefix = scope_prefix("t." + q["tenant"], q.get("namespace"))
                what = f"tenant {q['tenant']}" + (f" namespace {q['namespace']}" if "namespace" in q else "")
            elif "namespace" in q:
                raise BadRequest("namespace needs tenant (or use shared_namespace)")
            else:
                prefix, what = "", "everything"
            run = self.cache.purge_prefix(prefix)
        try:
            dropped = await run
        except StoreError as e:
            raise UpstreamUnavailable(f"the cache store failed: {e}") from e
        log.info("admin purge of %s: %d keys dropped", what, dropped)
        return orjson.dumps({"purged": what, "keys": dropped})
