"""Precedence of the layers: request > assigned configuration > gateway > cache.models > cache:."""

from __future__ import annotations

from warmgate.cache.layers import ALL_MODELS, Assigned, Layers
from warmgate.cache.policy import effective
from warmgate.config import CacheConfig, CacheSettings
from warmgate.controls import NO_DIRECTIVE, CacheDirective

CFG = CacheConfig(ttl=3600, stale=0, bucket_size=1, namespace="", models={"m": CacheSettings(ttl=1800, stale=1)})
GATEWAYS = {"gw": CacheSettings(enabled=True, ttl=600, bucket_size=2, namespace="gw-ns")}
CONFIG = Assigned("cfg-one", 60.0, True, 0.8)


def layers(**assigned: Assigned) -> Layers:
    return Layers(CFG, GATEWAYS, {"gw": assigned} if assigned else None, version=3)


def test_each_level_overrides_the_one_below() -> None:
    lay = layers(m=CONFIG)
    assert lay.layer("default", "other").ttl == 3600  # global
    assert lay.layer("default", "m").ttl == 1800  # cache.models
    plain = lay.layer("gw", "other")
    assert (plain.enabled, plain.ttl, plain.bucket_size, plain.namespace) == (True, 600, 2, "gw-ns")  # gateway
    assigned = lay.layer("gw", "m")
    assert (assigned.ttl, assigned.stale, assigned.bucket_size, assigned.configuration) == (60, 1, 2, "cfg-one")
    p = effective(CFG, "m", CacheDirective(max_age=10), "t", assigned)  # request over all
    assert p.ttl == 10 and p.semantic_threshold == 0.8 and p.lookup and p.store


def test_all_models_assignment_and_specific_model() -> None:
    other = Assigned("cfg-two", 5.0, True, None)
    lay = Layers(CFG, GATEWAYS, {"gw": {ALL_MODELS: CONFIG, "m": other}})
    assert lay.layer("gw", "m").configuration == "cfg-two"
    assert lay.layer("gw", "anything").configuration == "cfg-one"
    assert lay.layer("default", "anything").configuration is None


def test_semantic_only_configuration_turns_the_exact_cache_off() -> None:
    sem = Assigned("sem-only", 60.0, False, 0.9)
    p = effective(CFG, "m", NO_DIRECTIVE, "t", layers(m=sem).layer("gw", "m"))
    assert p.enabled and not p.exact and p.semantic_threshold == 0.9
    assert p.lookup and p.store  # what the request and configuration allow, for the semantic cache
    off = effective(CFG, "m", CacheDirective(enabled=False), "t", layers(m=sem).layer("gw", "m"))
    assert off.semantic_threshold is None  # a request that turns caching off turns it all off


def test_cache_control_policy_filters_the_directive() -> None:
    strict = Assigned("strict-one", 60.0, True, None, honour_no_cache=False, honour_no_store=False,
                      honour_max_age=False)
    d = CacheDirective(lookup=False, store=False, max_age=5, ttl=1)
    honoured = effective(CFG, "m", d, "t", layers(m=CONFIG).layer("gw", "m"))
    assert (honoured.lookup, honoured.store, honoured.ttl) == (False, False, 1)
    ignored = effective(CFG, "m", d, "t", layers(m=strict).layer("gw", "m"))
    assert (ignored.lookup, ignored.store, ignored.ttl) == (True, True, 60)
    # switching caching off entirely and max-stale stay the client's right
    assert not effective(CFG, "m", CacheDirective(enabled=False), "t", layers(m=strict).layer("gw", "m")).enabled


def test_without_a_layer_the_policy_is_unchanged() -> None:
    lay = Layers(CFG)
    for model in ("m", "other"):
        assert effective(CFG, model, NO_DIRECTIVE, "t") == effective(CFG, model, NO_DIRECTIVE, "t", lay.layer("default", model))


def test_max_ttl_caps_a_configuration() -> None:
    capped = CacheConfig(ttl=10, max_ttl=30)
    lay = Layers(capped, None, {"gw": {ALL_MODELS: Assigned("long-ttl", 172_800.0, True, None)}})
    assert effective(capped, "m", NO_DIRECTIVE, "t", lay.layer("gw", "m")).ttl == 30
