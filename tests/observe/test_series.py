"""The dashboard's time series (snapshots of cumulative totals, clock injected), bounded label
values, the buffered access log, and the observer's label bounds."""

from __future__ import annotations

from pathlib import Path

import orjson

from warmgate.metrics import Metrics
from warmgate.observe.access_log import AccessLog
from warmgate.observe.labels import OTHER, BoundedLabel
from warmgate.observe.series import FIELDS, INDEX, Series, Snapshot


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_series_stores_per_interval_differences_and_idle_gaps() -> None:
    totals = [0.0] * len(FIELDS)
    accounts: dict[str, tuple[float, float]] = {}

    def snapshot() -> Snapshot:
        return list(totals), dict(accounts)

    clock = Clock(1000.0)
    s = Series(10.0, 5, snapshot, clock)
    totals[INDEX["requests"]] = 3
    accounts["openai/a1"] = (100.0, 40.0)
    clock.t = 1012.0  # the first interval [1000, 1010) ends
    s.tick()
    totals[INDEX["requests"]] = 5
    clock.t = 1045.0  # [1010, 1020) had 2 requests; [1020, 1030) and [1030, 1040) were idle
    s.tick()
    points = s.as_json()
    assert [p["t"] for p in points] == [1000, 1010, 1020, 1030, 1040]
    assert [p["requests"] for p in points] == [3, 2, 0, 0, 0]
    assert points[0]["accounts"] == {"openai/a1": {"prompt": 100.0, "cached": 40.0}}
    assert points[1]["accounts"] == {}
    clock.t = 1200.0  # a long pause keeps at most `points` of history
    s.tick()
    assert len(s.done) == 5 and s.start == 1200.0


def test_bounded_label_overflows_to_other() -> None:
    label = BoundedLabel(2)
    assert [label(v) for v in ("a", "b", "c", "a", "d")] == ["a", "b", OTHER, "a", OTHER]


def test_access_log_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = AccessLog(str(path))
    log.write({"request_id": "r1", "cost_usd": 0.5})  # no running loop: written at once
    log.write({"request_id": "r2"})
    log.close()
    assert [orjson.loads(line)["request_id"] for line in path.read_bytes().splitlines()] == ["r1", "r2"]


def test_metric_names_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    metrics = Metrics()
    names = [m.name for m in vars(metrics).values() if hasattr(m, "name")]
    assert len(names) > 15
    missing = [n for n in names if f"`{n}`" not in doc]
    assert not missing, f"undocumented metrics: {missing}"


def test_observer_logs_bodies_only_when_asked_and_bounds_labels(tmp_path: Path) -> None:
    import time

    from warmgate.accounting.prices import PriceTable
    from warmgate.cache.entry import CachedAnswer
    from warmgate.dialects import endpoint_for
    from warmgate.dialects.usage import Usage
    from warmgate.exchange import Reply, Request
    from warmgate.observe.recorder import Observer

    endpoint = endpoint_for("POST", "/v1/chat/completions")
    for debug in (False, True):
        path = tmp_path / f"log-{debug}.jsonl"
        metrics = Metrics()
        obs = Observer(metrics, PriceTable.default(), 10.0, 10, AccessLog(str(path)), label_limit=2, debug_bodies=debug)
        for i in range(4):
            body = {"model": f"gpt-4o-{i}", "messages": [{"role": "user", "content": "secret prompt"}]}
            req = Request("POST", "/v1/chat/completions", b"", [], orjson.dumps(body), body, endpoint,
                          endpoint.facts(body), "t", f"r{i}", started=time.perf_counter())
            answer = CachedAnswer(200, b"{}", None, 500.0, 3, Usage(1, 0, 0, 2))
            obs.done(req, Reply(200, [], b"{}", cache="hit", hit_kind="exact", saved=answer, model="gpt-4o"))
        obs.close()
        lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        assert len(lines) == 4 and all(x["cache"] == "hit" and x["saved_usd"] > 0 for x in lines)
        assert ("secret prompt" in path.read_text()) is debug
        text = metrics.render().decode()
        assert 'model="gpt-4o-0"' in text and 'model="gpt-4o-1"' in text and 'model="gpt-4o-2"' not in text
        assert 'warmgate_requests_total{tenant="t",gateway="default",model="other",cache="hit"} 2' in text
