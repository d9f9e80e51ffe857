"""`warmgate cache-config list|create|edit|delete|assign|detach|gateways` and `warmgate config effective`:
thin clients of the management API that print readable tables.

The gateway's URL and admin key come from `--url` / `--admin-key`, else from the environment
(`WARMGATE_URL`, default http://127.0.0.1:8080, and `WARMGATE_ADMIN_KEY`).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

import orjson

_TIMEOUT = 30.0


def add_commands(sub: Any) -> None:
    """Register the subcommands on the `warmgate` parser's subparsers."""
    cc = sub.add_parser("cache-config", help="manage caching configurations through a running gateway")
    ops = cc.add_subparsers(dest="op", required=True)
    _client_options(ops.add_parser("list", help="list caching configurations and where they are assigned"))

    create = ops.add_parser("create", help="create a caching configuration")
    _client_options(create)
    create.add_argument("name")
    create.add_argument("--ttl", type=int, required=True, help="seconds an entry is fresh (1-172800)")
    create.add_argument("--types", default="exact", help="exact, semantic or exact,semantic (default exact)")
    create.add_argument("--threshold", type=float, help="semantic threshold 0.0-1.0 (required with semantic)")
    create.add_argument("--description", default="")
    create.add_argument("--ignore", action="append", default=[], choices=["no-cache", "no-store", "max-age"],
                        help="a client cache-control directive not to honour (repeatable)")

    edit = ops.add_parser("edit", help="change fields of a caching configuration (applies at once)")
    _client_options(edit)
    edit.add_argument("name")
    edit.add_argument("--rename", help="a new name")
    edit.add_argument("--ttl", type=int)
    edit.add_argument("--types")
    edit.add_argument("--threshold", type=float)
    edit.add_argument("--no-threshold", action="store_true", help="remove the semantic threshold")
    edit.add_argument("--description")
    edit.add_argument("--honour", action="append", default=[], choices=["no-cache", "no-store", "max-age"])
    edit.add_argument("--ignore", action="append", default=[], choices=["no-cache", "no-store", "max-age"])

    delete = ops.add_parser("delete", help="delete a caching configuration (it must be detached first)")
    _client_options(delete)
    delete.add_argument("name")
    for op in ("assign", "detach"):
        p = ops.add_parser(op, help=f"{op} a caching configuration {'to' if op == 'assign' else 'from'} a gateway")
        _client_options(p)
        p.add_argument("name")
        p.add_argument("--gateway", "-g", required=True)
        p.add_argument("--model", "-m", action="append", help="a model (repeatable); none = every model of the gateway")

    gws = ops.add_parser("gateways", help="the gateways and the configurations assigned to each")
    _client_options(gws)
    gws.add_argument("name", nargs="?", help="one gateway (default: all)")

    cfg = sub.add_parser("config", help="inspect the settings of a running gateway")
    cops = cfg.add_subparsers(dest="op", required=True)
    eff = cops.add_parser("effective", help="the merged cache settings for a gateway and model")
    _client_options(eff)
    eff.add_argument("--gateway", "-g", default="default")
    eff.add_argument("--model", "-m", required=True)


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("WARMGATE_URL", "http://127.0.0.1:8080"),
                   help="the gateway's URL (env WARMGATE_URL)")
    p.add_argument("--admin-key", default=os.environ.get("WARMGATE_ADMIN_KEY"),
                   help="the admin key (env WARMGATE_ADMIN_KEY)")
    p.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else orjson.dumps(body)
    req = urllib.request.Request(args.url.rstrip("/") + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if args.admin_key:
        req.add_header("authorization", f"Bearer {args.admin_key}")
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:
            return orjson.loads(resp.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            message = orjson.loads(raw)["error"]["message"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            message = raw.decode(errors="replace")[:500]
        raise ApiError(e.code, message) from e
    except urllib.error.URLError as e:
        raise ApiError(0, f"cannot reach {args.url}: {e.reason}") from e


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "config":
            out = _call(args, "GET", "/admin/effective?" + urlencode({"gateway": args.gateway, "model": args.model}))
            _print(args, out, lambda: _effective_table(out))
            return 0
        return _cache_config(args)
    except ApiError as e:
        print(f"warmgate: {e}", file=sys.stderr)
        return 1


def _cache_config(args: argparse.Namespace) -> int:
    base = "/admin/cache-configs"
    if args.op == "list":
        out = _call(args, "GET", base)
        _print(args, out, lambda: _configs_table(out["data"]))
        return 0
    if args.op == "gateways":
        out = _call(args, "GET", "/admin/gateways" + (f"/{quote(args.name, safe='')}" if args.name else ""))
        views = [out] if args.name else out["data"]
        _print(args, out, lambda: _gateways_table(views))
        return 0
    path = f"{base}/{quote(args.name, safe='')}"
    if args.op == "create":
        body: dict[str, Any] = {"name": args.name, "ttl": args.ttl, "types": _types(args.types),
                                "description": args.description}
        if args.threshold is not None:
            body["semantic_threshold"] = args.threshold
        if args.ignore:
            body["cache_control"] = {k.replace("-", "_"): False for k in args.ignore}
        out = _call(args, "POST", base, body)
    elif args.op == "edit":
        body = {}
        for field, value in (("name", args.rename), ("ttl", args.ttl), ("description", args.description),
                             ("semantic_threshold", args.threshold)):
            if value is not None:
                body[field] = value
        if args.types is not None:
            body["types"] = _types(args.types)
        if args.no_threshold:
            body["semantic_threshold"] = None
        honour = {k.replace("-", "_"): True for k in args.honour} | {k.replace("-", "_"): False for k in args.ignore}
        if honour:
            body["cache_control"] = honour
        out = _call(args, "PATCH", path, body)
    elif args.op == "delete":
        out = _call(args, "DELETE", path)
        _print(args, out, lambda: f"deleted {out['deleted']}")
        return 0
    else:
        body = {"gateway": args.gateway}
        if args.model:
            body["models"] = args.model
        out = _call(args, "POST", f"{path}/{args.op}", body)
    _print(args, out, lambda: _configs_table([out]))
    return 0


def _types(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _print(args: argparse.Namespace, out: Any, table: Any) -> None:
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() if args.json else table())


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table with columns padded to their widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    return "\n".join(lines)


def _configs_table(configs: list[dict[str, Any]]) -> str:
    rows = []
    for c in configs:
        where = "; ".join(
            f"{a['gateway']}: {'all models' if a['models'] == 'all' else ', '.join(a['models'])}" for a in c["assignments"]
        )
        ignored = [k.replace("_", "-") for k, v in c["cache_control"].items() if not v]
        rows.append([
            c["name"], "+".join(c["types"]), str(c["ttl"]),
            "-" if c["semantic_threshold"] is None else f"{c['semantic_threshold']:g}",
            "all" if not ignored else "not " + ",".join(ignored), where or "-", c["description"],
        ])
    return table(["NAME", "TYPES", "TTL", "THRESHOLD", "CLIENT CONTROLS", "ASSIGNED TO", "DESCRIPTION"], rows)


def _gateways_table(views: list[dict[str, Any]]) -> str:
    rows = []
    for g in views:
        first = [g["name"], g["path"], g["source"]]
        if not g["configurations"]:
            rows.append([*first, "-", "", "", "", ""])
        for c in g["configurations"]:
            rows.append([
                *first, c["name"], "+".join(c["types"]), str(c["ttl"]),
                "-" if c["semantic_threshold"] is None else f"{c['semantic_threshold']:g}",
                "all models" if c["models"] == "all" else ", ".join(c["models"]),
            ])
            first = ["", "", ""]
    return table(["GATEWAY", "PATH", "FROM", "CONFIGURATION", "TYPES", "TTL", "THRESHOLD", "MODELS"], rows)


def _effective_table(e: dict[str, Any]) -> str:
    cc = e["cache_control"]
    rows = [
        ["gateway", e["gateway"]], ["model", e["model"]], ["configuration", e["configuration"] or "-"],
        ["enabled", str(e["enabled"]).lower()], ["exact", str(e["exact"]).lower()],
        ["semantic_threshold", "-" if e["semantic_threshold"] is None else f"{e['semantic_threshold']:g}"],
        ["ttl", f"{e['ttl']:g}"], ["stale", f"{e['stale']:g}"], ["bucket_size", str(e["bucket_size"])],
        ["namespace", e["namespace"] or '""'], ["max_ttl", f"{e['max_ttl']:g}"],
        ["client no-cache", "honoured" if cc["no_cache"] else "ignored"],
        ["client no-store", "honoured" if cc["no_store"] else "ignored"],
        ["client max-age", "honoured" if cc["max_age"] else "ignored"],
    ]
    return table(["SETTING", "VALUE"], rows)
