"""The dashboard (admin key only): a page and its script, served from the package, that poll
`GET /admin/stats` (JSON) and draw plain SVG charts. No CDN, no build step.

    GET  /dashboard            the page (a login form until the admin key was presented)
    POST /dashboard/login      form field `key`: sets an HttpOnly cookie and redirects to the page
    POST /dashboard/logout     clears the cookie
    GET  /dashboard/app.js     the script
    GET  /admin/stats          the summary as JSON (admin key as a bearer / x-api-key header, or the cookie)

The cookie holds an HMAC of the admin key, never the key; tenant (gateway) keys never open these
routes. Like `/metrics`, they are open when no `admin_key` is configured.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import orjson

from warmgate.errors import BadRequest, MethodNotAllowed, NotFound, PayloadTooLarge, Unauthorized

COOKIE = "warmgate_admin"
_HTML = (b"content-type", b"text/html; charset=utf-8")
_JS = (b"content-type", b"text/javascript; charset=utf-8")
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_SECURITY = (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
_MAX_FORM = 4096

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _asset(name: str) -> bytes:
    return resources.files("warmgate.observe").joinpath("static", name).read_bytes()


class Dashboard:
    def __init__(self, admin_key: str | None, stats: Callable[[], Awaitable[dict[str, Any]]]):
        self._digest = None if admin_key is None else hashlib.sha256(admin_key.encode()).digest()
        self._token = None if self._digest is None else hmac.new(self._digest, b"warmgate-dashboard", "sha256").hexdigest()
        self._stats = stats
        self._page = _asset("dashboard.html")
        self._login = _asset("login.html")
        self._script = _asset("dashboard.js")

    def _authorized(self, headers: list[tuple[bytes, bytes]]) -> bool | None:
        """True with a valid key or cookie, False with a wrong one, None with none at all."""
        if self._digest is None:
            return True
        presented: bytes | None = None
        cookie_ok = False
        for k, v in headers:
            if k == b"authorization" and v[:7].lower() == b"bearer ":
                presented = v[7:].strip()
            elif k == b"x-api-key" and presented is None:
                presented = v.strip()
            elif k == b"cookie":
                for part in v.split(b";"):
                    name, _, value = part.strip().partition(b"=")
                    if name == COOKIE.encode() and self._token is not None:
                        cookie_ok = cookie_ok or hmac.compare_digest(value, self._token.encode())
        if presented is not None:
            return hmac.compare_digest(hashlib.sha256(presented).digest(), self._digest)
        return True if cookie_ok else None

    async def handle(self, scope: MutableMapping[str, Any], receive: Receive) -> Answer:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/dashboard/login":
            if method != "POST":
                raise MethodNotAllowed("use POST")
            return await self._do_login(receive)
        if path == "/dashboard/logout":
            return 303, [(b"location", b"/dashboard"), (b"set-cookie", _cookie("", 0))], b""
        if method != "GET":
            raise MethodNotAllowed("use GET")
        ok = self._authorized(scope["headers"])
        if path in ("/dashboard", "/dashboard/"):
            if not ok:
                return 401 if ok is False else 200, [_HTML, _NO_STORE, _SECURITY], self._login
            return 200, [_HTML, _NO_STORE, _SECURITY], self._page
        if path == "/dashboard/app.js":
            return 200, [_JS, (b"cache-control", b"max-age=300")], self._script
        if path == "/admin/stats":
            if ok is None:
                raise Unauthorized("this route needs the admin key", code="missing_api_key")
            if not ok:
                raise Unauthorized("incorrect admin key")
            return 200, [_JSON, _NO_STORE], orjson.dumps(await self._stats())
        raise NotFound(f"no route {method} {path}")

    async def _do_login(self, receive: Receive) -> Answer:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > _MAX_FORM:
                raise PayloadTooLarge("the login form is too large")
            if not message.get("more_body", False):
                break
        form = parse_qs(body.decode("utf-8", "replace"))
        key = (form.get("key") or [""])[-1]
        if not key:
            raise BadRequest("the form needs the admin key in the field 'key'")
        if self._digest is None or self._token is None:
            return 303, [(b"location", b"/dashboard")], b""
        if not hmac.compare_digest(hashlib.sha256(key.encode()).digest(), self._digest):
            return 401, [_HTML, _NO_STORE, _SECURITY], self._login.replace(b"<!--error-->", b"<p class=err>Wrong key.</p>")
        return 303, [(b"location", b"/dashboard"), (b"set-cookie", _cookie(self._token, 86400 * 7))], b""


def _cookie(value: str, max_age: int) -> bytes:
    return f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict".encode()
