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

Layers (gateways and caching configurations). The configuration side of the table above (`m` and
`g`) is resolved once per (gateway, model) into a `Layer`, by `cache.layers.Layers`:

    request controls > the model's assigned caching configuration > the gateway's settings
                     > `cache.models[model]` > the global `cache:` section

A `Layer` carries the merged `enabled`, `ttl`, `stale`, `bucket_size`, `namespace`, plus what a
caching configuration adds:
- `exact`: False when the assigned configuration has no `exact` type: the exact cache neither looks
  up nor stores (`CachePolicy.exact` False: the flow computes no exact key). `enabled`, `lookup` and
  `store` keep saying what the request and configuration allow, for the semantic cache.
- `semantic_threshold`: the similarity (0.0-1.0) at or above which the semantic cache may answer;
  None = no semantic caching for this (gateway, model). Copied unchanged into
  `CachePolicy.semantic_threshold`, which is what the semantic cache reads.
- `honour_no_cache`, `honour_no_store`, `honour_max_age`: the configuration's cache-control
  policy. When one is False the matching part of the request's directive is dropped before the
  merge: `lookup=False` (no-cache, skip-cache), `store=False` (no-store), `max_age` and `ttl`
  (max-age, s-maxage, cf-cache-ttl, LiteLLM `ttl`).
`effective(cfg, model, directive, tenant)` without a layer uses `base_layer(cfg, model)` (no gateway,
no configuration): the table above exactly.
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
    semantic_threshold: float | None = None  # None: no semantic caching (see the module docstring)
    exact: bool = True  # False: the exact cache is off for this request (a semantic-only configuration)


class Layer(NamedTuple):
    """The configuration side of a policy for one (gateway, model): global < model < gateway <
    assigned caching configuration, already merged (see the module docstring). Immutable."""

    enabled: bool
    ttl: float
    stale: float
    bucket_size: int
    namespace: str
    exact: bool = True
    semantic_threshold: float | None = None
    honour_no_cache: bool = True
    honour_no_store: bool = True
    honour_max_age: bool = True
    configuration: str | None = None  # the assigned caching configuration's name, if any


def base_layer(cfg: CacheConfig, model: str) -> Layer:
    """The layer of `model` from the YAML file alone: `cache.models[model]` over `cache:`."""
    m = cfg.models.get(model, _NO_OVERRIDES)
    return Layer(
        m.enabled if m.enabled is not None else cfg.enabled,
        m.ttl if m.ttl is not None else cfg.ttl,
        m.stale if m.stale is not None else cfg.stale,
        m.bucket_size if m.bucket_size is not None else cfg.bucket_size,
        m.namespace if m.namespace is not None else cfg.namespace,
    )


def scope_for(cfg: CacheConfig, namespace: str, tenant: str) -> str:
    """`s.<namespace>` when configuration shares `namespace` with `tenant`, else `t.<tenant>`."""
    sharers = cfg.shared_namespaces.get(namespace)
    if sharers is not None and tenant in sharers:
        return "s." + namespace
    return "t." + tenant


def effective(
    cfg: CacheConfig, model: str, directive: CacheDirective, tenant: str, layer: Layer | None = None
) -> CachePolicy:
    """The policy for a request of `tenant` to `model` (the name under `cfg.models`) under `layer`
    (default: `base_layer(cfg, model)`); see the module docstring."""
    if layer is None:
        layer = base_layer(cfg, model)
    r = directive
    lookup_ok = r.lookup is not False or not layer.honour_no_cache
    store_ok = r.store is not False or not layer.honour_no_store
    r_ttl, r_max_age = (r.ttl, r.max_age) if layer.honour_max_age else (None, None)

    enabled = r.enabled if r.enabled is not None else layer.enabled

    ttl = r_ttl if r_ttl is not None else layer.ttl
    if r_max_age is not None and r_max_age < ttl:
        ttl = r_max_age
    if ttl > cfg.max_ttl:
        ttl = cfg.max_ttl

    stale = layer.stale
    if r.max_stale is not None and r.max_stale < stale:
        stale = r.max_stale

    namespace = r.namespace if r.namespace is not None else layer.namespace
    bucket_size = r.bucket_size if r.bucket_size is not None else layer.bucket_size
    return CachePolicy(
        enabled,  # enabled
        enabled and lookup_ok,  # lookup
        enabled and store_ok and ttl > 0,  # store
        ttl,
        stale,
        bucket_size,
        scope_for(cfg, namespace, tenant),  # scope
        namespace,
        r.key,  # custom_key
        r.max_entry_age,
        layer.semantic_threshold if enabled else None,
        layer.exact,
    )
