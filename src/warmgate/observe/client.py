"""`warmgate stats`: fetch `GET /admin/stats` from a running gateway and print the summary."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from typing import Any

import orjson

from warmgate.observe.stats import render_text


def fetch_stats(url: str, admin_key: str | None, timeout: float = 10.0) -> dict[str, Any]:
    req = urllib.request.Request(url.rstrip("/") + "/admin/stats")
    if admin_key:
        req.add_header("Authorization", f"Bearer {admin_key}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data: dict[str, Any] = orjson.loads(resp.read())
    return data


def run_stats(url: str, admin_key: str | None, as_json: bool) -> int:
    try:
        stats = fetch_stats(url, admin_key)
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")[:300]
        print(f"warmgate stats: {url} answered {e.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as e:
        print(f"warmgate stats: cannot read {url}/admin/stats: {e}", file=sys.stderr)
        return 1
    if as_json:
        sys.stdout.write(orjson.dumps(stats, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_text(stats))
    return 0
