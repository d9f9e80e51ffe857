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


def _responses(ok: int, *errors: int) -> dict[str, Any]:
    text = {200: "OK", 201: "Created", 400: "Malformed body", 401: "Missing or wrong admin key",
            403: "Management API off (no admin_key)", 404: "Not found", 405: "Method not allowed",
            409: "Conflict", 422: "Invalid value", 502: "Management store unavailable"}
    out: dict[str, Any] = {str(ok): {"description": text[ok], "content": {"application/json": {"schema": {}}}}}
    for code in (401, 403, 502, *errors):
        out[str(code)] = {"description": text[code],
                          "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}
    return out


def _name(what: str) -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": what}


@cache
def document() -> bytes:
    schemas = _schemas(CachingConfig, GatewayDef, AssignBody)
    schemas["CachingConfigPatch"] = _patch_of(schemas["CachingConfig"])
    schemas["GatewayPatch"] = _patch_of(schemas["GatewayDef"])
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
                    "responses": _responses(200)},
            "post": {"operationId": "createCacheConfig", "summary": "Create a caching configuration",
                     "requestBody": _json_body("CachingConfig"), "responses": _responses(201, 400, 409, 422)},
        },
        "/admin/cache-configs/{name}": {
            "parameters": [cfg_name],
            "get": {"operationId": "getCacheConfig", "responses": _responses(200, 404)},
            "patch": {"operationId": "editCacheConfig", "summary": "Edit; applies at once to every model using it",
                      "requestBody": _json_body("CachingConfigPatch"), "responses": _responses(200, 400, 404, 409, 422)},
            "delete": {"operationId": "deleteCacheConfig", "summary": "Delete (409 while assigned)",
                       "responses": _responses(200, 404, 409)},
        },
        "/admin/cache-configs/{name}/assign": {
            "parameters": [cfg_name],
            "post": {"operationId": "assignCacheConfig", "summary": "Assign to a gateway (all models or some)",
                     "requestBody": _json_body("AssignBody"), "responses": _responses(200, 400, 404, 409, 422)},
        },
        "/admin/cache-configs/{name}/detach": {
            "parameters": [cfg_name],
            "post": {"operationId": "detachCacheConfig", "summary": "Detach from a gateway (all models or some)",
                     "requestBody": _json_body("AssignBody"), "responses": _responses(200, 400, 404, 409, 422)},
        },
        "/admin/gateways": {
            "get": {"operationId": "listGateways", "responses": _responses(200)},
            "post": {"operationId": "createGateway", "summary": "Create a run-time gateway",
                     "requestBody": _json_body("GatewayDef"), "responses": _responses(201, 400, 409, 422)},
        },
        "/admin/gateways/{name}": {
            "parameters": [gw_name],
            "get": {"operationId": "getGateway", "summary": "A gateway with its caching configurations",
                    "responses": _responses(200, 404)},
            "patch": {"operationId": "editGateway", "requestBody": _json_body("GatewayPatch"),
                      "responses": _responses(200, 400, 404, 409, 422)},
            "delete": {"operationId": "deleteGateway", "responses": _responses(200, 404, 409)},
        },
        "/admin/effective": {
            "get": {"operationId": "effectiveSettings", "summary": "Merged settings for a gateway and model",
                    "parameters": [
                        {"name": "gateway", "in": "query", "required": False, "schema": {"type": "string"}},
                        {"name": "model", "in": "query", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": _responses(200, 400, 404)},
        },
        "/admin/audit": {
            "get": {"operationId": "audit", "summary": "Latest changes, newest first",
                    "parameters": [{"name": "limit", "in": "query", "required": False,
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": _responses(200, 400)},
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
