"""One request's way through the gateway: resolve the model, answer from the response cache when it
can, else route to an account of the provider's pool and call it; hand back a `Reply` for the edge.

    edge -> Pipeline.handle -> CacheFlow (controls, policy, key, lookup, coalesce, record, store)
                            -> Router.call (account choice, retries, upstream client)
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from warmgate.cache.flow import CacheFlow
from warmgate.config import DEFAULT_GATEWAY, Config
from warmgate.dialects.chat_usage import UsageChunkFilter, ask_for_usage, wants_usage
from warmgate.errors import NotFound
from warmgate.exchange import Reply, Request
from warmgate.routing.models import ModelTable, Resolved
from warmgate.routing.router import Router


class Gateways(Protocol):
    """The gateways served (`manage.model.Directory`): swapped whole when they change."""

    def exists(self, name: str) -> bool: ...

    def serves(self, name: str, model: str) -> bool: ...

    def models(self, name: str) -> tuple[str, ...]: ...


class Pipeline:
    def __init__(self, config: Config, router: Router, cache: CacheFlow | None):
        self.config = config
        self.models = ModelTable(config)
        self.router = router
        self.cache = cache
        self.gateways: Gateways | None = None  # None: only the default gateway
        self._fallback = config.fallback_provider()

    def serves_gateway(self, name: str) -> bool:
        return name == DEFAULT_GATEWAY or (self.gateways is not None and self.gateways.exists(name))

    def gateway_models(self, name: str) -> tuple[str, ...] | None:
        """The model names gateway `name` serves (None: all)."""
        if name == DEFAULT_GATEWAY or self.gateways is None:
            return None
        return self.gateways.models(name)

    def resolve(self, req: Request) -> Resolved:
        model = req.facts.model
        resolved = self.models.resolve(model) if model is not None else None
        if resolved is not None:
            if req.gateway != DEFAULT_GATEWAY and self.gateways is not None and not self.gateways.serves(
                req.gateway, model  # type: ignore[arg-type]
            ):
                raise NotFound(
                    f"The model `{model}` is not served by gateway `{req.gateway}`",
                    param="model",
                    code="model_not_found",
                )
            return resolved
        if req.endpoint.known:
            raise NotFound(
                f"The model `{model}` does not exist or is not served by this gateway",
                param="model",
                code="model_not_found",
            )
        return Resolved(self._fallback, None)

    def answer_now(self, req: Request) -> Reply | None:
        """A cache hit that needs no I/O, or None (see `GatewayApp.answer_now`)."""
        model = req.facts.model
        if self.cache is None or model is None or not self.cache.applies(req):
            return None
        resolved = self.resolve(req)
        reply = self.cache.answer_now(req, model, resolved.upstream_model or model)
        if reply is not None:
            reply.model = resolved.upstream_model or model
        return reply

    async def handle(self, req: Request) -> Reply:
        resolved = self.resolve(req)
        model = req.facts.model
        ask = self._asks_usage(req, resolved)
        if self.cache is not None and model is not None and self.cache.applies(req):

            async def forward(body: dict[str, Any]) -> Reply:
                return await self._forward(req, resolved, body, ask)

            reply = await self.cache.handle(req, model, resolved.upstream_model or model, forward)
        else:
            reply = await self._forward(req, resolved, req.json, ask)
        if ask and reply.stream is not None and reply.status == 200:
            reply.stream = UsageChunkFilter(reply.stream)  # the client did not ask for the usage chunk
        reply.model = resolved.upstream_model or model
        return reply

    @staticmethod
    def _asks_usage(req: Request, resolved: Resolved) -> bool:
        """Whether the gateway asks the provider for a stream's usage the client did not ask for
        (`dialects.chat_usage`)."""
        return (
            req.endpoint.name == "chat.completions"
            and req.facts.stream
            and resolved.provider.api == "openai"
            and resolved.provider.stream_usage
            and req.json is not None
            and not wants_usage(req.json)
        )

    async def _forward(self, req: Request, resolved: Resolved, body: dict[str, Any] | None, ask: bool) -> Reply:
        """Send `body` (the parsed request body, possibly changed by the cache layer) upstream,
        re-serialized only when it changed or the model is renamed; `ask`: with the usage option."""
        unchanged = body is req.json
        if body is None:
            data = req.body
        elif ask and body.get("stream") is True:  # a background refresh forwards a plain body
            body, data = ask_for_usage(body, req.body if unchanged and resolved.upstream_model is None else None)
            if resolved.upstream_model is not None:
                data = orjson.dumps({**body, "model": resolved.upstream_model})
        elif resolved.upstream_model is not None:
            data = orjson.dumps({**body, "model": resolved.upstream_model})
        elif not unchanged:
            data = orjson.dumps(body)
        else:
            data = req.body
        return await self.router.call(req, resolved, data)

    def ready(self) -> bool:
        return self.router.ready()
