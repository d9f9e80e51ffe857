"""Metrics of several worker processes merged into one `/metrics` (`observe.workers`), in-process:
the merge rules of each kind of metric, and snapshots published to and read from a directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from tests.observe.test_series import Clock
from warmgate.metrics import Metrics
from warmgate.observe.series import FIELDS, INDEX, Series, Snapshot
from warmgate.observe.stats import _merged_series
from warmgate.observe.workers import WorkerMetrics


def _samples(text: bytes) -> dict[str, float]:
    return {line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
            for line in text.decode().splitlines() if line and not line.startswith("#")}


def _worker(hits: float, healthy: float, circuit: float, in_flight: float, latency: float) -> Metrics:
    m = Metrics()
    m.cache.inc(("t", "m", "hit"), hits)
    m.account_healthy.set(("p", "a"), healthy)
    m.store_circuit.set(("redis",), circuit)
    m.account_in_flight.set(("p", "a"), in_flight)
    m.request_latency.observe(("default", "hit"), latency)
    return m


def test_counters_and_histograms_add_up_and_gauges_merge_by_their_rule() -> None:
    mine = _worker(hits=2, healthy=1, circuit=0, in_flight=3, latency=0.002)
    other = _worker(hits=5, healthy=0, circuit=1, in_flight=4, latency=0.2)
    other.cache.inc(("t", "m", "miss"))
    snapshot = orjson.loads(orjson.dumps(other.snapshot()))  # as it travels between processes
    s = _samples(mine.render([snapshot]))
    assert s['warmgate_cache_requests_total{tenant="t",model="m",result="hit"}'] == 7
    assert s['warmgate_cache_requests_total{tenant="t",model="m",result="miss"}'] == 1  # only the other has it
    assert s['warmgate_account_in_flight{provider="p",account="a"}'] == 7  # sum
    assert s['warmgate_account_healthy{provider="p",account="a"}'] == 0  # cooling down in one worker
    assert s['warmgate_cache_store_circuit_open{store="redis"}'] == 1  # open in one worker
    assert s['warmgate_request_seconds_count{gateway="default",cache="hit"}'] == 2
    assert s['warmgate_request_seconds_bucket{gateway="default",cache="hit",le="0.0025"}'] == 1
    assert s['warmgate_request_seconds_bucket{gateway="default",cache="hit",le="0.25"}'] == 2
    assert abs(s['warmgate_request_seconds_sum{gateway="default",cache="hit"}'] - 0.202) < 1e-9
    # merging changed nothing in this process's own metrics
    assert _samples(mine.render())['warmgate_cache_requests_total{tenant="t",model="m",result="hit"}'] == 2


def test_workers_publish_and_a_scrape_reads_every_other_worker(tmp_path: Path) -> None:
    async def main() -> None:
        a, b = _worker(1, 1, 0, 0, 0.01), _worker(2, 1, 0, 0, 0.01)
        wa, wb = WorkerMetrics(tmp_path, "0", a, interval=0.01), WorkerMetrics(tmp_path, "1", b, interval=0.01)
        wa.start()
        wb.start()
        await asyncio.sleep(0.1)
        b.cache.inc(("t", "m", "hit"), 10)  # published within an interval
        await asyncio.sleep(0.1)
        assert sorted(p.name for p in tmp_path.glob("*.json")) == ["0.json", "1.json"]
        hits = 'warmgate_cache_requests_total{tenant="t",model="m",result="hit"}'
        assert _samples(await wa.render())[hits] == 13
        await wb.stop()  # a stopped worker's last counts stay in the sums
        b.cache.inc(("t", "m", "hit"), 100)  # (not published any more)
        assert _samples(await wa.render())[hits] == 13
        (tmp_path / "junk.json").write_bytes(b"{not json")  # unreadable files are skipped
        assert _samples(await wa.render())[hits] == 13
        await wa.stop()

    asyncio.run(main())


def test_series_of_two_workers_add_up_point_by_point() -> None:
    """Another worker's series travels as `Series.raw` (its closed points encoded once per interval)
    and is added to this worker's `as_json`, point by point."""
    clock = Clock(1000.0)

    def worker(requests: list[float], account: dict[str, tuple[float, float]]) -> Series:
        def totals() -> Snapshot:
            values = [0.0] * len(FIELDS)
            values[INDEX["requests"]] = requests[0]
            return values, dict(account)
        return Series(10.0, 5, totals, clock)

    mine_n, theirs_n = [0.0], [0.0]
    mine_acc: dict[str, tuple[float, float]] = {}
    theirs_acc: dict[str, tuple[float, float]] = {}
    mine, theirs = worker(mine_n, mine_acc), worker(theirs_n, theirs_acc)
    mine_n[0], theirs_n[0] = 1, 10
    theirs_acc["p/a"] = (50.0, 20.0)
    clock.t = 1012.0  # [1000, 1010) closes
    mine.tick()
    first = orjson.loads(orjson.dumps(theirs.raw()))  # as published: encodes the closed points
    mine_n[0], theirs_n[0] = 3, 30
    clock.t = 1025.0  # [1010, 1020) closes: a new encoding of the closed points
    merged = _merged_series(mine.as_json(), [orjson.loads(orjson.dumps(theirs.raw()))])
    assert [p["t"] for p in merged] == [1000, 1010, 1020]
    assert [p["requests"] for p in merged] == [11, 22, 0]
    assert merged[0]["accounts"] == {"p/a": {"prompt": 50.0, "cached": 20.0}}
    assert len(first["done"]) == 1 and first["current"][0] == 1010
