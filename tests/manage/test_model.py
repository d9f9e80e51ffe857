"""The management state's rules, without a server."""

from __future__ import annotations

import pytest

from warmgate.config import Config
from warmgate.manage.model import (
    CachingConfig,
    Clash,
    Directory,
    GatewayDef,
    Invalid,
    Missing,
    State,
    build_layers,
    parse,
)

CONFIG = Config.model_validate({
    "providers": [{"name": "p", "api": "openai", "base_url": "http://127.0.0.1:9", "accounts": [{"name": "a", "api_key": "k"}]}],
    "models": {"m1": "p", "m2": "p", "claude-*": "p"},
    "gateways": {"team": {"models": ["m1", "claude-*"]}},
})


def cfg(name: str, ttl: int = 60) -> CachingConfig:
    return CachingConfig(name=name, types=("exact",), ttl=ttl)


def directory(state: State) -> Directory:
    return Directory(CONFIG, state)


def test_rename_carries_assignments_and_roundtrips() -> None:
    s = State().create(cfg("first-one")).create(cfg("other-one"))
    s = s.assign("first-one", "team", ("m1",), directory(s))
    s, new = s.edit("first-one", {"name": "renamed-one", "ttl": 5})
    assert new.ttl == 5 and s.holders("renamed-one") == {"team": ["m1"]} and "first-one" not in s.configs
    with pytest.raises(Clash):
        s.edit("renamed-one", {"name": "other-one"})
    again = State.decode(s.encode())
    assert again.encode() == s.encode()
    layer = build_layers(CONFIG, again, directory(again), 7).layer("team", "m1")
    assert (layer.ttl, layer.configuration) == (5, "renamed-one")


def test_assign_and_detach_rules() -> None:
    s = State().create(cfg("whole-gw")).create(cfg("one-model"))
    d = directory(s)
    s = s.assign("whole-gw", "team", None, d)
    with pytest.raises(Clash, match="whole-gw"):
        s.assign("one-model", "team", ("m1",), d)
    with pytest.raises(Clash, match="every model"):
        s.detach("whole-gw", "team", ("m1",))
    with pytest.raises(Invalid):
        s.assign("one-model", "team", ("m2",), d)  # not a model of the gateway
    assert directory(s).serves("team", "claude-3")  # a pattern entry serves what it matches
    s = s.detach("whole-gw", "team", None)
    s = s.assign("one-model", "team", ("m1", "claude-3"), d)
    with pytest.raises(Missing):
        s.detach("one-model", "team", ("m2",))
    s = s.detach("one-model", "team", ("m1",))
    assert s.holders("one-model") == {"team": ["claude-3"]}
    with pytest.raises(Clash):
        s.delete("one-model")
    assert "one-model" not in s.detach("one-model", "team", None).delete("one-model").configs


def test_gateways_from_the_file_are_read_only() -> None:
    s = State()
    d = directory(s)
    with pytest.raises(Clash):
        s.create_gateway(GatewayDef(name="team"), d)
    with pytest.raises(Clash):
        s.delete_gateway("team", d)
    with pytest.raises(Missing):
        s.delete_gateway("nowhere", d)
    s = s.create_gateway(GatewayDef(name="made-here", models=("m2",)), d)
    assert directory(s).models("made-here") == ("m2",)
    assert directory(s).models("default") == ("m1", "m2", "claude-*")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "abc", "types": ["exact"], "ttl": 5},
        {"name": "good-name", "types": ["exact"], "ttl": 0},
        {"name": "good-name", "types": ["exact"], "ttl": 172_801},
        {"name": "good-name", "types": ["exact"], "ttl": 5, "semantic_threshold": 0.5},
        {"name": "good-name", "types": ["semantic"], "ttl": 5},
        {"name": "good-name", "types": ["exact", "exact"], "ttl": 5},
    ],
)
def test_invalid_configurations(body: dict[str, object]) -> None:
    with pytest.raises(Invalid):
        parse(CachingConfig, body)


def test_yaml_gateway_validation() -> None:
    base = CONFIG.model_dump(mode="json")
    base["providers"][0]["accounts"][0]["api_key"] = "k"
    for bad in ({"team": {"models": ["unknown"]}}, {"Bad_Name": {}}, {"default": {"models": ["m1"]}}):
        with pytest.raises(ValueError):
            Config.model_validate({**base, "gateways": bad})
