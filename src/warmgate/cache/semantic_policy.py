"""Whether and how strictly one request is looked up by meaning. Pure.

`semantic_threshold` is the one place that reads the threshold; its sources, by precedence:
1. the request header `x-warmgate-semantic-threshold: <0.0-1.0>`, which may only make the lookup
   stricter: a value below the configured threshold is ignored (the configured one applies), a value
   that is not a number in [0, 1] is a 400. `1` means "identical meaning only", and the header value
   `off` turns semantic lookups off for the request (exact caching is unaffected);
2. the caching configuration assigned to the (gateway, model) through the management API, if any:
   its `semantic_threshold` (None = that configuration has no semantic type: no semantic lookups);
3. the model's override (`semantic.models[model]`);
4. the global `semantic:` section.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from warmgate.cache.policy import Layer
from warmgate.config import SemanticConfig
from warmgate.controls import SEMANTIC_THRESHOLD_HEADER, semantic_threshold_value

THRESHOLD_HEADER: Final = SEMANTIC_THRESHOLD_HEADER


def semantic_enabled(cfg: SemanticConfig, declared: bool = False) -> bool:
    """Whether any model may be looked up by meaning (the gateway then opens an embedder and an
    index): a mode other than `exact`, or a `semantic:` section `declared` in the file at all (so that
    caching configurations of the semantic type, assigned at run time, can take effect)."""
    return declared or cfg.mode != "exact" or any(m.mode not in (None, "exact") for m in cfg.models.values())


def semantic_threshold(
    cfg: SemanticConfig, model: str, headers: Sequence[tuple[bytes, bytes]], layer: Layer | None = None
) -> float | None:
    """The similarity a candidate needs for this request, or None when it gets no semantic lookup.
    Raises BadRequest for a malformed `x-warmgate-semantic-threshold`."""
    if layer is not None and layer.configuration is not None:
        if layer.semantic_threshold is None:
            return None
        threshold = layer.semantic_threshold
    else:
        m = cfg.models.get(model)
        mode = m.mode if m is not None and m.mode is not None else cfg.mode
        if mode == "exact":
            return None
        threshold = m.threshold if m is not None and m.threshold is not None else cfg.threshold
    for name, value in headers:
        if name != THRESHOLD_HEADER:
            continue
        asked = semantic_threshold_value(value)
        if asked is None:
            return None
        threshold = max(threshold, asked)
    return threshold

