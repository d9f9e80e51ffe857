"""Caching configurations, run-time gateways and assignments: the management state and every rule
that changes it. Pure: no I/O; each change returns a new `State` (or raises), and the service
writes it to the store atomically.

Rules (each broken one is an `Invalid` (422), `Missing` (404) or `Clash` (409)):
- a configuration name matches `^[a-z0-9-]{5,50}$` and is unique; TTL is 1..172800 s; `types` is
  `exact` and/or `semantic`; `semantic_threshold` (0.0-1.0) is required with `semantic` and refused
  without it;
- one model in one gateway has at most one configuration: assigning another one is a 409 naming the
  holder (an assignment to "all models" holds every model of the gateway);
- a configuration that is still assigned cannot be deleted (409); renaming one carries its
  assignments along;
- gateways from the YAML file cannot be changed or deleted through the API (409); a run-time gateway
  with configurations assigned cannot be deleted (409).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from warmgate.cache.layers import ALL_MODELS, Assigned, Layers
from warmgate.config import DEFAULT_GATEWAY, GATEWAY_NAME, CacheSettings, Config

CONFIG_NAME = r"^[a-z0-9-]{5,50}$"
MAX_TTL = 172_800


class Invalid(Exception):
    """A body or value that breaks a rule (422)."""


class Missing(Exception):
    """A configuration or gateway that does not exist (404)."""


class Clash(Exception):
    """A change that conflicts with the state (409)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CacheControlPolicy(_Model):
    """Which client cache-control directives the gateway honours for models under a configuration."""

    no_cache: bool = Field(default=True, description="honour no-cache (and skip-cache): fetch fresh")
    no_store: bool = Field(default=True, description="honour no-store: do not store the answer")
    max_age: bool = Field(default=True, description="honour max-age / s-maxage / client TTLs")


class CachingConfig(_Model):
    name: str = Field(pattern=CONFIG_NAME)
    description: str = Field(default="", max_length=1000)
    types: tuple[Literal["exact", "semantic"], ...] = Field(min_length=1, max_length=2)
    semantic_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    ttl: int = Field(ge=1, le=MAX_TTL, description="seconds an entry is fresh")
    cache_control: CacheControlPolicy = CacheControlPolicy()

    @model_validator(mode="after")
    def _threshold(self) -> CachingConfig:
        if len(set(self.types)) != len(self.types):
            raise ValueError("types lists the same type twice")
        if "semantic" in self.types and self.semantic_threshold is None:
            raise ValueError("semantic_threshold is required when types includes semantic")
        if "semantic" not in self.types and self.semantic_threshold is not None:
            raise ValueError("semantic_threshold is only allowed when types includes semantic")
        return self

    def assigned(self) -> Assigned:
        return Assigned(
            self.name, float(self.ttl), "exact" in self.types, self.semantic_threshold,
            self.cache_control.no_cache, self.cache_control.no_store, self.cache_control.max_age,
        )


class GatewayDef(_Model):
    """A run-time gateway (created through the API). `models` None = every model of the file."""

    name: str = Field(pattern=GATEWAY_NAME)
    description: str = Field(default="", max_length=1000)
    models: tuple[str, ...] | None = None
    cache: CacheSettings = CacheSettings()


class AssignBody(_Model):
    gateway: str = Field(max_length=50)
    models: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="null or omitted: every model of the gateway"
    )


def parse(model: type[Any], data: Any) -> Any:
    """`model` validated from `data`; an `Invalid` with readable problems otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(body)"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise Invalid("; ".join(problems)) from e


class State:
    """Configurations by name, run-time gateways by name, and assignments
    `gateway -> {model or "*" -> configuration name}`. Treated as immutable."""

    __slots__ = ("assignments", "configs", "gateways")

    def __init__(
        self,
        configs: Mapping[str, CachingConfig] | None = None,
        gateways: Mapping[str, GatewayDef] | None = None,
        assignments: Mapping[str, Mapping[str, str]] | None = None,
    ):
        self.configs = dict(configs or {})
        self.gateways = dict(gateways or {})
        self.assignments = {g: dict(a) for g, a in (assignments or {}).items() if a}

    # -- serialisation ---------------------------------------------------------------------------

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "configs": [c.model_dump(mode="json") for c in self.configs.values()],
                "gateways": [g.model_dump(mode="json") for g in self.gateways.values()],
                "assignments": self.assignments,
            },
            option=orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def decode(cls, doc: bytes | None) -> State:
        if not doc:
            return cls()
        data = orjson.loads(doc)
        configs = [CachingConfig.model_validate(c) for c in data.get("configs", [])]
        gateways = [GatewayDef.model_validate(g) for g in data.get("gateways", [])]
        return cls({c.name: c for c in configs}, {g.name: g for g in gateways}, data.get("assignments", {}))

    # -- reading ---------------------------------------------------------------------------------

    def config(self, name: str) -> CachingConfig:
        c = self.configs.get(name)
        if c is None:
            raise Missing(f"no caching configuration named {name!r}")
        return c

    def holders(self, name: str) -> dict[str, list[str]]:
        """gateway -> models ("*" = all) that configuration `name` is assigned to."""
        out: dict[str, list[str]] = {}
        for gateway, held in sorted(self.assignments.items()):
            models = sorted(m for m, c in held.items() if c == name)
            if models:
                out[gateway] = models
        return out

    # -- changes ---------------------------------------------------------------------------------

    def _with(self, **changes: Any) -> State:
        return State(
            changes.get("configs", self.configs),
            changes.get("gateways", self.gateways),
            changes.get("assignments", self.assignments),
        )

    def create(self, cfg: CachingConfig) -> State:
        if cfg.name in self.configs:
            raise Clash(f"a caching configuration named {cfg.name!r} already exists")
        return self._with(configs={**self.configs, cfg.name: cfg})

    def edit(self, name: str, changes: Mapping[str, Any]) -> tuple[State, CachingConfig]:
        old = self.config(name)
        if not isinstance(changes, Mapping):
            raise Invalid("the body must be a JSON object")
        merged = old.model_dump(mode="json")
        for k, v in changes.items():
            if k == "cache_control" and isinstance(v, Mapping):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
        new: CachingConfig = parse(CachingConfig, merged)
        configs = {k: v for k, v in self.configs.items() if k != name}
        if new.name in configs:
            raise Clash(f"a caching configuration named {new.name!r} already exists")
        configs[new.name] = new
        assignments = self.assignments
        if new.name != name:
            assignments = {
                g: {m: (new.name if c == name else c) for m, c in held.items()} for g, held in assignments.items()
            }
        return self._with(configs=configs, assignments=assignments), new

    def delete(self, name: str) -> State:
        self.config(name)
        held = self.holders(name)
        if held:
            where = ", ".join(f"{g} ({', '.join('all models' if m == ALL_MODELS else m for m in ms)})" for g, ms in held.items())
            raise Clash(f"caching configuration {name!r} is still assigned to {where}: detach it first")
        return self._with(configs={k: v for k, v in self.configs.items() if k != name})

    def assign(self, name: str, gateway: str, models: tuple[str, ...] | None, directory: Directory) -> State:
        self.config(name)
        directory.require(gateway)
        held = dict(self.assignments.get(gateway, {}))
        if models is None:
            others = sorted({c for c in held.values() if c != name})
            if others:
                raise Clash(
                    f"gateway {gateway!r} already has models assigned to {', '.join(repr(o) for o in others)}: "
                    "one model has at most one caching configuration"
                )
            held = {ALL_MODELS: name}
        else:
            for model in models:
                if not directory.serves(gateway, model):
                    raise Invalid(f"gateway {gateway!r} does not serve model {model!r}")
                holder = held.get(model) or held.get(ALL_MODELS)
                if holder is not None and holder != name:
                    raise Clash(
                        f"model {model!r} of gateway {gateway!r} already has caching configuration {holder!r}"
                    )
            if held.get(ALL_MODELS) != name:
                held.update(dict.fromkeys(models, name))
        return self._with(assignments={**self.assignments, gateway: held})

    def detach(self, name: str, gateway: str, models: tuple[str, ...] | None) -> State:
        self.config(name)
        held = dict(self.assignments.get(gateway, {}))
        if models is None:
            held = {m: c for m, c in held.items() if c != name}
        else:
            if held.get(ALL_MODELS) == name:
                raise Clash(
                    f"caching configuration {name!r} holds every model of gateway {gateway!r}: "
                    "detach it from the gateway (no models), then assign the models it should keep"
                )
            for model in models:
                if held.get(model) != name:
                    raise Missing(f"caching configuration {name!r} is not assigned to model {model!r} of {gateway!r}")
                del held[model]
        assignments = {**self.assignments, gateway: held}
        return self._with(assignments={g: a for g, a in assignments.items() if a})

    def create_gateway(self, gw: GatewayDef, directory: Directory) -> State:
        if directory.exists(gw.name):
            raise Clash(f"a gateway named {gw.name!r} already exists")
        for model in gw.models or ():
            if not directory.serves(DEFAULT_GATEWAY, model):
                raise Invalid(f"models: {model!r} is not a model of this gateway's configuration file")
        return self._with(gateways={**self.gateways, gw.name: gw})

    def edit_gateway(self, name: str, changes: Mapping[str, Any], directory: Directory) -> tuple[State, GatewayDef]:
        directory.require(name)
        old = self.gateways.get(name)
        if old is None:
            raise Clash(f"gateway {name!r} is declared in the configuration file: change it there")
        if not isinstance(changes, Mapping):
            raise Invalid("the body must be a JSON object")
        if "name" in changes and changes["name"] != name:
            raise Invalid("a gateway cannot be renamed")
        new: GatewayDef = parse(GatewayDef, {**old.model_dump(mode="json"), **changes})
        for model in new.models or ():
            if not directory.serves(DEFAULT_GATEWAY, model):
                raise Invalid(f"models: {model!r} is not a model of this gateway's configuration file")
        held = self.assignments.get(name, {})
        if new.models is not None:
            lost = sorted(m for m in held if m != ALL_MODELS and m not in new.models)
            if lost:
                raise Clash(f"models {', '.join(lost)} of gateway {name!r} have caching configurations: detach them first")
        return self._with(gateways={**self.gateways, name: new}), new

    def delete_gateway(self, name: str, directory: Directory) -> State:
        directory.require(name)
        if name not in self.gateways:
            raise Clash(f"gateway {name!r} is declared in the configuration file: remove it there")
        if self.assignments.get(name):
            raise Clash(f"gateway {name!r} still has caching configurations assigned: detach them first")
        return self._with(gateways={k: v for k, v in self.gateways.items() if k != name})


class Directory:
    """The gateways served: `default` (every model), those of the YAML file, those made at run time."""

    def __init__(self, config: Config, state: State):
        self._all = tuple(config.models)
        self.declared: dict[str, tuple[str, ...] | None] = {DEFAULT_GATEWAY: None}
        self.settings: dict[str, CacheSettings] = {}
        for name, gw in config.gateways.items():
            self.declared[name] = gw.models
            self.settings[name] = gw.cache
        self.runtime: dict[str, tuple[str, ...] | None] = {}
        for name, rgw in state.gateways.items():
            if name not in self.declared:
                self.runtime[name] = rgw.models
                self.settings[name] = rgw.cache

    def exists(self, name: str) -> bool:
        return name in self.declared or name in self.runtime

    def require(self, name: str) -> None:
        if not self.exists(name):
            raise Missing(f"no gateway named {name!r}")

    def models(self, name: str) -> tuple[str, ...]:
        listed = self.declared[name] if name in self.declared else self.runtime[name]
        return self._all if listed is None else listed

    def serves(self, name: str, model: str) -> bool:
        """Whether gateway `name` serves `model` (a name the model table resolves)."""
        if name in self.declared:
            listed = self.declared[name]
        elif name in self.runtime:
            listed = self.runtime[name]
        else:
            return False
        if listed is None or model in listed:
            return True
        return any(fnmatch.fnmatchcase(model, p) for p in listed if any(c in p for c in "*?["))


def build_layers(config: Config, state: State, directory: Directory, version: int) -> Layers:
    assigned = {
        g: {m: state.configs[c].assigned() for m, c in held.items() if c in state.configs}
        for g, held in state.assignments.items()
    }
    return Layers(config.cache, directory.settings, assigned, version)
