"""Overhead benchmark: the same load against the upstream directly, a bare reference proxy and warmgate.

    python bench/overhead/run.py                 # ~2.5 min: 3 rounds x (plain, stream) x c=1,8,32
    python bench/overhead/run.py --quick         # ~30 s smoke run
    python bench/overhead/run.py --target litellm=http://127.0.0.1:4000 --target-key sk-1234

Processes are pinned as in notes/perf-ceiling.md: the proxy under test on one CPU, the upstream and
the load generator (this process and wrk) on another, so the proxy is the bottleneck. Targets are
interleaved (and their order rotated) inside every round so that noise hits them alike. See README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from loadgen import Body, Result, check, run_client, run_wrk
from report import Run, error_lines, run_json, summarize, table

HERE = Path(__file__).resolve().parent
READY = re.compile(r"listening on (http://\S+)")


@dataclass
class Target:
    name: str
    url: str  # the full chat completions URL
    headers: dict[str, str]
    model: str
    proc: subprocess.Popen[bytes] | None = None  # set when the CPU it burns is ours to measure
    log: Path | None = None
    bodies: dict[str, Body] = field(default_factory=dict)


def spawn(cmd: list[str], cpu: int | None, log: Path, timeout: float = 30.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start `cmd` (pinned to `cpu`), wait for its "... listening on http://HOST:PORT" line, return the URL."""
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = READY.search(log.read_text(errors="replace"))
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop(proc)
    tail = log.read_text(errors="replace").strip().splitlines()[-15:]
    raise RuntimeError(f"{shlex.join(cmd)} did not become ready:\n    " + "\n    ".join(tail))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_busy() -> dict[int, tuple[int, int]]:
    """Per-CPU (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *vals = line.split()
            v = [int(x) for x in vals[:8]]
            out[int(name[3:])] = (sum(v) - v[3] - v[4], sum(v))
    return out


def chat_url(url: str) -> str:
    """Accept an origin, a `.../v1` base URL or a full endpoint URL."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


WARMGATE_CONFIG = """\
server: {{host: 127.0.0.1, port: 0}}
providers:
  - name: sim
    api: openai
    base_url: {upstream}/v1
    accounts:
      - {{name: a1, api_key: {key}}}
models:
  {model}: sim
observability: {{access_log: {{enabled: "${{WG_ACCESS_LOG:-false}}", path: "${{WG_ACCESS_LOG_PATH:--}}"}}}}
"""


def start_targets(args: argparse.Namespace, cpus: tuple[int, int] | None, work: Path,
                  procs: list[subprocess.Popen[bytes]], skipped: dict[str, str]) -> list[Target]:
    proxy_cpu, load_cpu = cpus if cpus else (None, None)
    py = sys.executable
    if args.upstream == "sim":
        up_cmd = [py, "-m", "warmgate", "sim", "--host", "127.0.0.1", "--port", str(args.upstream_port)]
    else:
        up_cmd = [py, str(HERE / "stub_upstream.py"), "--port", str(args.upstream_port)]
    up_cmd += shlex.split(args.upstream_args)
    up_proc, upstream = spawn(up_cmd, load_cpu, work / "upstream.log")
    procs.append(up_proc)
    print(f"upstream ({args.upstream}): {upstream}")
    auth = {"Authorization": f"Bearer {args.api_key}"}
    targets = [Target("direct", chat_url(upstream), auth, args.model, up_proc, work / "upstream.log")]
    if "bare" not in args.skip:
        proc, url = spawn([py, str(HERE / "bare_proxy.py"), "--upstream", upstream, "--api-key", args.api_key],
                          proxy_cpu, work / "bare.log")
        procs.append(proc)
        targets.append(Target("bare", chat_url(url), auth, args.model, proc, work / "bare.log"))
    if "warmgate" not in args.skip:
        config = work / "warmgate.yaml"
        if args.warmgate_config:
            shutil.copy(args.warmgate_config, config)
        else:
            config.write_text(WARMGATE_CONFIG.format(upstream=upstream, key=args.api_key, model=args.model))
        os.environ["UPSTREAM_URL"] = upstream  # for ${UPSTREAM_URL} in a --warmgate-config file
        try:
            proc, url = spawn([py, "-m", "warmgate", "serve", "--config", str(config)], proxy_cpu,
                              work / "warmgate.log")
        except RuntimeError as e:
            skipped["warmgate"] = str(e)
            print(f"warmgate: SKIPPED, it did not start: {e}", file=sys.stderr)
        else:
            procs.append(proc)
            targets.append(Target("warmgate", chat_url(url), auth, args.model, proc, work / "warmgate.log"))
    for spec in args.target:
        name, _, url = spec.rpartition("=") if "=" in spec.split("//")[0] else ("", "", spec)
        name = name or f"target{len(targets)}"
        key = args.target_key or args.api_key
        targets.append(Target(name, chat_url(url), {"Authorization": f"Bearer {key}"}, args.target_model or args.model))
    for t in targets:
        print(f"  {t.name:10} {t.url}" + (f"  (pid {t.proc.pid})" if t.proc else ""))
    return targets


def measure(t: Target, mode: str, c: int, rnd: int, args: argparse.Namespace, work: Path,
            proxy_cpu: int | None) -> Run:
    stream = mode == "stream"
    body = t.bodies[mode]
    if t.proc is not None and t.proc.poll() is not None:
        tail = t.log.read_text(errors="replace").strip().splitlines()[-5:] if t.log else []
        return Run(t.name, mode, c, rnd, None, failure=f"exited with {t.proc.returncode}: " + " | ".join(tail))
    try:
        run_client(t.url, t.headers, body, c, args.warmup, stream)
        busy0 = cpu_busy()
        cpu0, wall0 = (cpu_seconds(t.proc.pid), time.perf_counter()) if t.proc else (0.0, 0.0)
        if stream or args.loadgen == "python":
            res = run_client(t.url, t.headers, body, c, args.duration, stream)
        else:
            res = run_wrk(t.url, t.headers, body, c, args.duration, work)
        srv = (cpu_seconds(t.proc.pid) - cpu0) / (time.perf_counter() - wall0) if t.proc else None
        busy1 = cpu_busy()
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        return Run(t.name, mode, c, rnd, None, failure=str(e))
    other = None
    if proxy_cpu is not None:  # busy time on the proxy CPU that is not the target's own: noise
        (b0, n0), (b1, n1) = busy0[proxy_cpu], busy1[proxy_cpu]
        own = srv if srv is not None and t.name in ("bare", "warmgate") else 0.0
        other = max(0.0, (b1 - b0) / max(1, n1 - n0) - own)
    return Run(t.name, mode, c, rnd, res, server_cpu=srv, other_cpu=other)


def compare_loadgens(t: Target, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """wrk vs the Python client on the same target: if they agree, the generator is not the limit."""
    out = []
    print(f"\nload generators on {t.name} (plain):")
    for c in args.concurrency:
        for name in ("wrk", "python"):
            run_client(t.url, t.headers, t.bodies["plain"], c, args.warmup, False)
            r: Result = (run_wrk(t.url, t.headers, t.bodies["plain"], c, args.duration, work) if name == "wrk"
                         else run_client(t.url, t.headers, t.bodies["plain"], c, args.duration, False))
            print(f"  {name:6} c={c:<3} {r.rps:8.0f} rps  p50 {r.p50_ms:.3f} ms  p99 {r.p99_ms:.3f} ms  "
                  f"generator cpu {r.loadgen_cpu * 100:.0f}%  errors {sum(r.errors.values())}")
            out.append({"target": t.name, **r.__dict__})
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, 1 s per measurement (~30 s)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--duration", type=int, default=2, help="seconds per measurement (default 2)")
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds of warm-up before each measurement")
    ap.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    ap.add_argument("--modes", type=lambda s: s.split(","), default=["plain", "stream"])
    ap.add_argument("--pick", choices=["best", "median"], default="best",
                    help="which round to report per cell (by rps; default best, as in perf-ceiling.md)")
    ap.add_argument("--loadgen", choices=["wrk", "python"], default="wrk", help="for plain requests")
    ap.add_argument("--compare-loadgens", action="store_true", help="first run wrk and the Python client on direct")
    ap.add_argument("--same-body", action="store_true",
                    help="send one identical body (default: every body distinct, so no cache hits or coalescing)")
    ap.add_argument("--agent-body", action="store_true",
                    help="request bodies the size of a coding agent's (~57 KB: loadgen.AGENT_SYSTEM, AGENT_TOOLS)")
    ap.add_argument("--upstream", choices=["sim", "stub"], default="sim")
    ap.add_argument("--upstream-port", type=int, default=0, help="fixed port for the upstream (for --target)")
    ap.add_argument("--upstream-args", default="", metavar="ARGS",
                    help='extra upstream options, e.g. "--per-token-ms 1" (sim), "--chunk-delay-ms 1" (stub)')
    ap.add_argument("--model", default="gpt-sim")
    ap.add_argument("--api-key", default="sk-sim-1", help="Bearer key sent to direct/bare/warmgate")
    ap.add_argument("--skip", action="append", default=[], choices=["bare", "warmgate"])
    ap.add_argument("--warmgate-config", type=Path, help="use this YAML (port 0; may use ${UPSTREAM_URL})")
    ap.add_argument("--target", action="append", default=[], metavar="[NAME=]URL",
                    help="an already running gateway to load too (repeatable)")
    ap.add_argument("--target-key", help="Bearer key for --target gateways (default --api-key)")
    ap.add_argument("--target-model", help="model name for --target gateways (default --model)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--json", type=Path, help="write all runs and the summary here")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 1, 0.3
    if args.loadgen == "wrk" and not shutil.which("wrk"):
        print("wrk not found: using the Python client for plain requests", file=sys.stderr)
        args.loadgen = "python"
    return args


def pick_cpus(no_pin: bool) -> tuple[int, int] | None:
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2 or not shutil.which("taskset"):
        return None
    return cpus[0], cpus[1]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv])
    cpus = pick_cpus(args.no_pin)
    if cpus:
        os.sched_setaffinity(0, {cpus[1]})  # the load generators run here; children inherit it
        print(f"pinning: proxies on CPU {cpus[0]}; upstream, wrk and the Python client on CPU {cpus[1]}")
    else:
        print("pinning: off (numbers are not comparable with notes/perf-ceiling.md)")
    procs: list[subprocess.Popen[bytes]] = []
    skipped: dict[str, str] = {}
    runs: list[Run] = []
    lg_compare: list[dict[str, Any]] = []
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="warmgate-bench-") as tmp:
        work = Path(tmp)
        try:
            try:
                targets = start_targets(args, cpus, work, procs, skipped)
            except RuntimeError as e:
                print(f"cannot start the benchmark: {e}", file=sys.stderr)
                if args.upstream == "sim":
                    print("(if the simulator is not there yet, try --upstream stub)", file=sys.stderr)
                return 1
            for t in list(targets):
                for mode in args.modes:
                    t.bodies[mode] = Body.chat(t.model, mode == "stream", unique=not args.same_body, agent=args.agent_body)
                    problem = check(t.url, t.headers, t.bodies[mode], mode == "stream")
                    if problem:
                        skipped[t.name] = f"{mode} check failed: {problem}"
                        print(f"{t.name}: SKIPPED, {mode} check failed: {problem}", file=sys.stderr)
                        targets.remove(t)
                        break
            if not targets or targets[0].name != "direct":
                print("the direct target does not work; nothing to compare against", file=sys.stderr)
                return 1
            if args.compare_loadgens:
                lg_compare = compare_loadgens(targets[0], args, work)
            for rnd in range(1, args.rounds + 1):
                order = targets[(rnd - 1) % len(targets):] + targets[:(rnd - 1) % len(targets)]
                print(f"round {rnd}/{args.rounds}: " + ", ".join(t.name for t in order), flush=True)
                for mode in args.modes:
                    for c in args.concurrency:
                        for t in order:
                            runs.append(measure(t, mode, c, rnd, args, work, cpus[0] if cpus else None))
        finally:
            for p in reversed(procs):
                stop(p)
    names = [t.name for t in targets]
    rows = summarize(runs, names, args.pick)
    elapsed = time.monotonic() - t_start
    print(f"\n$ {command}")
    print(f"{args.upstream} upstream; {'identical' if args.same_body else 'distinct'} ~1 KB chat bodies; "
          f"{args.rounds} round(s) x {args.duration} s per cell, {args.pick} round by rps shown; "
          f"wall time {elapsed:.0f} s")
    for mode in args.modes:
        gen = "wrk" if mode == "plain" and args.loadgen == "wrk" else "python client"
        print(f"\n{mode} chat completions ({gen}):")
        print(table(rows, mode))
    errs = error_lines(runs)
    if errs or skipped:
        print("\nerrors (non-2xx, broken streams, socket errors) and skipped targets:")
        print("\n".join(errs + [f"  {k}: SKIPPED: {v}" for k, v in skipped.items()]))
    else:
        print("\nno errors: every response was 2xx (and every stream ended with [DONE])")
    if args.json:
        doc = {
            "command": command, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "pinning": cpus, "python": platform.python_version(),
                        "platform": platform.platform()},
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "skipped": skipped, "loadgen_compare": lg_compare,
            "summary": rows, "runs": [run_json(r) for r in runs],
        }
        args.json.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
