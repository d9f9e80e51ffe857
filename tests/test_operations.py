"""Health, readiness, graceful shutdown and several workers, on real processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Clients, GatewayFactory
from tests.http import request
from tests.servers import Sim, sim_provider

MSGS = [{"role": "user", "content": "tell me a long story"}]


def test_health_and_ready(clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url)], "models": {"m": "sim"}})
    assert request("GET", gw.url + "/healthz").json() == {"status": "ok"}
    assert request("GET", gw.url + "/readyz").json() == {"status": "ready"}


def test_sigterm_lets_a_running_stream_finish(sdk: Clients, clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({
        "server": {"host": "127.0.0.1", "port": 0, "shutdown_grace": 10},
        "providers": [sim_provider(clean_sim.url)],
        "models": {"m": "sim"},
    })
    client = sdk.openai(gw.url, "x")
    stream = client.chat.completions.create(
        model="m", messages=MSGS, max_tokens=40, stream=True,  # type: ignore[arg-type]
        extra_headers={"x-sim-per-token-ms": "25"},
    )
    first = next(iter(stream))  # the stream is running (40 tokens x 25 ms = ~1 s)
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(OSError):  # no longer accepting
        request("GET", gw.url + "/healthz", timeout=2)
    rest = list(stream)
    assert first.choices and rest[-1].choices[0].finish_reason in ("length", "stop")
    assert gw.proc.wait(10) == 0


def test_sigterm_grace_period_bounds_the_wait(clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({
        "server": {"host": "127.0.0.1", "port": 0, "shutdown_grace": 1},
        "providers": [sim_provider(clean_sim.url)],
        "models": {"m": "sim"},
    })
    clean_sim.fault(account="*", mode="stall")
    outcome: list[object] = []

    def stuck_call() -> None:
        try:
            outcome.append(request("POST", gw.url + "/v1/chat/completions", json={"model": "m", "messages": MSGS}).status)
        except OSError as e:
            outcome.append(e)

    t = threading.Thread(target=stuck_call, daemon=True)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    gw.proc.wait(10)
    assert time.monotonic() - t0 < 5
    t.join(5)
    assert outcome == [503]  # the stuck call was told, in its wire format, that the gateway is going away


def test_several_workers_share_the_port(sdk: Clients, clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url)], "models": {"m": "sim"}}, "--workers", "2")
    client = sdk.openai(gw.url, "x")
    for _ in range(6):
        assert client.chat.completions.create(model="m", messages=MSGS).choices  # type: ignore[arg-type]
    assert "own response cache" not in gw.stderr_text()  # no cache configured: nothing to warn of
    assert gw.stop() == 0


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _account(sim: Sim, key: str) -> dict[str, Any]:
    return next(a for a in sim.stats()["accounts"].values() if a["key"] == key)


def test_client_disconnect_cancels_the_upstream_call(clean_sim: Sim, gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url, keys=("sk-dc",))], "models": {"m": "sim"}})
    host, port = gw.url.removeprefix("http://").split(":")
    body = orjson.dumps({"model": "m", "messages": MSGS, "stream": True})
    # a stream of 200 tokens at 50 ms each (10 s): read its first bytes, then hang up
    conn = socket.create_connection((host, int(port)))
    conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 b"x-sim-output-tokens: 200\r\nx-sim-per-token-ms: 50\r\n"
                 b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    conn.close()
    assert _wait_for(lambda: _account(clean_sim, "sk-dc")["cancelled"] == 1), _account(clean_sim, "sk-dc")
    # a plain call waiting 10 s for its answer: the client gives up after 0.3 s
    body = orjson.dumps({"model": "m", "messages": MSGS})
    with pytest.raises(OSError):
        request("POST", gw.url + "/v1/chat/completions", body=body, timeout=0.3,
                headers={"content-type": "application/json", "x-sim-ttft-ms": "10000"})
    assert _wait_for(lambda: _account(clean_sim, "sk-dc")["cancelled"] == 2), _account(clean_sim, "sk-dc")
    assert _account(clean_sim, "sk-dc")["in_flight"] == 0


def test_a_model_that_cannot_be_loaded_stops_startup_with_a_clear_message(tmp_path: Path) -> None:
    """No traceback, no half-started gateway: one line naming the problem, and a non-zero exit."""
    config = tmp_path / "bad.yaml"
    config.write_text(
        "server: {host: 127.0.0.1, port: 0}\n"
        "providers:\n"
        "  - {name: sim, api: openai, base_url: 'http://127.0.0.1:9/v1', accounts: [{name: a1, api_key: sk-x}]}\n"
        "models: {gpt-sim: sim}\n"
        f"semantic: {{mode: both, embedder: {{kind: offline, model_path: '{config}'}}}}\n"
    )
    done = subprocess.run([sys.executable, "-m", "warmgate", "serve", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "warmgate cannot start: cannot read the weights of" in done.stderr
    assert "Traceback" not in done.stderr and "Unclosed client session" not in done.stderr


@pytest.mark.parametrize("enabled", [True, False])
def test_server_access_log_has_a_line_per_response(clean_sim: Sim, gateway_factory: GatewayFactory,
                                                   enabled: bool) -> None:
    """`server.access_log` (uvicorn's plain-text log) covers the replies the gateway's protocol writes
    itself too: a whole reply, a stream's head, a hit answered without a task."""
    gw = gateway_factory({
        "server": {"host": "127.0.0.1", "port": 0, "access_log": enabled},
        "providers": [sim_provider(clean_sim.url)],
        "models": {"gpt-sim": "sim"},
        "cache": {"enabled": True},
    })
    chat = {"model": "gpt-sim", "messages": [{"role": "user", "content": "access log"}]}
    miss = request("POST", gw.url + "/v1/chat/completions", json=chat)
    hit = request("POST", gw.url + "/v1/chat/completions", json=chat)
    assert (miss.headers["x-warmgate-cache"], hit.headers["x-warmgate-cache"]) == ("MISS", "HIT")
    stream = request("POST", gw.url + "/v1/chat/completions", json={**chat, "stream": True, "max_tokens": 5})
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    assert request("GET", gw.url + "/healthz").status == 200
    expected = ['"POST /v1/chat/completions HTTP/1.1" 200'] * 3 + ['"GET /healthz HTTP/1.1" 200']
    deadline = time.monotonic() + 5
    while True:
        lines = [ln.split(" - ", 1)[1] for ln in gw.stderr_text().splitlines() if "uvicorn.access" in ln]
        if lines == (expected if enabled else []) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lines == (expected if enabled else [])


def _metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` in Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


def test_metrics_add_up_across_workers(clean_sim: Sim, gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    """A scrape reaches one worker; it answers every worker's counts, summed (a scrape that showed
    only its own worker's would jump from one worker's counts to the other's)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    gw = gateway_factory({"providers": [sim_provider(clean_sim.url)], "models": {"m": "sim"},
                          "cache": {"enabled": True}}, "--workers", "2", env={"TMPDIR": str(tmp)})
    url = gw.url + "/v1/chat/completions"
    workers: set[str] = set()
    sent = 0

    def send(i: int) -> None:
        r = request("POST", url, json={"model": "m", "messages": [{"role": "user", "content": f"q {i}"}]}).ok()
        workers.add(r.headers["x-warmgate-request-id"][:16])  # each worker's ids share a random prefix

    while len(workers) < 2 and sent < 400:  # new connections, several at once, until both workers answered
        threads = [threading.Thread(target=send, args=(sent + i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sent += len(threads)
    assert len(workers) == 2, "the kernel never handed a connection to the second worker"
    assert "each worker keeps its own response cache (up to 256 MiB each, 512 MiB in all)" in gw.stderr_text()

    def scrape() -> str:
        return request("GET", gw.url + "/metrics").ok().body.decode()

    def adds_up() -> bool:
        text = scrape()
        return (_metric(text, "warmgate_requests_total") == sent
                and _metric(text, "warmgate_cache_requests_total", result="miss") == sent
                and _metric(text, "warmgate_upstream_requests_total", outcome="ok") == sent)

    assert _wait_for(adds_up), scrape()
    for _ in range(10):  # every later scrape, whichever worker answers it, says the same
        assert adds_up()
    text = scrape()
    assert _metric(text, "warmgate_request_seconds_count") == sent  # histograms add up too
    assert _metric(text, "warmgate_account_healthy", account="acct-1") == 1.0  # healthy in both: still 1

    def stats_add_up() -> bool:  # the dashboard's summary too (`/admin/stats`, `warmgate stats`)
        s = request("GET", gw.url + "/admin/stats").ok().json()
        return (s["totals"]["requests"] == sent and sum(p["requests"] for p in s["series"]) == sent
                and s["top_models"][0]["requests"] == sent and s["accounts"][0]["calls"] == sent
                and s["accounts"][0]["healthy"] is True)

    for _ in range(10):
        assert stats_add_up(), request("GET", gw.url + "/admin/stats").json()
    published = [p.name for p in tmp.glob("warmgate-metrics-*/*")]
    assert sorted(published) == ["0.json", "1.json"], published
    assert gw.stop() == 0
    assert not list(tmp.iterdir())  # the supervisor removed the workers' metrics
