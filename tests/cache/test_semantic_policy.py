"""Semantic mode and threshold: model overrides, and a request header that can only make it stricter."""

from __future__ import annotations

import pytest

from warmgate.cache.semantic_policy import semantic_enabled, semantic_threshold
from warmgate.config import SemanticConfig
from warmgate.errors import BadRequest

H = b"x-warmgate-semantic-threshold"


def test_off_by_default() -> None:
    cfg = SemanticConfig()
    assert not semantic_enabled(cfg)
    assert semantic_threshold(cfg, "m", []) is None


def test_mode_and_threshold_per_model() -> None:
    cfg = SemanticConfig.model_validate(
        {"mode": "both", "threshold": 0.9, "models": {"a": {"threshold": 0.95}, "b": {"mode": "exact"}}}
    )
    assert semantic_enabled(cfg)
    assert semantic_threshold(cfg, "x", []) == 0.9
    assert semantic_threshold(cfg, "a", []) == 0.95
    assert semantic_threshold(cfg, "b", []) is None
    only_one = SemanticConfig.model_validate({"models": {"a": {"mode": "semantic"}}})
    assert semantic_enabled(only_one) and semantic_threshold(only_one, "a", []) == only_one.threshold
    assert semantic_threshold(only_one, "b", []) is None


def test_header_only_makes_it_stricter() -> None:
    cfg = SemanticConfig.model_validate({"mode": "semantic", "threshold": 0.9})
    assert semantic_threshold(cfg, "m", [(H, b"0.97")]) == 0.97
    assert semantic_threshold(cfg, "m", [(H, b"0.5")]) == 0.9  # looser: ignored
    assert semantic_threshold(cfg, "m", [(H, b"OFF")]) is None


@pytest.mark.parametrize("value", [b"1.5", b"-0.1", b"high", b"nan", b""])
def test_bad_header_is_a_400(value: bytes) -> None:
    cfg = SemanticConfig.model_validate({"mode": "semantic"})
    with pytest.raises(BadRequest):
        semantic_threshold(cfg, "m", [(H, value)])


def test_threshold_bounds_in_config() -> None:
    with pytest.raises(ValueError):
        SemanticConfig.model_validate({"threshold": 1.2})


def test_an_assigned_caching_configuration_decides() -> None:
    from warmgate.cache.policy import Layer

    cfg = SemanticConfig.model_validate({"mode": "both", "threshold": 0.9})
    assigned = Layer(True, 60, 0, 1, "", exact=False, semantic_threshold=0.8, configuration="sem-only")
    assert semantic_threshold(cfg, "m", [], assigned) == 0.8
    exact_only = assigned._replace(exact=True, semantic_threshold=None)
    assert semantic_threshold(cfg, "m", [], exact_only) is None
    unassigned = Layer(True, 60, 0, 1, "")
    assert semantic_threshold(cfg, "m", [], unassigned) == 0.9
    assert semantic_threshold(cfg, "m", [(H, b"0.95")], assigned) == 0.95

