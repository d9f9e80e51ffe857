"""Where does a proxy's CPU go? Load one target with wrk while py-spy samples it; print the top functions.

    python bench/overhead/hotspots.py                      # warmgate, pass-through (cache off), c=32, 15 s
    python bench/overhead/hotspots.py --cache hit          # warmgate, memory cache, every request a hit
    python bench/overhead/hotspots.py --cache miss         # warmgate, memory cache, every request a stored miss
    python bench/overhead/hotspots.py --target bare        # the reference proxy, for comparison
    python bench/overhead/hotspots.py --target dict --cache hit   # the bare dict-lookup server (hit ceiling)

It also prints the target's CPU time per request (utime + stime from /proc over the measured requests),
which is steadier than requests/s on a shared machine: at full load, throughput ~ 1 / CPU per request.
Self time ("own") is where the samples' innermost frame was; "incl" counts a function once per sample
in which it appears anywhere on the stack.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from loadgen import Body, run_wrk
from run import HERE, WARMGATE_CONFIG, chat_url, cpu_seconds, spawn, stop

CACHE_ON = "cache: {enabled: true}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=["warmgate", "bare", "dict"], default="warmgate")
    ap.add_argument("--cache", choices=["off", "hit", "miss"], default="off")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--top", type=int, default=35)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--no-spy", action="store_true", help="only measure CPU per request")
    args = ap.parse_args()
    if not args.no_spy and shutil.which("py-spy") is None:
        sys.exit("py-spy is not installed: pip install py-spy")

    work = Path(tempfile.mkdtemp(prefix="wg-profile-"))
    procs: list[subprocess.Popen[bytes]] = []
    py = sys.executable
    key = "sk-sim-1"
    try:
        up, upstream = spawn([py, str(HERE / "stub_upstream.py"), "--port", "0"], 1, work / "upstream.log")
        procs.append(up)
        if args.target == "dict":
            proc, url = spawn([py, str(HERE.parent / "cache" / "dict_server.py"), "--port", "0"], 0, work / "target.log")
        elif args.target == "bare":
            proc, url = spawn([py, str(HERE / "bare_proxy.py"), "--upstream", upstream, "--api-key", key], 0,
                              work / "target.log")
        else:
            config = work / "warmgate.yaml"
            text = WARMGATE_CONFIG.format(upstream=upstream, key=key, model="gpt-sim")
            config.write_text(text + (CACHE_ON if args.cache != "off" else ""))
            proc, url = spawn([py, "-m", "warmgate", "serve", "--config", str(config)], 0, work / "target.log")
        procs.append(proc)
        body = Body.chat("gpt-sim", stream=False, unique=args.cache != "hit")
        headers = {"Authorization": f"Bearer {key}"}
        run_wrk(chat_url(url), headers, body, args.concurrency, 2, work)  # warm-up (and fills the hit entry)
        spy = None
        if not args.no_spy:
            spy = subprocess.Popen(
                ["py-spy", "record", "--pid", str(proc.pid), "--rate", str(args.rate), "--format", "raw",
                 "--duration", str(args.duration + 1), "--output", str(work / "spy.txt"), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        if body.unique:  # a fresh nonce, or the measured run would hit the warm-up's stored misses
            body = Body.chat("gpt-sim", stream=False, unique=True)
        cpu0 = cpu_seconds(proc.pid)
        res = run_wrk(chat_url(url), headers, body, args.concurrency, args.duration, work)
        cpu = cpu_seconds(proc.pid) - cpu0
        print(f"{args.target} cache={args.cache} c={args.concurrency}: {res.rps:.0f} rps, p50 {res.p50_ms:.3f} ms, "
              f"p99 {res.p99_ms:.3f} ms, CPU {cpu / res.requests * 1e6:.1f} us/request, errors {res.errors or 0}")
        if spy is not None:
            spy.wait(timeout=args.duration + 30)
            report(work / "spy.txt", args.top)
    finally:
        for p in procs:
            stop(p)


def report(path: Path, top: int) -> None:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    print(f"\n{total} samples. Top functions by own time:")
    for f, n in own.most_common(top):
        print(f"  {n / total * 100:5.1f}%  {f}")
    print("\nwarmgate functions by inclusive time:")
    for f, n in [(f, n) for f, n in incl.most_common() if "warmgate" in f][:top]:
        print(f"  {n / total * 100:5.1f}%  {f}")


def _short(frame: str) -> str:
    """`fn (path/to/module.py:123)` -> `fn (module.py)`; per-line detail spreads one function thin."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if parts else path
    return f"{name} ({short})"


if __name__ == "__main__":
    main()
