"""The price table: US dollars per million tokens, per model.

The packaged `prices.yaml` (dated, with its sources) is the default; the configuration's `prices:`
section overrides or adds models. `PriceTable.get(model)` matches a name exactly, then without a
date suffix (`-2024-08-06`, `-20250514`) or `-latest`, then by the longest listed name it starts
with at a `-` boundary (`gpt-4o-mini-search` -> `gpt-4o-mini`), and remembers the answer, so a
lookup on the hot path is one dict read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from typing import Any, NamedTuple

import yaml

_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")
_REMEMBERED = 4096  # distinct model names remembered (names may come from glob routes)


class Price(NamedTuple):
    """Dollars per million tokens. `cached_input` defaults to `input` and the cache writes to
    `input` (OpenAI bills a cache write as plain input)."""

    input: float
    cached_input: float
    cache_write: float
    cache_write_1h: float
    output: float


def price_of(fields: Mapping[str, Any]) -> Price:
    """A `Price` from a mapping with `input` and optional `cached_input`, `cache_write`,
    `cache_write_1h`, `output` (ValueError on a missing input, a negative or non-numeric value)."""
    unknown = set(fields) - {"input", "cached_input", "cache_write", "cache_write_1h", "output"}
    if unknown:
        raise ValueError(f"unknown price field(s): {', '.join(sorted(unknown))}")
    values: dict[str, float] = {}
    for name, value in fields.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number of dollars per million tokens")
        values[name] = float(value)
    if "input" not in values:
        raise ValueError("input is required")
    inp = values["input"]
    write = values.get("cache_write", inp)
    return Price(inp, values.get("cached_input", inp), write, values.get("cache_write_1h", write),
                 values.get("output", 0.0))


def load_prices() -> tuple[str, dict[str, Price]]:
    """(checked date, model -> price) of the packaged table."""
    text = resources.files("warmgate.accounting").joinpath("prices.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return str(data["checked"]), {name: price_of(fields) for name, fields in data["models"].items()}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price], checked: str = ""):
        self.prices = dict(prices)
        self.checked = checked
        self._by_length = sorted(self.prices, key=len, reverse=True)
        self._memo: dict[str, Price | None] = {}

    @classmethod
    def default(cls, overrides: Mapping[str, Price] | None = None) -> PriceTable:
        checked, prices = load_prices()
        return cls({**prices, **(overrides or {})}, checked)

    def get(self, model: str | None) -> Price | None:
        """The price of `model`, or None when it is not in the table (its cost counts as 0)."""
        if model is None:
            return None
        try:
            return self._memo[model]
        except KeyError:
            pass
        found = self._match(model)
        if len(self._memo) >= _REMEMBERED:
            self._memo.clear()
        self._memo[model] = found
        return found

    def _match(self, model: str) -> Price | None:
        name = model.rsplit("/", 1)[-1]  # "openai/gpt-4o" style prefixes
        for candidate in (name, _SUFFIX.sub("", name)):
            if candidate in self.prices:
                return self.prices[candidate]
        for known in self._by_length:
            if name.startswith(known + "-"):
                return self.prices[known]
        return None
