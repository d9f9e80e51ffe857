"""Cache benchmark: warmgate's cache hits vs a bare dict-lookup server, and its cache misses vs pass-through.

    python bench/cache/run.py                  # ~2.7 min: 3 rounds x c=1,8,32 x 6 targets, 2 s per cell
    python bench/cache/run.py --quick          # ~30 s smoke run
    python bench/cache/run.py --json out.json

Hits: one identical ~1 KB chat body to `dict` (dict_server.py, the ceiling), `warmgate-memory` and
`warmgate-redis` (a redis-server started here), each warmed first so that every measured request is a hit.
Misses: a distinct body per request to `warmgate-miss` (cache on, memory store: every request is a miss
and is stored), `warmgate-off` (cache disabled: pass-through) and `bare` (bench/overhead/bare_proxy.py).
Pinning, interleaving and best-of-rounds as in bench/overhead (whose harness this reuses). See README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
OVERHEAD = HERE.parent / "overhead"
sys.path.insert(1, str(OVERHEAD))  # after this script's own directory
from loadgen import Body, Result, check, run_client, run_wrk  # noqa: E402
from report import Run, error_lines, pick, run_json  # noqa: E402


def _load(name: str, path: Path) -> ModuleType:
    """Import bench/overhead/run.py under another name (this file is run.py too)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


ov = _load("overhead_run", OVERHEAD / "run.py")  # spawn, stop, cpu_seconds, cpu_busy, chat_url, pick_cpus

HIT_TARGETS = ("dict", "warmgate-memory", "warmgate-redis")
MISS_TARGETS = ("warmgate-miss", "warmgate-miss-redis", "warmgate-off", "bare")
DEFAULT_TARGETS = ("dict", "warmgate-memory", "warmgate-redis", "warmgate-miss", "warmgate-off", "bare")
CACHE_YAML = {
    "memory": "cache: {{enabled: true, ttl: 3600, store: memory}}\n",
    "redis": "cache: {{enabled: true, ttl: 3600, store: redis, redis: {{url: '{url}'}}}}\n",
    "off": "cache: {{enabled: false}}\n",
}


@dataclass
class Target:
    name: str
    group: str  # "hit" | "miss"
    url: str
    expect: str | None  # the x-warmgate-cache value every measured response should carry (None: not checked)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    aux: subprocess.Popen[bytes] | None = None  # the helper on the load CPU it leans on: upstream or redis
    body: Body | None = None  # hits: the one warmed body


@dataclass
class CacheRun(Run):
    cache: dict[str, int] = field(default_factory=dict)  # x-warmgate-cache value -> responses
    aux_cpu: float | None = None

    def unexpected(self, expect: str | None) -> int | None:
        if expect is None or not self.cache:
            return None
        return sum(n for k, n in self.cache.items() if k != expect)


# ------------------------------------------------------------------------------------- wrk + counting

# Appended to loadgen's wrk script: count the x-warmgate-cache header of every response (per thread,
# summed in done()). Every target gets it, so its cost on the generator is the same for all.
_COUNT_LUA = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
HIT, MISS, other, none = 0, 0, 0, 0
response = function(status, headers, body)
  local v = headers["x-warmgate-cache"]
  if v == "HIT" then HIT = HIT + 1 elseif v == "MISS" then MISS = MISS + 1
  elseif v == nil then none = none + 1 else other = other + 1 end
end
local base_done = done
done = function(summary, latency, requests)
  base_done(summary, latency, requests)
  local n = {HIT = 0, MISS = 0, other = 0, none = 0}
  for _, t in ipairs(threads) do
    for k in pairs(n) do n[k] = n[k] + t:get(k) end
  end
  io.write(string.format('WRKCACHE {"HIT":%d,"MISS":%d,"other":%d,"none":%d}\\n', n.HIT, n.MISS, n.other, n.none))
end
"""


def run_wrk_counting(url: str, headers: dict[str, str], body: Body, concurrency: int, duration: int,
                     workdir: Path) -> tuple[Result, dict[str, int]]:
    """loadgen.run_wrk plus the x-warmgate-cache tally of the responses."""
    lines: dict[str, str] = {}
    res = run_wrk(url, headers, body, concurrency, duration, workdir, extra_lua=_COUNT_LUA, lines_out=lines)
    counts = {k: v for k, v in orjson.loads(lines.get("WRKCACHE", "{}")).items() if v}
    return res, counts


# ------------------------------------------------------------------------------------------ processes

def start_redis(work: Path, cpu: int | None) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    with (work / "redis.log").open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    ov.stop(proc)
    raise RuntimeError("redis-server did not start: " + (work / "redis.log").read_text(errors="replace")[-500:])


def start_targets(args: argparse.Namespace, cpus: tuple[int, int] | None, work: Path,
                  procs: list[subprocess.Popen[bytes]], skipped: dict[str, str]) -> list[Target]:
    proxy_cpu, load_cpu = cpus if cpus else (None, None)
    py = sys.executable
    if args.upstream == "sim":
        up_cmd = [py, "-m", "warmgate", "sim", "--host", "127.0.0.1", "--port", "0"]
    else:
        up_cmd = [py, str(OVERHEAD / "stub_upstream.py"), "--port", "0"]
    up, upstream = ov.spawn(up_cmd, load_cpu, work / "upstream.log")
    procs.append(up)
    print(f"upstream ({args.upstream}): {upstream}")
    redis: tuple[subprocess.Popen[bytes], str] | None = None
    if {"warmgate-redis", "warmgate-miss-redis"} & set(args.targets):
        try:
            redis = start_redis(work, load_cpu)
        except RuntimeError as e:
            skipped["warmgate-redis"] = str(e)
            print(f"redis: SKIPPED: {e}", file=sys.stderr)
        else:
            procs.append(redis[0])
            print(f"redis-server: {redis[1]}")
    targets = []
    for name in args.targets:
        group = "hit" if name in HIT_TARGETS else "miss"
        cmd: list[str]
        if name == "dict":
            cmd, expect, aux = [py, str(HERE / "dict_server.py")], "HIT", None
        elif name == "bare":
            cmd, expect, aux = [py, str(OVERHEAD / "bare_proxy.py"), "--upstream", upstream,
                                "--api-key", args.api_key], None, up
        else:
            store = "off" if name == "warmgate-off" else "redis" if name.endswith("redis") else "memory"
            if store == "redis" and redis is None:
                skipped[name] = "no redis-server"
                continue
            config = work / f"{name}.yaml"
            config.write_text(ov.WARMGATE_CONFIG.format(upstream=upstream, key=args.api_key, model=args.model)
                              + CACHE_YAML[store].format(url=redis[1] if redis else ""))
            cmd = [py, "-m", "warmgate", "serve", "--config", str(config)]
            expect = None if store == "off" else "HIT" if group == "hit" else "MISS"
            aux = redis[0] if redis and store == "redis" else up
        try:
            proc, url = ov.spawn(cmd, proxy_cpu, work / f"{name}.log")
        except RuntimeError as e:
            skipped[name] = str(e)
            print(f"{name}: SKIPPED, it did not start: {e}", file=sys.stderr)
            continue
        procs.append(proc)
        targets.append(Target(name, group, ov.chat_url(url), expect, proc, work / f"{name}.log", aux))
    for t in targets:
        print(f"  {t.name:20} {t.url}  (pid {t.proc.pid if t.proc else '-'})")
    return targets


def probe(url: str, headers: dict[str, str], body: bytes) -> str:
    """One request; its x-warmgate-cache header ("-" when absent)."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
        return resp.headers.get("x-warmgate-cache", "-")


def prepare(t: Target, args: argparse.Namespace, auth: dict[str, str]) -> str | None:
    """Check the target answers a chat completion; for hits warm its cache and confirm the next is a HIT."""
    body = Body.chat(args.model, False, unique=t.group == "miss", agent=args.agent_body)
    problem = check(t.url, auth, body, False)  # for a hit target this first request fills the cache
    if problem:
        return problem
    try:
        seen = probe(t.url, auth, body.sample(1 if t.group == "miss" else 0))
    except OSError as e:
        return f"probe failed: {e}"
    print(f"  {t.name:20} sample response: x-warmgate-cache: {seen}")
    if t.expect and seen != t.expect:
        return f"expected x-warmgate-cache: {t.expect}, got {seen}"
    t.body = body
    return None


def measure(t: Target, c: int, rnd: int, args: argparse.Namespace, work: Path, auth: dict[str, str],
            proxy_cpu: int | None) -> CacheRun:
    if t.proc is not None and t.proc.poll() is not None:
        tail = t.log.read_text(errors="replace").strip().splitlines()[-5:] if t.log else []
        return CacheRun(t.name, t.group, c, rnd, None, failure=f"exited with {t.proc.returncode}: " + " | ".join(tail))
    # misses: fresh bodies (a new nonce) for the warm-up and for the measurement, so nothing is ever a hit
    warm = t.body if t.group == "hit" else Body.chat(args.model, False, agent=args.agent_body)
    body = t.body if t.group == "hit" else Body.chat(args.model, False, agent=args.agent_body)
    assert warm is not None and body is not None
    try:
        run_client(t.url, auth, warm, c, args.warmup, False)
        busy0 = ov.cpu_busy()
        wall0 = time.perf_counter()
        cpu0 = ov.cpu_seconds(t.proc.pid) if t.proc else 0.0
        aux0 = ov.cpu_seconds(t.aux.pid) if t.aux else 0.0
        res, counts = run_wrk_counting(t.url, auth, body, c, args.duration, work)
        wall = time.perf_counter() - wall0
        srv = (ov.cpu_seconds(t.proc.pid) - cpu0) / wall if t.proc else None
        aux = (ov.cpu_seconds(t.aux.pid) - aux0) / wall if t.aux else None
        busy1 = ov.cpu_busy()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        return CacheRun(t.name, t.group, c, rnd, None, failure=str(e))
    other = None
    if proxy_cpu is not None:
        (b0, n0), (b1, n1) = busy0[proxy_cpu], busy1[proxy_cpu]
        other = max(0.0, (b1 - b0) / max(1, n1 - n0) - (srv or 0.0))
    return CacheRun(t.name, t.group, c, rnd, res, server_cpu=srv, other_cpu=other, cache=counts, aux_cpu=aux)


# --------------------------------------------------------------------------------------------- report

BASELINE = {"hit": "dict", "miss": "warmgate-off"}


def summarize(runs: list[CacheRun], targets: list[Target], how: str) -> list[dict[str, Any]]:
    cells: dict[tuple[str, int, str], list[CacheRun]] = {}
    for r in runs:
        cells.setdefault((r.mode, r.concurrency, r.target), []).append(r)
    rows = []
    for group in ("hit", "miss"):
        for c in sorted({k[1] for k in cells if k[0] == group}):
            picked = {t.name: pick(cells.get((group, c, t.name), []), how) for t in targets if t.group == group}
            base, bare = picked.get(BASELINE[group]), picked.get("bare")
            for t in targets:
                if t.group != group or picked[t.name] is None:
                    continue
                run, lo, hi = picked[t.name]  # type: ignore[misc]
                res = run.result
                row: dict[str, Any] = {
                    "group": group, "concurrency": c, "target": t.name, "round": run.round, "rps": res.rps,
                    "rps_min": lo, "rps_max": hi, "p50_ms": res.p50_ms, "p99_ms": res.p99_ms,
                    "requests": res.requests, "errors": sum(res.errors.values()), "cache_headers": run.cache,
                    "unexpected": run.unexpected(t.expect), "expect": t.expect, "server_cpu": run.server_cpu,
                    "aux_cpu": run.aux_cpu, "other_cpu": run.other_cpu, "loadgen_cpu": res.loadgen_cpu,
                    "cpu_us_per_req": cpu_per_request(cells.get((group, c, t.name), [])),
                }
                if base is not None and t.name != BASELINE[group]:
                    row["ratio_vs_base"] = res.rps / base[0].result.rps
                    row["paired_vs_base"] = paired(cells, group, c, t.name, BASELINE[group])
                if bare is not None and group == "miss" and t.name != "bare":
                    row["ratio_vs_bare"] = res.rps / bare[0].result.rps
                rows.append(row)
    return rows


def cpu_per_request(runs: list[CacheRun]) -> float | None:
    """Median over rounds of the target's CPU microseconds per response. Another process on CPU 0 lowers
    rps but hardly this, so its ratios are a second, less noisy reading of the rps ratios."""
    v = [r.server_cpu / r.result.rps * 1e6 for r in runs if r.server_cpu and r.result and r.result.rps]
    return statistics.median(v) if v else None


def paired(cells: dict[tuple[str, int, str], list[CacheRun]], group: str, c: int, a: str, b: str) -> list[float]:
    """rps(a) / rps(b) for every round in which both were measured (seconds apart: the noise-paired ratio)."""
    by_round = {r.round: r.result.rps for r in cells.get((group, c, b), []) if r.result and r.result.requests}
    return [r.result.rps / by_round[r.round] for r in cells.get((group, c, a), [])
            if r.result and r.result.requests and r.round in by_round]


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.0f}%"


def _f(v: float | None, fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def table(rows: list[dict[str, Any]], group: str) -> str:
    base = BASELINE[group]
    cols = ["target", "c", "rps", "rps range", "p50 ms", "p99 ms", f"x {base}"]
    cols += ["x bare"] if group == "miss" else []
    cols += ["cpu us/req", "srv cpu", "aux cpu", "gen cpu", "cpu0 other", "not " + ("HIT" if group == "hit" else "MISS"), "errors"]
    body = []
    for r in rows:
        if r["group"] != group:
            continue
        cells = [r["target"], str(r["concurrency"]), f"{r['rps']:.0f}", f"{r['rps_min']:.0f}-{r['rps_max']:.0f}",
                 f"{r['p50_ms']:.3f}", f"{r['p99_ms']:.3f}", _f(r.get("ratio_vs_base"), ".2f")]
        cells += [_f(r.get("ratio_vs_bare"), ".2f")] if group == "miss" else []
        cells += [_f(r["cpu_us_per_req"], ".0f"), _pct(r["server_cpu"]), _pct(r["aux_cpu"]), _pct(r["loadgen_cpu"]), _pct(r["other_cpu"]),
                  "" if r["unexpected"] is None else str(r["unexpected"]), str(r["errors"])]
        body.append(cells)
    if not body:
        return ""
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(cols)]

    def fmt(vals: list[str]) -> str:
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths, strict=True)))

    out = [fmt(cols), "-" * len(fmt(cols))]
    for i, b in enumerate(body):
        if i and b[1] != body[i - 1][1]:
            out.append("")
        out.append(fmt(b))
    return "\n".join(out)


def verdicts(rows: list[dict[str, Any]], concurrency: list[int]) -> list[dict[str, Any]]:
    """The issue's targets, each from the rows above (and the noise-paired per-round ratios)."""
    get = {(r["group"], r["concurrency"], r["target"]): r for r in rows}
    out: list[dict[str, Any]] = []

    def add(what: str, value: float | None, goal: str, ok: bool | None, note: str = "") -> None:
        out.append({"what": what, "value": value, "target": goal, "ok": ok, "note": note})

    def ratio(group: str, c: int, name: str, goal: float, what: str) -> None:
        r = get.get((group, c, name))
        if r is None or "ratio_vs_base" not in r:
            return
        p = r["paired_vs_base"]
        note = f"per round {min(p):.2f}-{statistics.median(p):.2f}-{max(p):.2f} (min-median-max)" if p else ""
        b = get.get((group, c, BASELINE[group]))
        if b and b["cpu_us_per_req"] and r["cpu_us_per_req"]:
            note += f"; CPU per request: {b['cpu_us_per_req'] / r['cpu_us_per_req']:.2f}"
        add(what, r["ratio_vs_base"], f">= {goal:.2f}", r["ratio_vs_base"] >= goal, note)

    hi_c, lo_c = max(concurrency), min(concurrency)
    ratio("hit", hi_c, "warmgate-memory", 0.60, f"warmgate-memory hits/s / dict hits/s, c={hi_c}")
    dict_row = get.get(("hit", lo_c, "dict"))
    for name, limit in (("warmgate-memory", 0.3), ("warmgate-redis", 1.0)):
        r = get.get(("hit", lo_c, name))
        if r is not None:
            note = f"dict {dict_row['p50_ms']:.3f} ms, +{r['p50_ms'] - dict_row['p50_ms']:.3f}" if dict_row else ""
            add(f"{name} hit p50 ms, c={lo_c}", r["p50_ms"], f"< {limit}", r["p50_ms"] < limit, note)
    for c in concurrency:
        for name in ("warmgate-miss", "warmgate-miss-redis"):
            ratio("miss", c, name, 0.90, f"{name} rps / warmgate-off rps, c={c}")
    return out


def print_verdicts(vs: list[dict[str, Any]]) -> None:
    w = max(len(v["what"]) for v in vs)
    for v in vs:
        mark = "ok  " if v["ok"] else "MISS"
        print(f"  {mark} {v['what']:{w}}  {v['value']:7.3f}  (target {v['target']})  {v['note']}")


# ----------------------------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, 1 s per measurement (~30 s)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--duration", type=int, default=2, help="seconds per measurement (default 2)")
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up before each measurement")
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    ap.add_argument("--targets", type=lambda s: s.split(","), default=list(DEFAULT_TARGETS),
                    help=f"comma-separated, from {', '.join(HIT_TARGETS + MISS_TARGETS)} "
                         f"(default: all but warmgate-miss-redis)")
    ap.add_argument("--pick", choices=["best", "median"], default="best", help="which round to report per cell")
    ap.add_argument("--upstream", choices=["sim", "stub"], default="stub",
                    help="the provider for misses: bench/overhead's stub (default, cheap) or warmgate sim")
    ap.add_argument("--agent-body", action="store_true",
                    help="request bodies the size of a coding agent's (~57 KB: loadgen.AGENT_SYSTEM, AGENT_TOOLS)")
    ap.add_argument("--model", default="gpt-sim")
    ap.add_argument("--api-key", default="sk-sim-1")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--json", type=Path, help="write all runs, the summary and the verdicts here")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 1, 0.3
    unknown = set(args.targets) - set(HIT_TARGETS + MISS_TARGETS)
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if not shutil.which("wrk"):
        ap.error("wrk is required (Debian: apt-get install wrk)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv])
    cpus = ov.pick_cpus(args.no_pin)
    if cpus:
        os.sched_setaffinity(0, {cpus[1]})
        print(f"pinning: servers on CPU {cpus[0]}; upstream, redis, wrk and this process on CPU {cpus[1]}")
    else:
        print("pinning: off (numbers are not comparable with notes/perf-ceiling.md)")
    auth = {"Authorization": f"Bearer {args.api_key}"}
    procs: list[subprocess.Popen[bytes]] = []
    skipped: dict[str, str] = {}
    runs: list[CacheRun] = []
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="warmgate-cache-bench-") as tmp:
        work = Path(tmp)
        try:
            try:
                targets = start_targets(args, cpus, work, procs, skipped)
            except RuntimeError as e:
                print(f"cannot start the benchmark: {e}", file=sys.stderr)
                return 1
            for t in list(targets):
                problem = prepare(t, args, auth)
                if problem:
                    skipped[t.name] = problem
                    print(f"{t.name}: SKIPPED: {problem}", file=sys.stderr)
                    targets.remove(t)
            groups = {g: [t for t in targets if t.group == g] for g in ("hit", "miss")}
            for rnd in range(1, args.rounds + 1):
                print(f"round {rnd}/{args.rounds}", flush=True)
                for c in args.concurrency:
                    for ts in groups.values():
                        k = (rnd - 1) % max(1, len(ts))
                        for t in ts[k:] + ts[:k]:
                            runs.append(measure(t, c, rnd, args, work, auth, cpus[0] if cpus else None))
        finally:
            for p in reversed(procs):
                ov.stop(p)
    rows = summarize(runs, targets, args.pick)
    vs = verdicts(rows, args.concurrency)
    print(f"\n$ {command}")
    print(f"{args.upstream} upstream for misses; ~1 KB chat bodies; {args.rounds} round(s) x {args.duration} s "
          f"per cell, {args.pick} round by rps shown; wall time {time.monotonic() - t_start:.0f} s")
    print("\ncache hits (one identical body, every response a HIT):")
    print(table(rows, "hit"))
    print("\ncache misses (a distinct body per request) vs pass-through:")
    print(table(rows, "miss"))
    print("\ntargets:")
    print_verdicts(vs)
    errs = error_lines(runs)  # type: ignore[arg-type]
    odd = [f"  {r.target} c={r.concurrency} round {r.round}: x-warmgate-cache {r.cache}" for r in runs
           for t in targets if t.name == r.target and r.unexpected(t.expect)]
    if errs or odd or skipped:
        print("\nerrors, unexpected cache headers and skipped targets:")
        print("\n".join(errs + odd + [f"  {k}: SKIPPED: {v}" for k, v in skipped.items()]))
    else:
        print("\nno errors; every hit-target response was a HIT and every warmgate-miss response a MISS")
    if args.json:
        doc = {
            "command": command, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "pinning": cpus, "python": platform.python_version(),
                        "platform": platform.platform()},
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "skipped": skipped, "summary": rows, "targets": vs,
            "runs": [{**run_json(r), "cache_headers": r.cache, "aux_cpu": r.aux_cpu} for r in runs],
        }
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
