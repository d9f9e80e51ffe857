"""The management routes for caching configurations and gateways (JSON; admin key checked by the
caller, `server.admin.AdminApi`). The OpenAPI document (`openapi.py`) lists them all:

    GET    /admin/cache-configs                      list (with assignments)
    POST   /admin/cache-configs                      create                       201 / 409 / 422
    GET    /admin/cache-configs/{name}               one
    PATCH  /admin/cache-configs/{name}               edit (applies at once)       200 / 404 / 409 / 422
    DELETE /admin/cache-configs/{name}               delete                       200 / 404 / 409 (still assigned)
    POST   /admin/cache-configs/{name}/assign        {"gateway", "models"?}       200 / 404 / 409 (holder named) / 422
    POST   /admin/cache-configs/{name}/detach        {"gateway", "models"?}       200 / 404 / 409
    GET    /admin/gateways                           every gateway with its configurations
    POST   /admin/gateways                           create a run-time gateway    201 / 409 / 422
    GET    /admin/gateways/{name}                    one gateway's view
    PATCH  /admin/gateways/{name}                    edit a run-time gateway
    DELETE /admin/gateways/{name}                    delete a run-time gateway    409 if configurations are assigned
    GET    /admin/effective?gateway=G&model=M        the merged settings for a request without controls
    GET    /admin/audit?limit=N                      the latest changes, newest first
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson

from warmgate.cache.layers import ALL_MODELS
from warmgate.cache.policy import effective
from warmgate.config import DEFAULT_GATEWAY
from warmgate.controls import NO_DIRECTIVE
from warmgate.dialects.base import json_object
from warmgate.errors import (
    BadRequest,
    Conflict,
    MethodNotAllowed,
    NotFound,
    Unprocessable,
    UpstreamUnavailable,
)
from warmgate.manage.model import (
    AssignBody,
    CachingConfig,
    Clash,
    Directory,
    GatewayDef,
    Invalid,
    Missing,
    State,
    parse,
)
from warmgate.manage.service import Busy, Management
from warmgate.manage.store import AdminStoreError
from warmgate.routing.models import ModelTable

Result = tuple[int, bytes]

CONFIGS = "/admin/cache-configs"
GATEWAYS = "/admin/gateways"


class ManagementApi:
    def __init__(self, management: Management, models: ModelTable):
        self.management = management
        self.models = models

    async def handle(self, method: str, path: str, query: bytes, body: bytes, actor: str) -> Result | None:
        """(status, JSON body) for a management route, None for a path that is not one of them.
        Raises GatewayError (rendered by the edge)."""
        try:
            if method == "GET":
                await self.management.fresh()
            if path == CONFIGS or path.startswith(CONFIGS + "/"):
                return await self._configs(method, path.removeprefix(CONFIGS).strip("/"), body, actor)
            if path == GATEWAYS or path.startswith(GATEWAYS + "/"):
                return await self._gateways(method, path.removeprefix(GATEWAYS).strip("/"), body, actor)
            if path == "/admin/effective":
                _only(method, "GET")
                return 200, orjson.dumps(self._effective(_query(query)))
            if path == "/admin/audit":
                _only(method, "GET")
                limit = _query(query).get("limit", "50")
                if not limit.isdigit() or not 1 <= int(limit) <= 1000:
                    raise BadRequest("limit must be an integer 1-1000")
                return 200, orjson.dumps({"data": await self.management.audit(int(limit))})
            return None
        except Invalid as e:
            raise Unprocessable(str(e)) from e
        except Missing as e:
            raise NotFound(str(e)) from e
        except (Clash, Busy) as e:
            raise Conflict(str(e)) from e
        except AdminStoreError as e:
            raise UpstreamUnavailable(f"the management store failed: {e}") from e

    # -- caching configurations ------------------------------------------------------------------

    async def _configs(self, method: str, rest: str, body: bytes, actor: str) -> Result:
        m = self.management
        if not rest:
            if method == "GET":
                state = m.snapshot.state
                return 200, orjson.dumps({"data": [_config_view(state, c) for c in state.configs.values()]})
            _only(method, "POST")
            data = json_object(body)
            cfg: CachingConfig = parse(CachingConfig, data)
            await m.change(actor, "create", cfg.name, data, lambda s, d: (s.create(cfg), None))
            return 201, orjson.dumps(_config_view(m.snapshot.state, cfg))
        name, _, action = rest.partition("/")  # ASGI paths arrive percent-decoded
        if not action:
            if method == "GET":
                state = m.snapshot.state
                return 200, orjson.dumps(_config_view(state, state.config(name)))
            if method == "PATCH":
                data = json_object(body)
                new: CachingConfig = await m.change(actor, "edit", name, data, lambda s, d: s.edit(name, data))
                return 200, orjson.dumps(_config_view(m.snapshot.state, new))
            _only(method, "DELETE")
            await m.change(actor, "delete", name, None, lambda s, d: (s.delete(name), None))
            return 200, orjson.dumps({"deleted": name})
        if action not in ("assign", "detach"):
            raise NotFound(f"no admin route {method} {CONFIGS}/{rest}")
        _only(method, "POST")
        data = json_object(body)
        a: AssignBody = parse(AssignBody, data)
        if action == "assign":
            await m.change(actor, "assign", name, data,
                           lambda s, d: (s.assign(name, a.gateway, a.models, d), None))
        else:
            await m.change(actor, "detach", name, data, lambda s, d: (s.detach(name, a.gateway, a.models), None))
        state = m.snapshot.state
        return 200, orjson.dumps(_config_view(state, state.config(name)))

    # -- gateways --------------------------------------------------------------------------------

    async def _gateways(self, method: str, rest: str, body: bytes, actor: str) -> Result:
        m = self.management
        if not rest:
            if method == "GET":
                snap = m.snapshot
                names = [DEFAULT_GATEWAY, *sorted(n for n in (*snap.directory.declared, *snap.directory.runtime)
                                                  if n != DEFAULT_GATEWAY)]
                return 200, orjson.dumps({"data": [_gateway_view(snap.state, snap.directory, n) for n in names]})
            _only(method, "POST")
            data = json_object(body)
            gw: GatewayDef = parse(GatewayDef, data)
            self._known_models(gw.models)
            await m.change(actor, "create-gateway", gw.name, data, lambda s, d: (s.create_gateway(gw, d), None))
            snap = m.snapshot
            return 201, orjson.dumps(_gateway_view(snap.state, snap.directory, gw.name))
        name = rest
        if method == "GET":
            snap = m.snapshot
            snap.directory.require(name)
            return 200, orjson.dumps(_gateway_view(snap.state, snap.directory, name))
        if method == "PATCH":
            data = json_object(body)
            if isinstance(data.get("models"), list):
                self._known_models(tuple(str(x) for x in data["models"]))
            await m.change(actor, "edit-gateway", name, data, lambda s, d: s.edit_gateway(name, data, d))
            snap = m.snapshot
            return 200, orjson.dumps(_gateway_view(snap.state, snap.directory, name))
        _only(method, "DELETE")
        await m.change(actor, "delete-gateway", name, None, lambda s, d: (s.delete_gateway(name, d), None))
        return 200, orjson.dumps({"deleted": name})

    def _known_models(self, models: tuple[str, ...] | None) -> None:
        for model in models or ():
            if self.models.resolve(model) is None:
                raise Invalid(f"models: {model!r} is not a model of this gateway's configuration file")

    # -- effective settings ----------------------------------------------------------------------

    def _effective(self, q: dict[str, str]) -> dict[str, Any]:
        gateway = q.get("gateway", DEFAULT_GATEWAY)
        model = q.get("model")
        if not model:
            raise BadRequest("model is required: /admin/effective?gateway=G&model=M")
        snap = self.management.snapshot
        snap.directory.require(gateway)
        if self.models.resolve(model) is None or not snap.directory.serves(gateway, model):
            raise NotFound(f"gateway {gateway!r} does not serve model {model!r}")
        cfg = self.management.config.cache
        layer = snap.layers.layer(gateway, model)
        policy = effective(cfg, model, NO_DIRECTIVE, "(tenant)", layer)
        return {
            "gateway": gateway,
            "model": model,
            "configuration": layer.configuration,
            "enabled": policy.enabled,
            "exact": layer.exact,
            "semantic_threshold": policy.semantic_threshold,
            "ttl": policy.ttl,
            "stale": policy.stale,
            "bucket_size": policy.bucket_size,
            "namespace": policy.namespace,
            "max_ttl": cfg.max_ttl,
            "cache_control": {
                "no_cache": layer.honour_no_cache,
                "no_store": layer.honour_no_store,
                "max_age": layer.honour_max_age,
            },
            "version": snap.version,
        }


def _config_view(state: State, cfg: CachingConfig) -> dict[str, Any]:
    return {
        **cfg.model_dump(mode="json"),
        "assignments": [
            {"gateway": g, "models": "all" if ALL_MODELS in ms else ms} for g, ms in state.holders(cfg.name).items()
        ],
    }


def _gateway_view(state: State, directory: Directory, name: str) -> dict[str, Any]:
    held = state.assignments.get(name, {})
    by_config: dict[str, list[str]] = {}
    for model, cfg_name in sorted(held.items()):
        by_config.setdefault(cfg_name, []).append(model)
    configurations = []
    for cfg_name, models in sorted(by_config.items()):
        c = state.configs.get(cfg_name)
        if c is None:
            continue
        configurations.append({
            "name": c.name, "types": list(c.types), "ttl": c.ttl, "semantic_threshold": c.semantic_threshold,
            "models": "all" if ALL_MODELS in models else models,
        })
    settings = directory.settings.get(name)
    source = "default" if name == DEFAULT_GATEWAY and name not in state.gateways else (
        "api" if name in directory.runtime else "config")
    return {
        "name": name,
        "source": source,
        "path": "/v1" if name == DEFAULT_GATEWAY else f"/g/{name}/v1",
        "models": list(directory.models(name)),
        "cache": settings.model_dump(exclude_none=True) if settings is not None else {},
        "configurations": configurations,
    }


def _only(method: str, allowed: str) -> None:
    if method != allowed:
        raise MethodNotAllowed(f"use {allowed}")


def _query(query: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query.decode("latin-1")).items()}


