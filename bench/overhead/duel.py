"""Two servers under the same load at the same time on the same CPU: a cost ratio that noise hits alike.

    python bench/overhead/duel.py bare warmgate                 # pass-through: bare proxy vs warmgate
    python bench/overhead/duel.py dict warmgate-hit             # cache hits: dict server vs warmgate
    python bench/overhead/duel.py warmgate warmgate --env-b WG_X=1   # A/B of one change (env toggles)

Both servers are pinned to the same CPU (CPU 0), each driven by its own `wrk -c{c}` (both on CPU 1)
for `--duration` seconds, `--rounds` times. The scheduler shares the CPU evenly between the two busy
servers, so requests/s B / requests/s A is the inverse ratio of their CPU cost per request, and
whatever else the machine does slows both alike (sequential runs on a shared machine disagree by
+-30 %). Kinds: `bare` (bare_proxy.py), `warmgate` (pass-through, cache off), `warmgate-miss` (cache on,
distinct bodies: stored misses), `warmgate-hit` (cache on, one body), `dict` (bench/cache/dict_server.py).
Upstream (CPU 1): `stub_upstream.py`, or with `--upstream sim` the provider simulator (`warmgate sim`).

`--alone` is the cross-check: the same two servers, but loaded one after the other, each alone on
CPU 0 (the side that goes first alternates by round). Its rounds are noisier (the machine drifts
between cells), so it needs more of them; its median agreed with the duel's when both were run
(bench/cache/README.md, session 9).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from loadgen import Body, Result, run_wrk
from run import HERE, WARMGATE_CONFIG, chat_url, cpu_seconds, spawn, stop

KINDS = ("bare", "warmgate", "warmgate-miss", "warmgate-hit", "dict")


def start(kind: str, upstream: str, work: Path, tag: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    py = sys.executable
    old = dict(os.environ)
    os.environ.update(env)
    try:
        if kind == "bare":
            return spawn([py, str(HERE / "bare_proxy.py"), "--upstream", upstream, "--api-key", "sk-sim-1"], 0,
                         work / f"{tag}.log")
        if kind == "dict":
            return spawn([py, str(HERE.parent / "cache" / "dict_server.py"), "--port", "0"], 0, work / f"{tag}.log")
        config = work / f"{tag}.yaml"
        text = WARMGATE_CONFIG.format(upstream=upstream, key="sk-sim-1", model="gpt-sim")
        config.write_text(text + ("cache: {enabled: true, memory: {max_bytes: \"${WG_MEM:-268435456}\"}}\n" if kind != "warmgate" else ""))
        return spawn([py, "-m", "warmgate", "serve", "--config", str(config)], 0, work / f"{tag}.log")
    finally:
        os.environ.clear()
        os.environ.update(old)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", choices=KINDS)
    ap.add_argument("b", choices=KINDS)
    ap.add_argument("--env-a", action="append", default=[], metavar="K=V")
    ap.add_argument("--env-b", action="append", default=[], metavar="K=V")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--upstream", choices=["stub", "sim"], default="stub",
                    help="stub_upstream.py (default, the cheapest answer) or the provider simulator")
    ap.add_argument("--stream", action="store_true",
                    help='streamed chat completions ("stream": true; wrk reads each whole SSE response)')
    ap.add_argument("--agent-body", action="store_true",
                    help="request bodies the size of a coding agent's (~57 KB: loadgen.AGENT_SYSTEM, AGENT_TOOLS)")
    ap.add_argument("--upstream-args", default="", metavar="ARGS",
                    help='passed to the upstream, e.g. "--chunk-delay-ms 1" (the stub: paced stream events)')
    ap.add_argument("--alone", action="store_true",
                    help="load one server at a time (alternating which goes first), each alone on CPU 0")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wg-duel-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if args.upstream == "sim":  # the core issue's set-up: the provider simulator answering at once
            up_cmd = [sys.executable, "-m", "warmgate", "sim", "--host", "127.0.0.1", "--port", "0"]
        else:
            up_cmd = [sys.executable, str(HERE / "stub_upstream.py"), "--port", "0"]
        up_cmd += shlex.split(args.upstream_args)
        up, upstream = spawn(up_cmd, 1, work / "up.log")
        procs.append(up)
        sides = []
        for tag, kind, env in (("a", args.a, args.env_a), ("b", args.b, args.env_b)):
            proc, url = start(kind, upstream, work / "", tag, dict(e.split("=", 1) for e in env))
            procs.append(proc)
            body = Body.chat("gpt-sim", stream=args.stream, unique=kind != "warmgate-hit" and kind != "dict",
                             agent=args.agent_body)
            sides.append((f"{tag}:{kind}", proc, chat_url(url), body))
        headers = {"Authorization": "Bearer sk-sim-1"}
        for _, _, url, body in sides:  # warm-up, and the hit entry
            (work / "w").mkdir(exist_ok=True)
            run_wrk(url, headers, body, args.concurrency, 1, work / "w")
        ratios, cpu_ratios = [], []
        print(f"{'round':>5}  {sides[0][0]:>16} rps  us/req  {sides[1][0]:>16} rps  us/req   b/a rps  a/b cpu")
        for rnd in range(args.rounds):
            results: dict[int, Result] = {}
            cpu: dict[int, float] = {}

            def drive(i: int, results: dict[int, Result] = results, cpu: dict[int, float] = cpu) -> None:
                _, proc, url, body = sides[i]
                if body.unique:  # a fresh nonce per round, or a caching side would hit last round's bodies
                    body = Body.chat("gpt-sim", stream=args.stream, unique=True, agent=args.agent_body)
                d = work / f"r{i}"
                d.mkdir(exist_ok=True)
                c0 = cpu_seconds(proc.pid)
                results[i] = run_wrk(url, headers, body, args.concurrency, args.duration, d)
                cpu[i] = cpu_seconds(proc.pid) - c0

            if args.alone:  # one after the other; the first side alternates, so a drift hits both alike
                for i in ((0, 1) if rnd % 2 == 0 else (1, 0)):
                    drive(i)
            else:
                threads = [threading.Thread(target=drive, args=(i,)) for i in (0, 1)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            us = [cpu[i] / results[i].requests * 1e6 for i in (0, 1)]
            ratio = results[1].rps / results[0].rps
            ratios.append(ratio)
            cpu_ratios.append(us[0] / us[1])
            print(f"{rnd + 1:>5}  {results[0].rps:>20.0f}  {us[0]:6.1f}  {results[1].rps:>20.0f}  {us[1]:6.1f}"
                  f"   {ratio:7.3f}  {us[0] / us[1]:7.3f}")
        print(f"median b/a requests/s {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}); "
              f"median a/b CPU per request {statistics.median(cpu_ratios):.3f}")
    finally:
        for p in procs:
            stop(p)


if __name__ == "__main__":
    main()
