"""The OpenAPI 3.1 document of the management API, served at `GET /admin/openapi.json`. The
schemas of the bodies come from the pydantic models that validate them, so they cannot drift."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from pydantic import BaseModel

from warmgate.manage.model import AssignBody, CachingConfig, GatewayDef

_REF = "#/components/schemas/{model}"


def _schemas(*models: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in models:
        schema = m.model_json_schema(ref_template=_REF)
        out.update(schema.pop("$defs", {}))
        out[m.__name__] = schema
    return out


def _patch_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "required": [], "title": schema.get("title", "") + "Patch"}


def _json_body(ref: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model=ref)}}}}


def _responses(ok: int, schema: str, *errors: int) -> dict[str, Any]:
    text = {200: "OK", 201: "Created", 400: "Malformed body", 401: "Missing or wrong admin key",
            403: "Management API off (no admin_key)", 404: "Not found", 405: "Method not allowed",
            409: "Conflict", 422: "Invalid value", 502: "Management store unavailable"}
    out: dict[str, Any] = {str(ok): {"description": text[ok], "content": {
        "application/json": {"schema": {"$ref": _REF.format(model=schema)}}}}}
    for code in (401, 403, 405, 502, *errors):
        out[str(code)] = {"description": text[code],
                          "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}
    return out


def _name(what: str) -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": what}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _views(config: dict[str, Any]) -> dict[str, Any]:
    """The shapes of the answers (see `api._config_view`, `api._gateway_view`)."""
    text, num, names = {"type": "string"}, {"type": "number"}, {"type": "array", "items": {"type": "string"}}
    models = {"oneOf": [{"const": "all"}, names]}
    maybe_num = {"type": ["number", "null"]}
    assignment = _obj(["gateway", "models"], gateway=text, models=models)
    config_view = {k: v for k, v in config.items() if k != "additionalProperties"} | {
        "title": "ConfigView",
        "required": [*config.get("required", []), "assignments"],
        "properties": {**config["properties"], "assignments": {"type": "array", "items": assignment}},
    }
    held = _obj(["name", "types", "ttl", "semantic_threshold", "models"], name=text, types=names, ttl=num,
                semantic_threshold=maybe_num, models=models)
    gateway_view = _obj(["name", "source", "path", "models", "cache", "configurations"], name=text,
                        source={"enum": ["default", "config", "api"]}, path=text, models=names,
                        cache={"type": "object"}, configurations={"type": "array", "items": held})
    flags = _obj(["no_cache", "no_store", "max_age"], no_cache={"type": "boolean"}, no_store={"type": "boolean"},
                 max_age={"type": "boolean"})
    effective = _obj(
        ["gateway", "model", "configuration", "enabled", "exact", "semantic_threshold", "ttl", "stale",
         "bucket_size", "namespace", "max_ttl", "cache_control", "version"],
        gateway=text, model=text, configuration={"type": ["string", "null"]}, enabled={"type": "boolean"},
        exact={"type": "boolean"}, semantic_threshold=maybe_num, ttl=num, stale=num, bucket_size={"type": "integer"},
        namespace=text, max_ttl=num, cache_control=flags, version={"type": "integer"},
    )
    record = _obj(["at", "actor", "action", "target", "version"], at=num, actor=text, action=text, target=text,
                  version={"type": "integer"})
    return {
        "ConfigView": config_view,
        "ConfigList": _obj(["data"], data={"type": "array", "items": {"$ref": _REF.format(model="ConfigView")}}),
        "GatewayView": gateway_view,
        "GatewayList": _obj(["data"], data={"type": "array", "items": {"$ref": _REF.format(model="GatewayView")}}),
        "Deleted": _obj(["deleted"], deleted=text),
        "Effective": effective,
        "AuditList": _obj(["data"], data={"type": "array", "items": record}),
    }


@cache
def document() -> bytes:
    schemas = _schemas(CachingConfig, GatewayDef, AssignBody)
    schemas["CachingConfigPatch"] = _patch_of(schemas["CachingConfig"])
    schemas["GatewayPatch"] = _patch_of(schemas["GatewayDef"])
    schemas.update(_views(schemas["CachingConfig"]))
    schemas["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}},
    }
    cfg_name = _name("caching configuration name")
    gw_name = _name("gateway name")
    paths: dict[str, Any] = {
        "/admin/cache-configs": {
            "get": {"operationId": "listCacheConfigs", "summary": "List caching configurations",
                    "responses": _responses(200, "ConfigList")},
            "post": {"operationId": "createCacheConfig", "summary": "Create a caching configuration",
                     "requestBody": _json_body("CachingConfig"), "responses": _responses(201, "ConfigView", 400, 409, 422)},
        },
        "/admin/cache-configs/{name}": {
            "parameters": [cfg_name],
            "get": {"operationId": "getCacheConfig", "responses": _responses(200, "ConfigView", 404)},
            "patch": {"operationId": "editCacheConfig", "summary": "Edit; applies at once to every model using it",
                      "requestBody": _json_body("CachingConfigPatch"), "responses": _responses(200, "ConfigView", 400, 404, 409, 422)},
            "delete": {"operationId": "deleteCacheConfig", "summary": "Delete (409 while assigned)",
                       "responses": _responses(200, "Deleted", 404, 409)},
        },
        "/admin/cache-configs/{name}/assign": {
            "parameters": [cfg_name],
            "post": {"operationId": "assignCacheConfig", "summary": "Assign to a gateway (all models or some)",
                     "requestBody": _json_body("AssignBody"), "responses": _responses(200, "ConfigView", 400, 404, 409, 422)},
        },
        "/admin/cache-configs/{name}/detach": {
            "parameters": [cfg_name],
            "post": {"operationId": "detachCacheConfig", "summary": "Detach from a gateway (all models or some)",
                     "requestBody": _json_body("AssignBody"), "responses": _responses(200, "ConfigView", 400, 404, 409, 422)},
        },
        "/admin/gateways": {
            "get": {"operationId": "listGateways", "responses": _responses(200, "GatewayList")},
            "post": {"operationId": "createGateway", "summary": "Create a run-time gateway",
                     "requestBody": _json_body("GatewayDef"), "responses": _responses(201, "GatewayView", 400, 409, 422)},
        },
        "/admin/gateways/{name}": {
            "parameters": [gw_name],
            "get": {"operationId": "getGateway", "summary": "A gateway with its caching configurations",
                    "responses": _responses(200, "GatewayView", 404)},
            "patch": {"operationId": "editGateway", "requestBody": _json_body("GatewayPatch"),
                      "responses": _responses(200, "GatewayView", 400, 404, 409, 422)},
            "delete": {"operationId": "deleteGateway", "responses": _responses(200, "Deleted", 404, 409)},
        },
        "/admin/effective": {
            "get": {"operationId": "effectiveSettings", "summary": "Merged settings for a gateway and model",
                    "parameters": [
                        {"name": "gateway", "in": "query", "required": False, "schema": {"type": "string"}},
                        {"name": "model", "in": "query", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": _responses(200, "Effective", 400, 404)},
        },
        "/admin/audit": {
            "get": {"operationId": "audit", "summary": "Latest changes, newest first",
                    "parameters": [{"name": "limit", "in": "query", "required": False,
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": _responses(200, "AuditList", 400)},
        },
    }
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "warmgate management API", "version": "1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"adminKey": []}],
        "paths": paths,
    }
    return orjson.dumps(doc)
