"""Client-facing model names -> the provider (and upstream model name) that serves them. Pure.

Names are matched exactly first, then as shell-style patterns (`claude-*`) in file order.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from warmgate.config import Config, Provider


@dataclass(frozen=True, slots=True)
class Resolved:
    provider: Provider
    upstream_model: str | None  # None: the client's name is sent unchanged


class ModelTable:
    def __init__(self, config: Config):
        self._exact: dict[str, Resolved] = {}
        self._patterns: list[tuple[str, Resolved]] = []
        for name, route in config.models.items():
            r = Resolved(config.provider(route.provider), route.upstream_model if route.upstream_model != name else None)
            if any(c in name for c in "*?["):
                self._patterns.append((name, r))
            else:
                self._exact[name] = r
        self.names = [n for n in config.models if n not in dict(self._patterns)]

    def resolve(self, model: str) -> Resolved | None:
        r = self._exact.get(model)
        if r is not None:
            return r
        for pattern, r in self._patterns:
            if fnmatch.fnmatchcase(model, pattern):
                return r
        return None
