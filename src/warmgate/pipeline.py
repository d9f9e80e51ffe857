"""One request's way through the gateway: resolve the model, (cache), route to an account of the
provider's pool, call it, and hand back a `Reply` for the edge to send."""

from __future__ import annotations

import orjson

from warmgate.config import Config
from warmgate.errors import NotFound
from warmgate.exchange import Reply, Request
from warmgate.routing.models import ModelTable, Resolved
from warmgate.routing.router import Router
from warmgate.upstream.client import Upstream


class Pipeline:
    def __init__(self, config: Config, upstream: Upstream):
        self.config = config
        self.models = ModelTable(config)
        self.router = Router(config, upstream)
        self._fallback = config.fallback_provider()

    def resolve(self, req: Request) -> Resolved:
        model = req.facts.model
        resolved = self.models.resolve(model) if model is not None else None
        if resolved is not None:
            return resolved
        if req.endpoint.known:
            raise NotFound(
                f"The model `{model}` does not exist or is not served by this gateway",
                param="model",
                code="model_not_found",
            )
        return Resolved(self._fallback, None)

    async def handle(self, req: Request) -> Reply:
        resolved = self.resolve(req)
        body = req.body
        if resolved.upstream_model is not None and req.json is not None:
            body = orjson.dumps({**req.json, "model": resolved.upstream_model})
        return await self.router.call(req, resolved, body)

    def ready(self) -> bool:
        return self.router.ready()
