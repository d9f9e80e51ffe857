"""A tiny synchronous HTTP client (stdlib http.client) for tests that must send exactly what they
mean: malformed bodies, odd content types, oversized headers."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def ok(self) -> Response:
        assert 200 <= self.status < 300, (self.status, self.body[:500])
        return self


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    json: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    hdrs = dict(headers or {})
    if json is not None:
        body = orjson.dumps(json)
        hdrs.setdefault("content-type", "application/json")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()
