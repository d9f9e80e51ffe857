"""The configuration layers of every (gateway, model): which cache settings apply before a
request's own controls. Pure; built from the YAML file and the management state, never mutated.

    assigned caching configuration > gateway settings > cache.models[model] > cache:

A `Layers` value is immutable as far as its callers can tell (it memoises resolved layers): a change
of configuration builds a new one and swaps it in whole (`CacheFlow.swap_layers`), so a request sees
either the old layers or the new ones, never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from warmgate.cache.policy import Layer, base_layer
from warmgate.config import CacheConfig, CacheSettings

ALL_MODELS = "*"  # an assignment to every model of a gateway
_MEMO_LIMIT = 4096


class Assigned(NamedTuple):
    """What a caching configuration contributes to the layer of a model it is assigned to."""

    name: str
    ttl: float
    exact: bool
    semantic_threshold: float | None
    honour_no_cache: bool = True
    honour_no_store: bool = True
    honour_max_age: bool = True


class Layers:
    """`layer(gateway, model)`: the merged configuration layer (see the module docstring).

    `gateway_settings[g]` are a gateway's overrides; `assigned[g][model]` (or `[g]["*"]`) the
    caching configuration assigned to a model of gateway `g`. `version` identifies the management
    state the layers were built from."""

    __slots__ = ("_assigned", "_cfg", "_gateways", "_memo", "version")

    def __init__(
        self,
        cfg: CacheConfig,
        gateway_settings: Mapping[str, CacheSettings] | None = None,
        assigned: Mapping[str, Mapping[str, Assigned]] | None = None,
        version: int = 0,
    ):
        self._cfg = cfg
        self._gateways = dict(gateway_settings or {})
        self._assigned = {g: dict(a) for g, a in (assigned or {}).items()}
        self._memo: dict[tuple[str, str], Layer] = {}
        self.version = version

    def layer(self, gateway: str, model: str) -> Layer:
        layer = self._memo.get((gateway, model))
        if layer is None:
            layer = self._resolve(gateway, model)
            if len(self._memo) >= _MEMO_LIMIT:  # model names may come from glob patterns
                self._memo.clear()
            self._memo[(gateway, model)] = layer
        return layer

    def assignment(self, gateway: str, model: str) -> Assigned | None:
        held = self._assigned.get(gateway)
        if not held:
            return None
        return held.get(model) or held.get(ALL_MODELS)

    def _resolve(self, gateway: str, model: str) -> Layer:
        layer = base_layer(self._cfg, model)
        g = self._gateways.get(gateway)
        if g is not None:
            layer = layer._replace(
                **{k: v for k, v in g.model_dump(exclude_none=True).items() if k in Layer._fields}
            )
        a = self.assignment(gateway, model)
        if a is not None:
            layer = layer._replace(
                enabled=True,
                ttl=a.ttl,
                exact=a.exact,
                semantic_threshold=a.semantic_threshold,
                honour_no_cache=a.honour_no_cache,
                honour_no_store=a.honour_no_store,
                honour_max_age=a.honour_max_age,
                configuration=a.name,
            )
        return layer
