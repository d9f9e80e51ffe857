"""The YAML configuration: typed, validated once, frozen.

`config_file.load_config(path)` reads a file into the frozen `Config` defined here (interpolation,
error locations: see that module).

Unknown keys are rejected everywhere, so a typo never silently turns a feature off. Sections that
later features add (cache, routing, ...) slot in as new optional fields of `Config`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from warmgate.embeddings.config import EmbedderConfig, OfflineEmbedderConfig
from warmgate.vectors.config import VectorIndexConfig

CONFIG_ENV_VAR = "WARMGATE_CONFIG"
DEFAULT_TENANT = "default"
DEFAULT_GATEWAY = "default"  # the gateway served at /v1/... (others at /g/<name>/v1/...)
GATEWAY_NAME = r"^[a-z0-9][a-z0-9-]{0,49}$"

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Model):
    """Upstream timeouts in seconds. `read` bounds the wait for response headers and for each
    later chunk of the body (so a long stream that keeps producing is never cut)."""

    connect: float = Field(default=5.0, gt=0)
    read: float = Field(default=600.0, gt=0)


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    header_timeout: float = Field(default=10.0, gt=0, description="seconds to receive the request head")
    body_timeout: float = Field(default=60.0, gt=0, description="seconds to receive the whole body")
    keepalive_timeout: float = Field(default=5.0, gt=0)
    shutdown_grace: float = Field(default=30.0, ge=0)
    expose_account_header: bool = True
    access_log: bool = False


class GatewayKey(_Model):
    key: SecretStr
    tenant: str = Field(pattern=_NAME)


class Account(_Model):
    name: str = Field(pattern=_NAME)
    api_key: SecretStr
    base_url: str | None = None
    timeouts: Timeouts | None = None
    weight: float = Field(default=1.0, gt=0, description="share of affinity keys placed on this account")

    @field_validator("api_key")
    @classmethod
    def _non_empty(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value():
            raise ValueError("api_key is empty (is its environment variable set?)")
        return v


class Cooldowns(_Model):
    """Seconds an account is avoided after a failure (while another account of the pool is healthy)."""

    rate_limited: float = Field(default=5.0, ge=0, description="after a 429 without retry-after")
    server_error: float = Field(default=2.0, ge=0, description="after a 5xx")
    unreachable: float = Field(default=5.0, ge=0, description="after a connection failure or timeout")


class Provider(_Model):
    name: str = Field(pattern=_NAME)
    api: Literal["openai", "anthropic"]
    base_url: str = Field(description="the URL that a client's /v1 maps to, e.g. https://api.openai.com/v1")
    accounts: tuple[Account, ...] = Field(min_length=1)
    timeouts: Timeouts = Timeouts()
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers sent upstream")
    retry_attempts: int = Field(default=2, ge=1, le=16, description="accounts tried per request at most")
    cooldowns: Cooldowns = Cooldowns()
    stream_usage: bool = Field(
        default=True,
        description="ask for usage in streamed chat completions (stream_options.include_usage) and take the "
        "usage chunk out for clients that did not ask; off for OpenAI-compatible servers that refuse the option",
    )
    cache_ttl: float = Field(
        default=300, gt=0,
        description="seconds the provider keeps an idle prompt-cache entry (OpenAI, Anthropic: 5 min); "
        "affinity moves a conversation back to its first-choice account only once this has passed",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("base_url must be an http:// or https:// URL")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _unique_accounts(self) -> Provider:
        names = [a.name for a in self.accounts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate account names: {', '.join(dupes)}")
        return self

    def account_timeouts(self, account: Account) -> Timeouts:
        return account.timeouts or self.timeouts

    def account_base_url(self, account: Account) -> str:
        return (account.base_url or self.base_url).rstrip("/")


class ModelRoute(_Model):
    provider: str
    upstream_model: str | None = None


class CacheSettings(_Model):
    """Response-cache settings that a model may override (None = inherit from the global `cache:`)."""

    enabled: bool | None = None
    ttl: float | None = Field(default=None, gt=0, description="seconds an entry is fresh")
    stale: float | None = Field(default=None, ge=0, description="seconds an expired entry may still be served")
    bucket_size: int | None = Field(default=None, ge=1, le=64)
    namespace: str | None = None


class MemoryStoreConfig(_Model):
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)


class SqliteStoreConfig(_Model):
    path: str = "warmgate-cache.sqlite3"


class RedisStoreConfig(_Model):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "wg:"


class CacheConfig(_Model):
    """The global `cache:` section: defaults, the store, and per-model overrides."""

    enabled: bool = False
    ttl: float = Field(default=3600, gt=0)
    max_ttl: float = Field(default=172_800, gt=0, description="no entry lives longer, whatever a request asks")
    stale: float = Field(default=0, ge=0)
    bucket_size: int = Field(default=1, ge=1, le=64)
    namespace: str = ""
    store: Literal["memory", "sqlite", "redis"] = "memory"
    memory: MemoryStoreConfig = MemoryStoreConfig()
    sqlite: SqliteStoreConfig = SqliteStoreConfig()
    redis: RedisStoreConfig = RedisStoreConfig()
    store_timeout: float = Field(default=0.05, gt=0, description="seconds a store call may take before it counts as failed")
    breaker_failures: int = Field(default=5, ge=1, description="consecutive store failures that open the circuit")
    breaker_reset: float = Field(default=5.0, gt=0, description="seconds before an open circuit is tried again")
    coalesce_timeout: float = Field(default=30.0, gt=0, description="seconds a waiter waits for an identical miss")
    max_entry_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    shared_namespaces: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="namespace -> tenants that share its entries"
    )
    models: dict[str, CacheSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _bounds(self) -> CacheConfig:
        if self.ttl > self.max_ttl:
            raise ValueError(f"ttl ({self.ttl:g}) is above max_ttl ({self.max_ttl:g})")
        for model, o in self.models.items():
            if o.ttl is not None and o.ttl > self.max_ttl:
                raise ValueError(f"models.{model}.ttl ({o.ttl:g}) is above max_ttl ({self.max_ttl:g})")
        return self


SemanticMode = Literal["exact", "semantic", "both"]


class SemanticSettings(_Model):
    """Semantic-cache settings that a model may override (None = inherit from the global `semantic:`)."""

    mode: SemanticMode | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class SemanticConfig(_Model):
    """The global `semantic:` section (docs/semantic.md). `exact` = no semantic lookups; `semantic` and
    `both` both run the exact lookup first (it is the fast way to find the very same text) and then
    compare by meaning within the request's partition."""

    mode: SemanticMode = "exact"
    threshold: float = Field(default=0.85, ge=0.0, le=1.0, description="cosine similarity needed; higher = stricter")
    tool_calls: Literal["skip", "serve"] = Field(
        default="skip", description="skip: answers that call tools are never served by meaning (only exactly)"
    )
    nondeterministic: Literal["serve", "skip"] = Field(
        default="serve", description="skip: requests sampled at temperature > 0 (or default) get no semantic lookup"
    )
    guard: bool = Field(default=True, description="refuse matches whose texts differ in numbers, negation, names...")
    candidates: int = Field(default=4, ge=1, le=64, description="nearest items checked per lookup")
    timeout: float = Field(default=0.25, gt=0, description="seconds for embedding + search; slower = plain miss")
    max_text_chars: int = Field(default=1000, ge=1, description="longer last turns are compared exactly only")
    embedder: EmbedderConfig = OfflineEmbedderConfig()
    index: VectorIndexConfig = VectorIndexConfig()
    models: dict[str, SemanticSettings] = Field(default_factory=dict)

class GatewayConfig(_Model):
    """A named group of models with its own cache settings, served at `/g/<name>/v1/...`.

    `models` names entries of the top-level `models:` (None = all of them); `cache` overrides the
    global `cache:` defaults for this gateway (a caching configuration assigned to a model of the
    gateway overrides these in turn; see `cache.policy`)."""

    models: tuple[str, ...] | None = None
    cache: CacheSettings = CacheSettings()


class ManagementStoreSqlite(_Model):
    path: str = Field(default="warmgate-admin.sqlite3", description="unless set, beside the configuration file")


class ManagementStoreRedis(_Model):
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "wg:admin:"


class ManagementConfig(_Model):
    """Where caching configurations, run-time gateways and their assignments are kept.

    `sqlite` (default) survives restarts and is shared by the workers of one machine; `redis` is
    shared by every gateway instance that points at it. Each instance re-reads the store within
    `poll_interval` seconds of a change made elsewhere (its own changes apply at once)."""

    store: Literal["sqlite", "redis"] = "sqlite"
    sqlite: ManagementStoreSqlite = ManagementStoreSqlite()
    redis: ManagementStoreRedis = ManagementStoreRedis()
    poll_interval: float = Field(default=1.0, gt=0, le=60)


class RoutingConfig(_Model):
    """How a request picks an account of its provider's pool."""

    strategy: Literal["affinity", "round_robin", "random", "least_loaded"] = "least_loaded"
    binding_ttl: float = Field(default=300, gt=0, description="seconds a conversation stays bound to its account")
    response_binding_ttl: float = Field(
        default=300, gt=0, description="seconds X-Response-Id / X-Request-Id route to the account that served them"
    )
    stored_response_ttl: float = Field(
        default=30 * 86400, gt=0, description="seconds previous_response_id routes to the account that stored it"
    )
    load_bound: float = Field(
        default=1.0, ge=1.0,
        description="a conversation is placed on no account whose load (requests in flight + its warm "
        "conversations and recent requests, see routing.pool) is above this times the mean; 1.0 lets a "
        "conversation spill from its first-choice account as soon as that one is busier than the mean. "
        "Warm conversations then stay, so whole-run load ends somewhat above it",
    )
    min_prefix_tokens: int = Field(default=1024, ge=0, description="shorter prompts get no prefix affinity")
    bindings: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout: float = Field(
        default=0.05, gt=0, description="seconds a Redis binding call may take before it reads as 'no binding'"
    )


class PriceConfig(_Model):
    """US dollars per million tokens (see `accounting/prices.yaml` for the defaults)."""

    input: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0, description="default: input")
    cache_write: float | None = Field(default=None, ge=0, description="5-minute cache write; default: input")
    cache_write_1h: float | None = Field(default=None, ge=0, description="1-hour cache write; default: cache_write")
    output: float = Field(default=0.0, ge=0)


class AccessLogConfig(_Model):
    """One JSON line per request (see docs/observability.md)."""

    enabled: bool = False
    path: str = Field(default="-", description="a file to append to; - = standard error")
    debug_bodies: bool = Field(default=False, description="also log request bodies (prompts!): debugging only")


class ObservabilityConfig(_Model):
    access_log: AccessLogConfig = AccessLogConfig()
    interval: float = Field(default=10.0, ge=0.1, le=3600, description="seconds per dashboard time-series point")
    points: int = Field(default=360, ge=2, le=100_000, description="time-series points kept")
    label_limit: int = Field(default=200, ge=1, description="distinct values per metric label before 'other'")


class Config(_Model):
    server: ServerConfig = ServerConfig()
    keys: tuple[GatewayKey, ...] | None = None
    providers: tuple[Provider, ...] = Field(min_length=1)
    models: dict[str, ModelRoute] = Field(default_factory=dict)
    default_provider: str | None = Field(
        default=None, description="provider for /v1/... requests that name no known model"
    )
    admin_key: SecretStr | None = Field(default=None, description="key of the management API (never a gateway key)")
    cache: CacheConfig = CacheConfig()
    routing: RoutingConfig = RoutingConfig()
    semantic: SemanticConfig = SemanticConfig()

    prices: dict[str, PriceConfig] = Field(default_factory=dict, description="per-model price overrides")
    observability: ObservabilityConfig = ObservabilityConfig()
    gateways: dict[str, GatewayConfig] = Field(default_factory=dict)
    management: ManagementConfig = ManagementConfig()

    @field_validator("models", mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: ({"provider": r} if isinstance(r, str) else r) for k, r in v.items()}
        return v

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [p.name for p in self.providers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate provider names: {', '.join(dupes)}")
        for model, route in self.models.items():
            if route.provider not in names:
                raise ValueError(f"models.{model}: unknown provider {route.provider!r} (have: {', '.join(names)})")
        if self.default_provider is not None and self.default_provider not in names:
            raise ValueError(f"default_provider: unknown provider {self.default_provider!r}")
        if self.keys is not None:
            keys = [k.key.get_secret_value() for k in self.keys]
            if len(set(keys)) != len(keys):
                raise ValueError("keys: the same gateway key is listed twice")
        return self

    @model_validator(mode="after")
    def _gateway_models(self) -> Config:
        for name, gw in self.gateways.items():
            if not re.match(GATEWAY_NAME, name):
                raise ValueError(f"gateways.{name}: a gateway name is lowercase letters, digits and '-' (up to 50)")
            if gw.cache.ttl is not None and gw.cache.ttl > self.cache.max_ttl:
                raise ValueError(f"gateways.{name}.cache.ttl is above cache.max_ttl")
            if gw.models is None:
                continue
            if name == DEFAULT_GATEWAY:
                raise ValueError("gateways.default serves every model: it takes no `models` list")
            for model in gw.models:
                if model not in self.models:
                    raise ValueError(f"gateways.{name}.models: {model!r} is not under `models:`")
        return self

    def provider(self, name: str) -> Provider:
        for p in self.providers:
            if p.name == name:
                return p
        raise KeyError(name)

    def fallback_provider(self) -> Provider:
        """The provider for passthrough requests without a known model: `default_provider`, else the
        first provider with the OpenAI wire format, else the first provider."""
        if self.default_provider is not None:
            return self.provider(self.default_provider)
        return next((p for p in self.providers if p.api == "openai"), self.providers[0])
