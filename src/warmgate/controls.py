"""Per-request cache controls: every dialect a client may send -> one `CacheDirective`. Pure, no I/O.

| header / body field                           | value                     | directive field            |
|-----------------------------------------------|---------------------------|----------------------------|
| `cf-skip-cache`, `cf-aig-skip-cache`          | `true` / `false`          | lookup=False / (nothing)   |
| `cf-cache-ttl`, `cf-aig-cache-ttl`            | milliseconds >= 0         | ttl (seconds)              |
| `cf-aig-cache-key`                            | non-empty text            | key                        |
| `helicone-cache-enabled`                      | `true` / `false`          | enabled                    |
| `helicone-cache-seed`                         | text, 1-256 characters    | namespace                  |
| `helicone-cache-bucket-max-size`              | integer 1-64              | bucket_size                |
| `cache-control`, `x-cache-control`: no-cache  |                           | lookup=False               |
|   no-store                                    |                           | store=False                |
|   max-age=s, s-maxage=s                       | seconds >= 0              | max_age (min with the TTL) |
|   max-stale=s (bare `max-stale`: no effect)   | seconds >= 0              | max_stale                  |
| body `cache` (LiteLLM): `no-cache`            | boolean                   | lookup=False if true       |
|   `no-store`                                  | boolean                   | store=False if true        |
|   `ttl`                                       | seconds >= 0              | ttl                        |
|   `s-maxage`                                  | seconds >= 0              | max_entry_age              |
|   `namespace`                                 | text, 1-256 characters    | namespace                  |
|   `use-cache`                                 | boolean                   | enabled                    |

Strictness. The vendor headers, `x-cache-control` and the body `cache` object exist only to control
a cache, so any value they carry that is not in the table is a `BadRequest` naming the header (or
`cache.<field>`): a typo never silently turns a control off. Standard `Cache-Control` is sent by many
HTTP clients for their own reasons, so directives the gateway does not act on there (`no-transform`,
`only-if-cached`, `min-fresh`, extensions...) are ignored; a directive it does act on with a bad
value (`max-age=-1`, `max-age=soon`) is still a 400.

Conflicts. Controls never combine into more caching than any one of them asked for:
- booleans: the restrictive value wins (`enabled` False over True; any skip / no-cache -> lookup
  False; any no-store -> store False). `enabled` is orthogonal to lookup/store:
  `Helicone-Cache-Enabled: true` with `no-cache` turns caching on for this request and skips the
  lookup, i.e. a refresh whose answer is stored.
- times: the smallest value of each kind wins (`ttl` from cf-*-ttl and body `ttl`; `max_age` from
  max-age / s-maxage in either Cache-Control header; `max_stale`; `max_entry_age`).
- identifiers (`key`, `namespace`, `bucket_size`): two different values, from repeated headers or
  from a header and the body, are a 400 naming both.

Header names are matched as given: the edge (ASGI) hands them over lower-cased. Values are
case-insensitive where they are keywords (`TRUE`, `No-Cache`) and taken verbatim where they are text
(key, seed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from warmgate.dialects.base import type_name
from warmgate.errors import BadRequest

MAX_NAME_LENGTH = 256
MAX_BUCKET_SIZE = 64


@dataclass(frozen=True, slots=True)
class CacheDirective:
    """What one request asked of the cache. None = the request said nothing; configuration decides.

    - `enabled`: False bypasses the cache entirely, True turns it on even where configuration has it off.
    - `lookup`: False = do not read the cache, fetch fresh (the answer may still be stored).
    - `store`: False = do not store this answer.
    - `ttl`: an explicit time to live in seconds (replaces the configured one; still capped at max_ttl).
    - `max_age`: an upper bound in seconds on the TTL (the smaller of it and the TTL wins; 0 = no store).
    - `max_stale`: an upper bound in seconds on how stale a served entry may be (lowers the configured
      stale allowance; it never raises it).
    - `max_entry_age`: serve only entries stored at most this many seconds ago (LiteLLM `s-maxage`).
    - `key`: a client-chosen cache key that replaces the computed one (within tenant and namespace).
    - `namespace`: partitions the cache (seed).
    - `bucket_size`: keep up to this many different answers per key.
    """

    enabled: bool | None = None
    lookup: bool | None = None
    store: bool | None = None
    ttl: float | None = None
    max_age: float | None = None
    max_stale: float | None = None
    max_entry_age: float | None = None
    key: str | None = None
    namespace: str | None = None
    bucket_size: int | None = None


NO_DIRECTIVE = CacheDirective()

_SKIP = (b"cf-skip-cache", b"cf-aig-skip-cache")
_TTL_MS = (b"cf-cache-ttl", b"cf-aig-cache-ttl")
_KEY = b"cf-aig-cache-key"
_ENABLED = b"helicone-cache-enabled"
_SEED = b"helicone-cache-seed"
_BUCKET = b"helicone-cache-bucket-max-size"
_CACHE_CONTROL = b"cache-control"
_X_CACHE_CONTROL = b"x-cache-control"

VENDOR_HEADERS = frozenset({*_SKIP, *_TTL_MS, _KEY, _ENABLED, _SEED, _BUCKET, _X_CACHE_CONTROL})
"""Headers that only mean something to a gateway cache: the edge need not forward them upstream."""

SEMANTIC_THRESHOLD_HEADER = b"x-warmgate-semantic-threshold"

CONTROL_HEADERS = VENDOR_HEADERS | {_CACHE_CONTROL, SEMANTIC_THRESHOLD_HEADER}
"""Every header `parse_controls` reads (the semantic threshold only to check it: the semantic cache
reads it again through `semantic_threshold_value`)."""

_BODY_FIELDS = frozenset({"no-cache", "no-store", "ttl", "s-maxage", "namespace", "use-cache"})
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_INTEGER = re.compile(r"[0-9]+")


class _Acc:
    """The directive under construction (mutable; only built when a control is present)."""

    __slots__ = (
        "bucket_size", "enabled", "key", "lookup", "max_age", "max_entry_age", "max_stale", "namespace",
        "namespace_from", "store", "ttl",
    )

    def __init__(self) -> None:
        self.enabled: bool | None = None
        self.lookup: bool | None = None
        self.store: bool | None = None
        self.ttl: float | None = None
        self.max_age: float | None = None
        self.max_stale: float | None = None
        self.max_entry_age: float | None = None
        self.key: str | None = None
        self.namespace: str | None = None
        self.namespace_from = ""
        self.bucket_size: int | None = None

    def enable(self, on: bool) -> None:
        self.enabled = on if self.enabled is None else (self.enabled and on)

    def set_namespace(self, ns: str, source: str) -> None:
        if self.namespace is not None and self.namespace != ns:
            raise BadRequest(
                f"conflicting cache namespaces: {self.namespace_from} is {self.namespace!r}, {source} is {ns!r}",
                param=source,
            )
        self.namespace, self.namespace_from = ns, source

    def directive(self) -> CacheDirective:
        return CacheDirective(
            enabled=self.enabled, lookup=self.lookup, store=self.store, ttl=self.ttl, max_age=self.max_age,
            max_stale=self.max_stale, max_entry_age=self.max_entry_age, key=self.key,
            namespace=self.namespace, bucket_size=self.bucket_size,
        )


def _min(a: float | None, b: float) -> float:
    return b if a is None or b < a else a


def _header_bool(name: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v == "true":
        return True
    if v == "false":
        return False
    raise BadRequest(f"{name} must be true or false, got {raw!r}", param=name)


def _header_number(name: str, raw: str, unit: str, param: str | None = None) -> float:
    v = raw.strip().strip('"')
    if not _NUMBER.fullmatch(v):
        raise BadRequest(f"{name} must be a non-negative number of {unit}, got {raw!r}", param=param or name)
    return float(v)


def _name(name: str, raw: str) -> str:
    v = raw.strip()
    if not v:
        raise BadRequest(f"{name} must not be empty", param=name)
    if len(v) > MAX_NAME_LENGTH:
        raise BadRequest(f"{name} must be at most {MAX_NAME_LENGTH} characters, got {len(v)}", param=name)
    if not v.isprintable():  # it becomes part of the cache key, which a response header carries
        raise BadRequest(f"{name} must not contain control characters", param=name)
    return v


def _cache_control(acc: _Acc, name: str, raw: str, strict: bool) -> None:
    for part in raw.split(","):
        token = part.strip()
        if not token:
            continue
        directive, eq, value = token.partition("=")
        directive = directive.strip().lower()
        value = value.strip()
        if directive in ("no-cache", "no-store"):
            if eq and strict:
                raise BadRequest(f"{name}: {directive} takes no value, got {token!r}", param=name)
            if directive == "no-cache":
                acc.lookup = False
            else:
                acc.store = False
        elif directive in ("max-age", "s-maxage"):
            if not eq:
                raise BadRequest(f"{name}: {directive} needs a value in seconds, e.g. {directive}=3600", param=name)
            acc.max_age = _min(acc.max_age, _header_number(f"{name}: {directive}", value, "seconds", name))
        elif directive == "max-stale":
            if eq:
                acc.max_stale = _min(acc.max_stale, _header_number(f"{name}: max-stale", value, "seconds", name))
        elif strict:
            raise BadRequest(
                f"{name}: unknown directive {token!r} (supported: no-cache, no-store, max-age=<s>, "
                "s-maxage=<s>, max-stale[=<s>])",
                param=name,
            )


def semantic_threshold_value(raw_value: bytes) -> float | None:
    """The value of `x-warmgate-semantic-threshold`: a number from 0.0 to 1.0, or None for `off`.
    Raises BadRequest for anything else (whether or not the request gets a semantic lookup)."""
    text = raw_value.decode("latin-1").strip().lower()
    if text == "off":
        return None
    try:
        asked = float(text)
    except ValueError:
        asked = -1.0
    if not 0.0 <= asked <= 1.0:  # also rejects nan
        name = SEMANTIC_THRESHOLD_HEADER.decode()
        raise BadRequest(f"{name} must be a number from 0.0 to 1.0 or 'off', got {text[:40]!r}",
                         code="invalid_cache_control", param=name)
    return asked


def _header(acc: _Acc, k: bytes, raw_value: bytes) -> None:
    if k == SEMANTIC_THRESHOLD_HEADER:
        semantic_threshold_value(raw_value)  # checked here, so a malformed one is a 400 on every path
        return
    name = k.decode("latin-1")
    raw = raw_value.decode("latin-1")
    if k in _SKIP:
        if _header_bool(name, raw):
            acc.lookup = False
    elif k in _TTL_MS:
        acc.ttl = _min(acc.ttl, _header_number(name, raw, "milliseconds") / 1000.0)
    elif k in (_CACHE_CONTROL, _X_CACHE_CONTROL):
        _cache_control(acc, name, raw, strict=k == _X_CACHE_CONTROL)
    elif k == _ENABLED:
        acc.enable(_header_bool(name, raw))
    elif k == _SEED:
        acc.set_namespace(_name(name, raw), name)
    elif k == _KEY:
        key = raw.strip()
        if not key:
            raise BadRequest(f"{name} must not be empty", param=name)
        if acc.key is not None and acc.key != key:
            raise BadRequest(f"{name} was given twice with different values", param=name)
        acc.key = key
    else:  # _BUCKET
        v = raw.strip()
        if not _INTEGER.fullmatch(v) or not 1 <= int(v) <= MAX_BUCKET_SIZE:
            raise BadRequest(f"{name} must be an integer from 1 to {MAX_BUCKET_SIZE}, got {raw!r}", param=name)
        n = int(v)
        if acc.bucket_size is not None and acc.bucket_size != n:
            raise BadRequest(f"{name} was given twice with different values", param=name)
        acc.bucket_size = n


def _body_bool(field: str, v: Any) -> bool:
    if type(v) is not bool:
        raise BadRequest(f"{field} must be a boolean, got {type_name(v)}", param=field)
    return v


def _body_seconds(field: str, v: Any) -> float:
    if type(v) is not int and type(v) is not float:
        raise BadRequest(f"{field} must be a number of seconds, got {type_name(v)}", param=field)
    if not v >= 0:
        raise BadRequest(f"{field} must not be negative, got {v!r}", param=field)
    return float(v)


def _body(acc: _Acc, cache: Any) -> None:
    if not isinstance(cache, dict):
        raise BadRequest(f"cache must be an object, got {type_name(cache)}", param="cache")
    for k, v in cache.items():
        field = f"cache.{k}"
        if k not in _BODY_FIELDS:
            raise BadRequest(
                f"unknown field {field} (supported: {', '.join(sorted(_BODY_FIELDS))})", param=field
            )
        if v is None:
            continue
        if k == "no-cache":
            if _body_bool(field, v):
                acc.lookup = False
        elif k == "no-store":
            if _body_bool(field, v):
                acc.store = False
        elif k == "use-cache":
            acc.enable(_body_bool(field, v))
        elif k == "ttl":
            acc.ttl = _min(acc.ttl, _body_seconds(field, v))
        elif k == "s-maxage":
            acc.max_entry_age = _min(acc.max_entry_age, _body_seconds(field, v))
        else:  # namespace
            if not isinstance(v, str):
                raise BadRequest(f"{field} must be a string, got {type_name(v)}", param=field)
            acc.set_namespace(_name(field, v), field)


def parse_controls(
    headers: list[tuple[bytes, bytes]], body: dict[str, Any] | None
) -> tuple[CacheDirective, dict[str, Any] | None]:
    """The request's cache directive, and the body to forward.

    `headers` are the raw request headers with lower-cased names; `body` the parsed JSON object (None
    when the body is not one). The returned body is `body` itself when it has no `cache` field, else
    a shallow copy without it (the provider would reject it): compare with `is` to know whether the
    body must be re-encoded. Raises `BadRequest` (param = header name or `cache.<field>`) for an
    invalid control value. Without any control the shared `NO_DIRECTIVE` is returned.
    """
    acc: _Acc | None = None
    for k, v in headers:
        if k in CONTROL_HEADERS:
            if acc is None:
                acc = _Acc()
            _header(acc, k, v)
    if body is not None and "cache" in body:
        cache = body["cache"]
        body = {k: v for k, v in body.items() if k != "cache"}
        if cache is not None:
            if acc is None:
                acc = _Acc()
            _body(acc, cache)
    return (NO_DIRECTIVE if acc is None else acc.directive()), body
