"""Prompt-cache affinity benchmark: the provider cache hit rate that each routing strategy keeps.

    python bench/affinity/run.py                  # ~2 min on 2 idle cores: pools of 4 and 8, all scenarios
    python bench/affinity/run.py --quick          # ~45 s smoke run: pool of 4 only, smaller workload
    python bench/affinity/run.py --seed 7 --json results.json

One seeded workload (workload.py) of concurrent multi-turn conversations goes, once per run, through a
fresh gateway (`warmgate serve`) in front of one provider simulator (`warmgate sim`, short cache TTL,
`POST /sim/reset` before every run); the pool's accounts are API keys of the simulator. Runs, one after
the other: the single-account pool (the baseline: the best hit rate the workload allows), then per
pool size affinity / round_robin / random, an account that starts failing halfway (affinity), and two
gateway instances sharing bindings in a redis-server started here (affinity; the client alternates
between them). See README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from report import LEGEND, ClientCounts, Result, from_stats, judge, result_json, table
from workload import QUICK, Conversation, Shape, Workload, make_workload, parse_turns, request

from warmgate.config import RoutingConfig

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
READY = re.compile(r"listening on (http://\S+)")
STRATEGIES = ("affinity", "round_robin", "random")
MODELS = {"openai": "gpt-sim", "anthropic": "claude-sim"}

GATEWAY_CONFIG = """\
server: {{host: 127.0.0.1, port: 0}}
routing:
  strategy: {strategy}
  load_bound: {load_bound}
  binding_ttl: 300
  bindings: {bindings}
  redis_url: {redis_url}
  redis_timeout: {redis_timeout}
providers:
  - name: sim
    api: {api}
    base_url: {sim}/v1
    cache_ttl: {cache_ttl}
    accounts: [{accounts}]
models: {{{model}: sim}}
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    pool: int
    strategy: str
    instances: int = 1
    bindings: str = "memory"
    fault: str | None = None  # "500" or "close": the busiest account fails from halfway on

    @property
    def note(self) -> str:
        if self.fault:
            return f"busiest account answers {self.fault} from halfway on"
        if self.instances > 1:
            return f"{self.instances} gateway instances, bindings in " + ("Redis" if self.bindings == "redis" else "memory each")
        return "one gateway instance"


def scenarios(pools: list[int], fault: str, apart: bool = False) -> list[Scenario]:
    out = [Scenario("single", 1, "affinity")]
    out += [Scenario(f"pool{n}", n, s) for n in pools for s in STRATEGIES]
    out.append(Scenario(f"fail{pools[0]}", pools[0], "affinity", fault=fault))
    out.append(Scenario(f"redis{pools[0]}", pools[0], "affinity", instances=2, bindings="redis"))
    if apart:  # two instances that share nothing: they agree only through the rendezvous order
        out.append(Scenario(f"apart{pools[0]}", pools[0], "affinity", instances=2))
    return out


# ---------------------------------------------------------------------------------------------
# Processes


async def spawn(cmd: list[str], log: Path, ready: re.Pattern[str] = READY,
                timeout: float = 30.0) -> tuple[asyncio.subprocess.Process, str]:
    """Start `cmd` with its output in `log`; wait for `ready` to appear there; return the match."""
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=out, stderr=subprocess.STDOUT,
                                                    stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.returncode is None:
        m = ready.search(log.read_text(errors="replace"))
        if m:
            return proc, m.group(1) if m.groups() else m.group(0)
        await asyncio.sleep(0.05)
    await stop(proc)
    tail = "\n    ".join(log.read_text(errors="replace").strip().splitlines()[-15:])
    raise RuntimeError(f"{shlex.join(cmd)} did not become ready:\n    {tail}")


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# The client


class Driver:
    """Plays a workload against gateway URLs: one task per conversation, requests in flight bounded."""

    def __init__(self, wl: Workload, urls: list[str], args: argparse.Namespace,
                 halfway: Callable[[], Coroutine[Any, Any, None]] | None = None):
        self.wl, self.urls, self.args, self.halfway = wl, urls, args, halfway
        self.ttl = args.cache_ttl
        self.counts = ClientCounts()
        self.done_turns = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.path = "/v1/messages" if args.api == "anthropic" else "/v1/chat/completions"
        self.auth = ({"x-api-key": "bench", "anthropic-version": "2023-06-01"} if args.api == "anthropic"
                     else {"Authorization": "Bearer bench"})

    async def run(self) -> ClientCounts:
        limit = asyncio.Semaphore(self.args.concurrency)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
            t0 = time.monotonic()
            await asyncio.gather(*(self.converse(http, limit, c, t0) for c in self.wl.conversations))
            await asyncio.gather(*self.tasks)
        return self.counts

    async def converse(self, http: aiohttp.ClientSession, limit: asyncio.Semaphore, conv: Conversation,
                       t0: float) -> None:
        await asyncio.sleep(max(0.0, t0 + conv.start * self.ttl - time.monotonic()))
        answers: list[str] = []
        last_account: str | None = None
        for turn in range(conv.turns):
            await asyncio.sleep(conv.gaps[turn] * self.ttl)
            headers, body = request(conv, turn, answers, self.args.api, MODELS[self.args.api])
            url = self.urls[(conv.index + turn) % len(self.urls)] + self.path  # alternate instances
            got = await self.send(http, limit, url, {**self.auth, **headers}, orjson.dumps(body))
            if got is None:
                self.counts.abandoned += 1
                return
            answer, account, prompt, cached = got
            if turn == 0:
                self.counts.first_prompt += prompt
                self.counts.first_cached += cached
            answers.append(answer)
            if account and last_account:
                self.counts.turn_pairs += 1
                self.counts.switches += account != last_account
            last_account = account
            self.done_turns += 1
            if self.halfway is not None and self.done_turns == self.wl.requests // 2:
                self.tasks.append(asyncio.create_task(self.halfway()))

    async def send(self, http: aiohttp.ClientSession, limit: asyncio.Semaphore, url: str,
                   headers: dict[str, str], data: bytes) -> tuple[str, str | None, int, int] | None:
        """(answer text, serving account, prompt tokens, cached prompt tokens) of one turn; up to 3
        attempts; None when all failed."""
        c = self.counts
        headers = {**headers, "Content-Type": "application/json"}
        for attempt in range(3):
            if attempt:
                await asyncio.sleep(0.25 * attempt)
            c.requests += 1
            start = time.monotonic()
            try:
                async with limit, http.post(url, data=data, headers=headers) as resp:
                    raw = await resp.read()
                    status, account = resp.status, resp.headers.get("x-warmgate-account")
            except (aiohttp.ClientError, TimeoutError):
                c.errors += 1
                continue
            if status == 429:
                c.status_429 += 1
                continue
            if status != 200:
                c.errors += 1
                continue
            c.ok += 1
            c.latencies.append(time.monotonic() - start)
            doc = orjson.loads(raw)
            usage = doc.get("usage") or {}
            if self.args.api == "anthropic":
                text = "".join(b.get("text", "") for b in doc["content"] if b.get("type") == "text")
                cached = usage.get("cache_read_input_tokens", 0)
                prompt = usage.get("input_tokens", 0) + cached + usage.get("cache_creation_input_tokens", 0)
            else:
                text = doc["choices"][0]["message"]["content"] or ""
                prompt = usage.get("prompt_tokens", 0)
                cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
            return text, account, prompt, cached
        return None


# ---------------------------------------------------------------------------------------------
# Runs, one after the other against one simulator (reset between runs); the next run's gateways
# start while the current run plays, so their start-up time is hidden.


@dataclass
class Gateways:
    procs: list[asyncio.subprocess.Process]
    urls: list[str]
    keys: list[str]  # the pool's API keys (unique per run)


async def start_gateways(sc: Scenario, args: argparse.Namespace, work: Path, sim: str,
                         redis_url: str | None) -> Gateways:
    tag = f"{sc.name}-{sc.strategy}"
    keys = [f"sk-aff-{tag}-{i + 1}" for i in range(sc.pool)]
    config = work / f"{tag}.yaml"
    config.write_text(GATEWAY_CONFIG.format(
        strategy=sc.strategy, bindings=sc.bindings, redis_url=redis_url or "redis://127.0.0.1:6379/0",
        api=args.api, sim=sim, model=MODELS[args.api], cache_ttl=args.cache_ttl, load_bound=args.load_bound,
        redis_timeout=args.redis_timeout,
        accounts=", ".join(f"{{name: a{i + 1}, api_key: {k}}}" for i, k in enumerate(keys))))
    gw = Gateways([], [], keys)
    try:
        for i in range(sc.instances):
            proc, url = await spawn([sys.executable, "-m", "warmgate", "serve", "--config", str(config)],
                                    work / f"{tag}-gateway{i}.log")
            gw.procs.append(proc)
            gw.urls.append(url)
    except BaseException:
        await stop_all(gw)
        raise
    return gw


async def stop_all(gw: Gateways) -> None:
    for p in gw.procs:
        await stop(p)


async def play(sc: Scenario, gw: Gateways, wl: Workload, args: argparse.Namespace, sim: str,
               redis_url: str | None) -> Result:
    """One run: reset the simulator, play the workload through the gateways, read the simulator's stats."""
    t_start = time.monotonic()
    events: list[str] = []
    async with aiohttp.ClientSession() as http:
        async def halfway() -> None:  # the busiest account so far starts failing, until the run ends
            async with http.get(f"{sim}/sim/stats") as r:
                stats = await r.json()
            busiest = max(stats["accounts"].values(), key=lambda a: a["requests"])["key"]
            fault: dict[str, Any] = {"account": busiest}
            fault.update({"mode": "close"} if sc.fault == "close" else {"status": 500})
            async with http.post(f"{sim}/sim/faults", json=fault) as r:
                r.raise_for_status()
            events.append(f"{time.monotonic() - t_start:.1f} s: {busiest} fails ({sc.fault})")

        async with http.post(f"{sim}/sim/reset") as r:
            r.raise_for_status()
        counts = await Driver(wl, gw.urls, args, halfway if sc.fault else None).run()
        async with http.get(f"{sim}/sim/stats") as r:
            stats = await r.json()
    if sc.bindings == "redis" and redis_url:
        events.append(f"{await redis_keys(redis_url)} keys in Redis at the end (the shared bindings)")
    wall = time.monotonic() - t_start
    result = from_stats(sc.name, sc.pool, sc.strategy, sc.note, gw.keys, stats, counts, wall)
    result.events = events
    print(f"  {sc.name:7} {sc.strategy:12} hit rate {100 * result.hit_rate:5.1f}%  ({wall:.0f} s)", flush=True)
    return result


async def start_redis(work: Path) -> tuple[asyncio.subprocess.Process, str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server not found (needed by the two-instance scenario; --no-redis skips it)")
    port = free_port()
    proc, _ = await spawn([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                          work / "redis.log", re.compile(r"Ready to accept connections"))
    return proc, f"redis://127.0.0.1:{port}/0"


async def redis_keys(url: str) -> int:
    """DBSIZE of the Redis at `url`, spoken in RESP directly (no client library needed here)."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"*1\r\n$6\r\nDBSIZE\r\n")
        line = await reader.readline()
    finally:
        writer.close()
    return int(line[1:])


async def run_all(args: argparse.Namespace, wl: Workload, work: Path) -> list[Result]:
    todo = scenarios(args.pools, args.fault, args.apart)
    if args.no_redis:
        todo = [s for s in todo if s.bindings != "redis"]
    if args.only:
        todo = [s for s in todo if any(o in f"{s.name}:{s.strategy}" for o in args.only)]
    procs: list[asyncio.subprocess.Process] = []
    results: list[Result] = []
    upcoming: asyncio.Task[Gateways] | None = None
    try:
        sim_proc, sim = await spawn(
            [sys.executable, "-m", "warmgate", "sim", "--port", "0", "--cache-ttl", str(args.cache_ttl),
             "--output-tokens", "4096", "--ttft-base-ms", "5", "--ttft-per-1k-ms", "2",
             "--seed", str(args.seed)], work / "sim.log")
        procs.append(sim_proc)
        redis_url = None
        if not args.no_redis:
            redis_proc, redis_url = await start_redis(work)
            procs.append(redis_proc)
        upcoming = asyncio.create_task(start_gateways(todo[0], args, work, sim, redis_url))
        for i, sc in enumerate(todo):
            assert upcoming is not None
            gw = await upcoming
            upcoming = (asyncio.create_task(start_gateways(todo[i + 1], args, work, sim, redis_url))
                        if i + 1 < len(todo) else None)
            try:
                results.append(await play(sc, gw, wl, args, sim, redis_url))
            finally:
                await stop_all(gw)
    finally:
        if upcoming is not None:
            with contextlib.suppress(Exception):
                await stop_all(await upcoming)
        for p in reversed(procs):
            await stop(p)
    return results


def source_state() -> str:
    """The commit under test, whether src/ has local changes, and whether the router reads the strategy."""
    def git(*a: str) -> str:
        r = subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True, check=False)
        return r.stdout.strip()
    dirty = " + uncommitted changes in src/" if git("status", "--porcelain", "src") else ""
    router = REPO / "src/warmgate/routing/router.py"
    reads = router.exists() and "strategy" in router.read_text()
    return f"commit {git('rev-parse', '--short', 'HEAD')}{dirty}; router.py reads routing.strategy: {'yes' if reads else 'NO'}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="~45 s smoke run: pool of 4 only, smaller workload")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write every run and the options here")
    ap.add_argument("--pools", type=lambda s: [int(x) for x in s.split(",")], help="pool sizes (default 4,8)")
    ap.add_argument("--cache-ttl", type=float, help="provider cache idle TTL in s (default 2); the gateway's cache_ttl too")
    ap.add_argument("--conversations", type=int, help="override the workload's number of conversations")
    ap.add_argument("--load-bound", type=float, default=RoutingConfig().load_bound,
                    help="routing.load_bound of the gateways (default: the gateway's default)")
    ap.add_argument("--redis-timeout", type=float, default=RoutingConfig().redis_timeout,
                    help="routing.redis_timeout of the gateways (default: the gateway's default)")
    ap.add_argument("--concurrency", type=int, default=32, help="requests in flight per run at most")
    ap.add_argument("--api", choices=sorted(MODELS), default="openai")
    ap.add_argument("--fault", choices=["500", "close"], default="500", help="how the failing account fails")
    ap.add_argument("--no-redis", action="store_true", help="skip the two-instance Redis scenario")
    ap.add_argument("--apart", action="store_true",
                    help="also run two instances that share nothing (memory bindings each; turns alternate)")
    ap.add_argument("--only", type=lambda s: s.split(","), metavar="RUN[,RUN]",
                    help="only runs whose NAME:STRATEGY contains one of these, e.g. single,pool4:affinity")
    ap.add_argument("--keep", type=Path, help="keep configs and process logs in this directory")
    ap.add_argument("--turns", type=parse_turns, metavar="MEDIAN,MIN,MAX",
                    help="turns per conversation (default 14,10,20; the shape before 2026-12-02 was 10,6,16)")
    args = ap.parse_args(argv)
    args.pools = args.pools or ([4] if args.quick else [4, 8])
    args.cache_ttl = args.cache_ttl or 2.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", *sys.argv])
    shape = QUICK if args.quick else Shape()
    if args.conversations:
        shape = dataclasses.replace(shape, conversations=args.conversations)
    if args.turns:
        shape = dataclasses.replace(shape, **args.turns)
    wl = make_workload(args.seed, shape)
    print(f"workload: seed {args.seed}, {len(wl.conversations)} conversations, {wl.requests} requests, "
          f"prefixes {', '.join(f'{p.tokens}t x{sum(c.prefix is p for c in wl.conversations)}' for p in wl.prefixes)}; "
          f"cache TTL {args.cache_ttl:g} s, planned span {wl.span() * args.cache_ttl:.0f} s per run")
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            work = args.keep
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="warmgate-affinity-")))
        try:
            results = asyncio.run(run_all(args, wl, work))
        except RuntimeError as e:
            print(f"cannot run the benchmark: {e}", file=sys.stderr)
            return 1
    judge(results, smoke=args.quick)
    print(f"\n$ {command}")
    print(f"{source_state()}; {args.api} dialect; wall time {time.monotonic() - t0:.0f} s\n")
    print(table(results))
    for r in results:
        for event in r.events:
            print(f"  {r.name}: {event}")
    print("\n" + LEGEND)
    if args.json:
        doc = {"command": command, "date": datetime.now(UTC).isoformat(timespec="seconds"),
               "source": source_state(),
               "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "workload": {"seed": wl.seed, "shape": dataclasses.asdict(shape), "requests": wl.requests,
                            "prefix_tokens": [p.tokens for p in wl.prefixes]},
               "results": [result_json(r) for r in results]}
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
