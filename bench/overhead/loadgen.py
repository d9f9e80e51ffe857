"""Load generators: Debian's `wrk` (plain requests) and a lean uvloop + httptools client (plain and streams).

Both keep `concurrency` keep-alive connections busy for `duration` seconds, each connection sending its
next request as soon as the previous response is complete (closed loop, like wrk). Every request
body is distinct by default (a run nonce and a counter inside the user message), so a caching gateway
neither answers from its cache nor coalesces concurrent requests: we measure the pass-through path.
"""

from __future__ import annotations

import asyncio
import math
import resource
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import orjson
import uvloop

MARK = "@@N@@"
SYSTEM = (
    "You are a careful assistant for a travel company. Answer in plain English, in at most three short "
    "paragraphs. If the user asks about prices, give ranges rather than exact figures and say that prices "
    "change. Never invent opening hours, phone numbers or addresses; say that the user should check the "
    "official website instead. When the question is about a city, mention one museum, one park and one "
    "neighbourhood worth a walk, and suggest the best season to visit. Keep a friendly, factual tone and "
    "do not use emoji. If the request is unrelated to travel, answer briefly and steer back to travel."
)
USER = (
    "We are two adults and a ten-year-old planning four days in Paris in late April. We like art but the "
    "child gets bored in long museum visits. What would a relaxed itinerary look like, and which areas "
    "are good to stay in if we want to walk most places? (ref " + MARK + ")"
)

# A coding agent's request, the size ../shared/SPEC.md observed from Claude Code: a ~26 000-character
# system prompt and 24 tools (~59 KB of JSON with the turns below), where SYSTEM/USER make ~0.8 KB.
AGENT_SYSTEM = " ".join(
    f"Rule {i}: when you edit a file, read it first, keep its style, change only what the task needs, "
    f"run the tests that cover it, and report what you changed and why in one short paragraph."
    for i in range(150)
)
AGENT_TOOLS = [
    {"type": "function", "function": {
        "name": f"tool_{i}",
        "description": f"Tool {i}: works on the files of the repository and returns what it found or did. " * 5,
        "parameters": {"type": "object", "required": ["path"], "properties": {
            name: {"type": "string", "description": f"The {name} this call works on, relative to the repository root."}
            for name in ("path", "pattern", "content", "command", "range", "reason")}},
    }}
    for i in range(24)
]
AGENT_TURNS = [
    {"role": "user", "content": "Look at src/parser.py: the tokenizer drops the last token when the input ends in a "
                                "comment. Find why, fix it and add a test. " * 3},
    {"role": "assistant", "content": "I read src/parser.py and tests/test_parser.py. The loop in `tokens()` stops when "
                                     "it meets a comment instead of skipping it. " * 6},
]


@dataclass(frozen=True)
class Body:
    """A request body split around the per-request marker: `head + str(n) + tail` (or fixed if not unique)."""

    head: bytes
    tail: bytes
    unique: bool

    @classmethod
    def chat(cls, model: str, stream: bool, unique: bool = True, max_tokens: int = 256, agent: bool = False) -> Body:
        """A chat completion request; `agent`: the size of a coding agent's (`AGENT_SYSTEM`, `AGENT_TOOLS`)."""
        system, turns = (AGENT_SYSTEM, AGENT_TURNS) if agent else (SYSTEM, [])
        obj: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "system", "content": system}, *turns, {"role": "user", "content": USER}],
            "max_tokens": max_tokens,
            "temperature": 0.2,
        }
        if agent:
            obj["tools"] = AGENT_TOOLS
        if stream:
            obj["stream"] = True
        head, tail = orjson.dumps(obj).split(MARK.encode())
        return cls(head + secrets.token_hex(4).encode() + b"-", tail, unique)

    def sample(self, n: int = 0) -> bytes:
        return self.head + str(n).encode() + self.tail


@dataclass
class Result:
    """One measurement. Latencies in milliseconds; `errors` maps a reason (an HTTP status, or a socket
    error) to its count; `loadgen_cpu` is the generator's CPU seconds per wall second (1.0 = a full core)."""

    loadgen: str
    concurrency: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    ttfc_p50_ms: float | None = None
    ttfc_p99_ms: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    loadgen_cpu: float = 0.0


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[k]


# --------------------------------------------------------------------------------------------- wrk

_LUA = """\
wrk.method = "POST"
{headers}
local head = [==[{head}]==]
local tail = [==[{tail}]==]
{body_setup}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
_UNIQUE = """local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, head .. n .. tail)
end"""


def run_wrk(
    url: str, headers: dict[str, str], body: Body, concurrency: int, duration: int, workdir: Path,
    *, extra_lua: str = "", lines_out: dict[str, str] | None = None,
) -> Result:
    """Run `wrk -t1 -c{concurrency} -d{duration}s` (in this process's CPU set) and read its `done()` JSON line.
    wrk counts only statuses >= 400 as errors (its "Non-2xx or 3xx responses"). `extra_lua` is appended
    to the script; every stdout line starting with "WRK" is put in `lines_out` (tag -> rest of the line)."""
    hdrs = {"Content-Type": "application/json", **headers}
    lua = _LUA.format(
        headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in hdrs.items()),
        head=body.head.decode(),
        tail=body.tail.decode(),
        body_setup=_UNIQUE if body.unique else "wrk.body = head .. 0 .. tail",
    ) + extra_lua
    script = workdir / "post.lua"
    script.write_text(lua)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, timeout=duration + 15, check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in proc.stdout.splitlines() if ln.startswith("WRK")}
    if lines_out is not None:
        lines_out.update(lines)
    if "WRKJSON" not in lines:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    w = orjson.loads(lines["WRKJSON"])
    seconds = w["duration_us"] / 1e6
    errors = {k: w[k] for k in ("connect", "read", "write", "timeout") if w[k]}
    if w["status"]:
        errors["status>=400"] = w["status"]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Result(
        "wrk", concurrency, seconds, w["requests"], w["requests"] / seconds,
        w["p50_us"] / 1000, w["p99_us"] / 1000, errors=errors, loadgen_cpu=cpu / seconds,
    )


# ----------------------------------------------------------------------------- python (httptools)

class _Run:
    """The shared state of one closed-loop run: request bytes, the stop flag and the tallies."""

    def __init__(self, url: str, headers: dict[str, str], body: Body, stream: bool) -> None:
        u = urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        lines = [f"POST {u.path or '/'}{'?' + u.query if u.query else ''} HTTP/1.1", f"Host: {u.netloc}",
                 "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items()),
                 "Content-Length: "]
        self.req_head = "\r\n".join(lines).encode()
        self.body, self.stream, self.n = body, stream, 0
        self.stopping = False
        self.latencies: list[float] = []
        self.ttfcs: list[float] = []
        self.errors: Counter[str] = Counter()
        self.open = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def next_request(self) -> bytes:
        self.n += 1
        b = self.body.head + str(self.n if self.body.unique else 0).encode() + self.body.tail
        return self.req_head + str(len(b)).encode() + b"\r\n\r\n" + b

    def record(self, status: int, total: float, first: float, ok_stream: bool) -> None:
        if not 200 <= status < 300:
            self.errors[str(status)] += 1
        elif self.stream and not ok_stream:
            self.errors["stream without [DONE]"] += 1
        else:
            self.latencies.append(total)
            if self.stream:
                self.ttfcs.append(first)

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.done.done():
            self.done.set_result(None)


class _Conn(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.t0 = self.first = 0.0
        self.tail = b""
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if self.run.stopping:
            self.transport.close()
            return
        self.tail, self.first, self.busy = b"", 0.0, True
        self.t0 = time.perf_counter()
        self.transport.write(self.run.next_request())

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self.run.errors[f"parse error: {e}"] += 1
            assert self.transport is not None
            self.transport.close()

    def on_body(self, chunk: bytes) -> None:
        if not self.first:
            self.first = time.perf_counter()
        if self.run.stream:
            self.tail = (self.tail + chunk)[-32:]

    def on_message_complete(self) -> None:
        t = time.perf_counter()
        self.busy = False
        status = self.parser.get_status_code()
        self.run.record(status, t - self.t0, self.first - self.t0, b"[DONE]" in self.tail)
        self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.run.errors["connection lost"] += 1
        if not self.run.stopping:  # the server closed a keep-alive connection: open another one
            self.run.open += 1
            task = asyncio.get_running_loop().create_task(_connect(self.run))
            self.run.tasks.add(task)
            task.add_done_callback(self.run.tasks.discard)
        self.run.closed()


async def _connect(run: _Run) -> None:
    """Open one connection; the caller has already counted it in `run.open`."""
    try:
        await asyncio.get_running_loop().create_connection(lambda: _Conn(run), run.host, run.port)
    except OSError as e:
        run.errors[f"connect: {e.strerror or e}"] += 1
        run.closed()


async def _client(url: str, headers: dict[str, str], body: Body, concurrency: int, duration: float,
                  stream: bool) -> tuple[_Run, float]:
    run = _Run(url, headers, body, stream)
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    run.open = concurrency
    await asyncio.gather(*(_connect(run) for _ in range(concurrency)))
    loop.call_later(duration, setattr, run, "stopping", True)
    try:
        await asyncio.wait_for(asyncio.shield(run.done), duration + 10)
    except TimeoutError:
        run.errors["timed out at the end"] += 1
    return run, time.perf_counter() - t0


def run_client(url: str, headers: dict[str, str], body: Body, concurrency: int, duration: float,
               stream: bool) -> Result:
    """Closed-loop load with the uvloop + httptools client; for streams also time to first body chunk."""
    cpu0 = time.process_time()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        run, seconds = runner.run(_client(url, headers, body, concurrency, duration, stream))
    cpu = time.process_time() - cpu0
    lat = sorted(run.latencies)
    ttfc = sorted(run.ttfcs)
    return Result(
        "python", concurrency, seconds, len(lat), len(lat) / seconds,
        percentile(lat, 50) * 1000, percentile(lat, 99) * 1000,
        percentile(ttfc, 50) * 1000 if stream else None, percentile(ttfc, 99) * 1000 if stream else None,
        errors=dict(run.errors), loadgen_cpu=cpu / seconds,
    )


# ------------------------------------------------------------------------------------------- check

def check(url: str, headers: dict[str, str], body: Body, stream: bool) -> str | None:
    """Send one request; return what is wrong with the answer, or None if it looks like a chat completion."""
    req = urllib.request.Request(url, data=body.sample(), method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}: {e.read()[:300]!r}"
    except OSError as e:
        return f"request failed: {e}"
    if not 200 <= status < 300:
        return f"HTTP {status}: {data[:300]!r}"
    if stream:
        if b"data: [DONE]" not in data or b"chat.completion.chunk" not in data:
            return f"not an SSE chat completion stream: {data[:300]!r}"
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return f"not JSON: {data[:300]!r}"
    if not isinstance(obj, dict) or "choices" not in obj:
        return f"not a chat completion: {data[:300]!r}"
    return None
