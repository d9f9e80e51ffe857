"""Running the gateway: uvicorn (uvloop + httptools) on a socket bound here, one or more workers.

- The socket is bound before the server starts, so `port: 0` works and the real address is known;
  once the gateway is ready a line `warmgate listening on http://HOST:PORT` goes to stdout.
- `workers > 1` forks that many processes sharing the one listening socket (Linux). Each worker
  has its own account pools, in-flight counts and cooldowns; state to share across workers lives in
  the shared stores (SQLite, Redis). Their metrics meet in a directory made here, so that
  `/metrics` and `/admin/stats` add up all workers (`observe.workers`).
- SIGTERM / SIGINT: stop accepting, let in-flight requests and streams finish within
  `server.shutdown_grace` seconds, then exit.
- The garbage collector is tuned for a server (see `tune_gc`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from warmgate.config import Config
from warmgate.server.app import GatewayApp
from warmgate.server.protocol import guarded_protocol

log = logging.getLogger("warmgate")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: GatewayApp, config: Config) -> uvicorn.Config:
    s = config.server
    protocol = guarded_protocol(
        s.header_timeout, s.body_timeout, 2 * s.max_header_bytes + 8192,
        answer_now=app.answer_now if config.cache.store == "memory" else None,
        body_cap=s.max_body_bytes,
    )
    return uvicorn.Config(
        app,
        loop="uvloop",
        http=protocol,
        lifespan="on",
        access_log=s.access_log,
        log_level="info" if s.access_log else "warning",
        timeout_keep_alive=int(max(1, s.keepalive_timeout)),
        timeout_graceful_shutdown=int(s.shutdown_grace),
        server_header=False,
        proxy_headers=False,
        log_config=None,
    )


def serve(config: Config, announce: bool = True) -> int:
    """Run the gateway until SIGTERM/SIGINT; returns the exit code."""
    sock = bind(config.server.host, config.server.port)
    if config.server.workers == 1:
        return _run_worker(config, sock, announce=announce, ready_fd=None)
    return _supervise(config, sock, announce)


GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Move everything alive once the server is ready out of the collector's sight (`gc.freeze`),
    and collect the youngest generation after 50 000 net allocations instead of 700. A request
    allocates a few hundred container objects (aiohttp's and uvicorn's included) and leaves almost
    no cycles, so the default thresholds run a collection every few requests for nothing.
    Measured with `bench/overhead/duel.py warmgate warmgate`: +12 % requests/s pass-through, +3 %
    for cache hits."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _run_worker(config: Config, sock: socket.socket, *, announce: bool, ready_fd: int | None,
                worker_metrics: tuple[Path, str] | None = None) -> int:
    server = uvicorn.Server(uvicorn_config(GatewayApp(config, worker_metrics), config))
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; with these
    # no-op handlers in place that ends the process normally (exit code 0) instead of killing it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)

    async def main() -> None:
        async def tell_when_started() -> None:
            while not server.started and not server.should_exit:
                await asyncio.sleep(0.01)
            if server.started:
                tune_gc()
                if announce:
                    print(f"warmgate listening on {url_of(sock)}", flush=True)
                if ready_fd is not None:
                    os.write(ready_fd, b"1")
                    os.close(ready_fd)

        teller = asyncio.ensure_future(tell_when_started())
        await server.serve(sockets=[sock])
        teller.cancel()

    import uvloop

    uvloop.run(main())
    return 0 if server.started else 1


def _per_worker_cache(config: Config) -> str | None:
    """What an operator should know when the configured response cache is per worker, else None."""
    cache, n = config.cache, config.server.workers
    if cache.store != "memory" or not (cache.enabled or any(m.enabled for m in cache.models.values())):
        return None
    each = cache.memory.max_bytes / (1 << 20)
    return (f"{n} workers with cache.store memory: each worker keeps its own response cache (up to {each:g} MiB "
            f"each, {n * each:g} MiB in all), and a request misses what another worker stored; "
            "cache.store sqlite or redis gives them one cache")


def _supervise(config: Config, sock: socket.socket, announce: bool) -> int:
    """Fork `workers` processes on the shared socket, relay SIGTERM/SIGINT to them, wait for all."""
    n = config.server.workers
    if (note := _per_worker_cache(config)) is not None:
        log.warning("%s", note)
    read_fd, write_fd = os.pipe()
    children: list[int] = []
    try:  # the workers' metrics (observe.workers)
        metrics_dir: Path | None = Path(tempfile.mkdtemp(prefix="warmgate-metrics-"))
    except OSError as e:
        log.warning("no temporary directory for the workers' metrics (%s): /metrics and /admin/stats will show "
                    "the worker that answers", e)
        metrics_dir = None
    for i in range(n):
        pid = os.fork()
        if pid == 0:  # child
            os.close(read_fd)
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            code = 1
            try:
                code = _run_worker(config, sock, announce=False, ready_fd=write_fd,
                                   worker_metrics=None if metrics_dir is None else (metrics_dir, str(i)))
            finally:
                os._exit(code)
        children.append(pid)
    os.close(write_fd)
    url = url_of(sock)
    sock.close()

    def relay(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, relay)
    signal.signal(signal.SIGINT, relay)
    ready = 0
    while ready < n:
        data = os.read(read_fd, n)
        if not data:
            break
        ready += len(data)
    os.close(read_fd)
    if ready == n and announce:
        print(f"warmgate listening on {url} ({n} workers)", flush=True)
    worst = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status))
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0 if ready == n and worst == 0 else 1


class _InProcessServer(uvicorn.Server):
    """A uvicorn server that leaves the host process's signal handling alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningGateway:
    url: str
    app: GatewayApp
    server: uvicorn.Server


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[RunningGateway]:
    """The gateway served inside the current event loop (for the demo and in-process use)."""
    sock = bind(config.server.host, config.server.port)
    app = GatewayApp(config)
    server = _InProcessServer(uvicorn_config(app, config))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the gateway did not start")
        await asyncio.sleep(0.01)
    try:
        yield RunningGateway(url_of(sock), app, server)
    finally:
        server.should_exit = True
        await task
        sock.close()


def configure_logging() -> None:
    """warmgate's log, and uvicorn's (its warnings; with `server.access_log`, its plain-text
    access log: uvicorn sets the levels), on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("warmgate")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("uvicorn").addHandler(handler)
