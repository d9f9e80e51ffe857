"""The cache policy of one request: configuration merged with the request's controls. Pure.

Precedence: request (`CacheDirective`) > model (`cfg.models[model]`, None fields inherit) > global
(`cfg`). `r` is the directive, `m` the model's settings, `g` the global `cache:` section.

| field          | rule                                                                                   |
|----------------|----------------------------------------------------------------------------------------|
| enabled        | r.enabled ?? m.enabled ?? g.enabled                                                    |
| ttl            | min(r.ttl ?? m.ttl ?? g.ttl, r.max_age if given, g.max_ttl)                            |
| lookup         | enabled and r.lookup is not False                                                      |
| store          | enabled and r.store is not False and ttl > 0                                           |
| stale          | min(m.stale ?? g.stale, r.max_stale if given)                                          |
| max_entry_age  | r.max_entry_age (None = any fresh entry)                                               |
| bucket_size    | r.bucket_size ?? m.bucket_size ?? g.bucket_size                                        |
| namespace      | r.namespace ?? m.namespace ?? g.namespace                                              |
| scope          | "s." + namespace if tenant is in g.shared_namespaces[namespace], else "t." + tenant    |
| custom_key     | r.key                                                                                  |

A request can never make an entry live longer than `max_ttl`, never raise the stale allowance, and
never reach another tenant's entries: sharing a namespace across tenants is configuration only.
"""

from __future__ import annotations

from typing import NamedTuple

from warmgate.config import CacheConfig, CacheSettings
from warmgate.controls import CacheDirective

_NO_OVERRIDES = CacheSettings()


class CachePolicy(NamedTuple):
    """What the cache does for one request (immutable).

    `enabled` False = bypass entirely (lookup and store are then False too). `ttl` and `stale` are
    seconds; `max_entry_age` (seconds or None) bounds the age of an entry that may be served. Keys are
    built from `scope`, `namespace` and, if set, `custom_key` (see `cache.keys.cache_key`).
    A NamedTuple rather than a frozen dataclass: one is built per request, and positional
    construction costs a third of a frozen dataclass's (0.85 vs 2.5 µs, `python bench/keys.py` VM).
    """

    enabled: bool
    lookup: bool
    store: bool
    ttl: float
    stale: float
    bucket_size: int
    scope: str
    namespace: str
    custom_key: str | None
    max_entry_age: float | None = None


def scope_for(cfg: CacheConfig, namespace: str, tenant: str) -> str:
    """`s.<namespace>` when configuration shares `namespace` with `tenant`, else `t.<tenant>`."""
    sharers = cfg.shared_namespaces.get(namespace)
    if sharers is not None and tenant in sharers:
        return "s." + namespace
    return "t." + tenant


def effective(cfg: CacheConfig, model: str, directive: CacheDirective, tenant: str) -> CachePolicy:
    """The policy for a request of `tenant` to `model` (the name under `cfg.models`); see the table above."""
    m = cfg.models.get(model, _NO_OVERRIDES)
    r = directive

    enabled = r.enabled if r.enabled is not None else (m.enabled if m.enabled is not None else cfg.enabled)

    ttl = r.ttl if r.ttl is not None else (m.ttl if m.ttl is not None else cfg.ttl)
    if r.max_age is not None and r.max_age < ttl:
        ttl = r.max_age
    if ttl > cfg.max_ttl:
        ttl = cfg.max_ttl

    stale = m.stale if m.stale is not None else cfg.stale
    if r.max_stale is not None and r.max_stale < stale:
        stale = r.max_stale

    namespace = r.namespace if r.namespace is not None else (
        m.namespace if m.namespace is not None else cfg.namespace
    )
    bucket_size = r.bucket_size if r.bucket_size is not None else (
        m.bucket_size if m.bucket_size is not None else cfg.bucket_size
    )
    return CachePolicy(
        enabled,  # enabled
        enabled and r.lookup is not False,  # lookup
        enabled and r.store is not False and ttl > 0,  # store
        ttl,
        stale,
        bucket_size,
        scope_for(cfg, namespace, tenant),  # scope
        namespace,
        r.key,  # custom_key
        r.max_entry_age,
    )
