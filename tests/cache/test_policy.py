"""The effective policy: request > model > global, max_ttl cap, tenant isolation vs shared namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from warmgate.cache.policy import CachePolicy, effective
from warmgate.config import CacheConfig, CacheSettings
from warmgate.controls import NO_DIRECTIVE, CacheDirective, parse_controls


def cfg(**kw: Any) -> CacheConfig:
    return CacheConfig.model_validate({"enabled": True, "ttl": 600, "max_ttl": 3600, **kw})


def test_global_defaults() -> None:
    p = effective(cfg(stale=30, bucket_size=2, namespace="g"), "m", NO_DIRECTIVE, "acme")
    assert p == CachePolicy(
        enabled=True, lookup=True, store=True, ttl=600, stale=30, bucket_size=2, scope="t.acme", namespace="g",
        custom_key=None,
    )


def test_disabled_by_default_means_bypass() -> None:
    p = effective(CacheConfig(), "m", NO_DIRECTIVE, "acme")
    assert (p.enabled, p.lookup, p.store) == (False, False, False)


def test_model_overrides_global_and_none_inherits() -> None:
    c = cfg(stale=30, models={"m": {"ttl": 60, "bucket_size": 3}})
    p = effective(c, "m", NO_DIRECTIVE, "acme")
    assert (p.ttl, p.bucket_size, p.stale, p.namespace, p.enabled) == (60, 3, 30, "", True)
    assert effective(c, "other", NO_DIRECTIVE, "acme").ttl == 600


def test_model_can_disable_and_enable() -> None:
    assert not effective(cfg(models={"m": {"enabled": False}}), "m", NO_DIRECTIVE, "t").enabled
    assert effective(CacheConfig(models={"m": CacheSettings(enabled=True)}), "m", NO_DIRECTIVE, "t").store


def test_request_overrides_model() -> None:
    c = cfg(models={"m": {"ttl": 60, "bucket_size": 3, "namespace": "model-ns", "enabled": False}})
    d = CacheDirective(enabled=True, ttl=120, bucket_size=5, namespace="req-ns", key="k")
    p = effective(c, "m", d, "acme")
    assert (p.enabled, p.ttl, p.bucket_size, p.namespace, p.custom_key) == (True, 120, 5, "req-ns", "k")


def test_request_can_disable() -> None:
    p = effective(cfg(), "m", CacheDirective(enabled=False), "acme")
    assert (p.enabled, p.lookup, p.store) == (False, False, False)


def test_lookup_and_store_switches() -> None:
    p = effective(cfg(), "m", CacheDirective(lookup=False), "acme")
    assert (p.enabled, p.lookup, p.store) == (True, False, True)
    p = effective(cfg(), "m", CacheDirective(store=False), "acme")
    assert (p.enabled, p.lookup, p.store) == (True, True, False)


def test_max_age_lowers_the_ttl_but_never_raises_it() -> None:
    assert effective(cfg(), "m", CacheDirective(max_age=60), "t").ttl == 60
    assert effective(cfg(), "m", CacheDirective(max_age=6000), "t").ttl == 600
    assert effective(cfg(), "m", CacheDirective(ttl=1200, max_age=900), "t").ttl == 900


@pytest.mark.parametrize("directive", [CacheDirective(ttl=10**9), CacheDirective(ttl=7200, max_age=5000)])
def test_max_ttl_caps_any_request(directive: CacheDirective) -> None:
    assert effective(cfg(), "m", directive, "t").ttl == 3600


def test_zero_ttl_means_do_not_store() -> None:
    for d in (CacheDirective(max_age=0), CacheDirective(ttl=0)):
        p = effective(cfg(), "m", d, "t")
        assert (p.ttl, p.store, p.lookup) == (0, False, True)


def test_max_stale_only_lowers_the_stale_allowance() -> None:
    c = cfg(stale=300)
    assert effective(c, "m", CacheDirective(max_stale=10), "t").stale == 10
    assert effective(c, "m", CacheDirective(max_stale=10_000), "t").stale == 300
    assert effective(cfg(models={"m": {"stale": 50}}), "m", NO_DIRECTIVE, "t").stale == 50


def test_max_entry_age_passes_through() -> None:
    assert effective(cfg(), "m", CacheDirective(max_entry_age=30), "t").max_entry_age == 30
    assert effective(cfg(), "m", NO_DIRECTIVE, "t").max_entry_age is None


def test_tenants_are_isolated_by_default() -> None:
    d = CacheDirective(namespace="common")
    assert effective(cfg(), "m", d, "acme").scope == "t.acme"
    assert effective(cfg(), "m", d, "globex").scope == "t.globex"


def test_shared_namespace_only_for_listed_tenants() -> None:
    c = cfg(shared_namespaces={"docs": ["acme", "globex"]})
    d = CacheDirective(namespace="docs")
    assert effective(c, "m", d, "acme").scope == effective(c, "m", d, "globex").scope == "s.docs"
    assert effective(c, "m", d, "intruder").scope == "t.intruder"
    assert effective(c, "m", NO_DIRECTIVE, "acme").scope == "t.acme"
    assert effective(c, "m", CacheDirective(namespace="other"), "acme").scope == "t.acme"


def test_shared_namespace_from_configuration() -> None:
    c = cfg(namespace="docs", shared_namespaces={"docs": ["acme"]})
    p = effective(c, "m", NO_DIRECTIVE, "acme")
    assert (p.scope, p.namespace) == ("s.docs", "docs")


def test_headers_to_policy_end_to_end() -> None:
    headers = [
        (b"helicone-cache-enabled", b"true"),
        (b"cf-aig-cache-ttl", b"7200000"),
        (b"cache-control", b"max-age=1800"),
        (b"helicone-cache-seed", b"docs"),
        (b"helicone-cache-bucket-max-size", b"4"),
    ]
    directive, _ = parse_controls(headers, None)
    p = effective(CacheConfig(shared_namespaces={"docs": ("acme",)}), "m", directive, "acme")
    assert p == CachePolicy(
        enabled=True, lookup=True, store=True, ttl=1800, stale=0, bucket_size=4, scope="s.docs",
        namespace="docs", custom_key=None,
    )
