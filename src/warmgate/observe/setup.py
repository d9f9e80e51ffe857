"""The observer a configuration asks for (prices with overrides, time series, access log)."""

from __future__ import annotations

from warmgate.accounting.prices import Price, PriceTable
from warmgate.config import Config
from warmgate.metrics import Metrics
from warmgate.observe.access_log import AccessLog
from warmgate.observe.recorder import Observer


def price_overrides(config: Config) -> dict[str, Price]:
    out = {}
    for model, p in config.prices.items():
        write = p.cache_write if p.cache_write is not None else p.input
        out[model] = Price(
            p.input,
            p.cached_input if p.cached_input is not None else p.input,
            write,
            p.cache_write_1h if p.cache_write_1h is not None else write,
            p.output,
        )
    return out


def build_observer(config: Config, metrics: Metrics) -> Observer:
    obs = config.observability
    log_cfg = obs.access_log
    return Observer(
        metrics,
        PriceTable.default(price_overrides(config)),
        obs.interval,
        obs.points,
        AccessLog(log_cfg.path) if log_cfg.enabled else None,
        label_limit=obs.label_limit,
        debug_bodies=log_cfg.debug_bodies,
    )
