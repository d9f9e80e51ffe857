"""Latency and throughput of the offline embedder (all-MiniLM-L6-v2 on onnxruntime).

For prompts of ~10, ~50 and ~200 tokens:
- the bare model call on the calling thread (tokenize + run + pool) at precision int8 (the default)
  and fp32 (the baseline: the export run as it is), in wall time and in CPU time of that thread (CPU
  time is what the model costs when the machine's other processes steal no cycles), and the ratio;
- concurrency 1: p50/p95/p99 of `await embedder.embed([prompt])` (thread hop + batcher included);
- concurrency 16: requests/s, CPU time of the process per request, and p50/p95/p99, with
  micro-batching (`max_batch` 32, runs of at most `max_batch_tokens` 512 padded tokens) and without
  (`max_batch` 1), as ratios. On a shared machine CPU per request is the steadier measure.

Every request embeds a different text (a number is prepended), so nothing is deduplicated.

    PYTHONPATH=src python bench/semantic/embed.py            # ~2 min on 2 shared cores
    PYTHONPATH=src python bench/semantic/embed.py --quick    # ~30 s
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

import numpy as np

from warmgate.embeddings.config import OfflineEmbedderConfig
from warmgate.embeddings.factory import build_offline
from warmgate.embeddings.offline import OfflineEmbedder

BASE = (
    "I am writing a small web service in Python that receives JSON documents from clients, validates "
    "them against a schema, stores them in PostgreSQL and answers with the stored record. Requests "
    "sometimes time out under load, and I do not know whether the database, the validation or the "
    "event loop is to blame. How should I measure where the time goes, which tools would you use, "
    "and what are the usual culprits in such a setup? Please also explain how connection pooling, "
    "prepared statements and batching of inserts change the picture, and when an async driver is "
    "worth it compared with a thread pool. Finally, suggest a plan for load testing the service "
    "before the next release, including what to log and which metrics to alert on in production. "
) * 3


def prompt(tokens: int, embedder: OfflineEmbedder) -> str:
    """A prompt of about `tokens` tokens ([CLS] and [SEP] included)."""
    words = BASE.split()
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(embedder.model.tokenize([" ".join(words[:mid])])[0]) < tokens:
            lo = mid + 1
        else:
            hi = mid
    return " ".join(words[:lo])


def pct(xs: list[float]) -> tuple[float, float, float]:
    a = np.array(xs) * 1000
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def fmt(p: tuple[float, float, float]) -> str:
    return f"p50 {p[0]:6.2f}  p95 {p[1]:6.2f}  p99 {p[2]:6.2f} ms"


def bare(embedder: OfflineEmbedder, text: str, n: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for i in range(n):
        t = f"{i} {text}"
        w0, c0 = time.perf_counter(), time.thread_time()
        embedder.embed_sync([t])
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return wall, cpu


async def sequential(embedder: OfflineEmbedder, text: str, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await embedder.embed([f"{i} {text}"])
        out.append(time.perf_counter() - t0)
    return out


async def concurrent(
    embedder: OfflineEmbedder, text: str, n: int, workers: int
) -> tuple[float, float, list[float]]:
    """(requests/s, CPU seconds of this process per request, latencies)."""
    lat: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await embedder.embed([f"{i} {text}"])
            lat.append(time.perf_counter() - t0)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return n / (time.perf_counter() - started), (time.process_time() - cpu) / n, lat


def wrap(base: OfflineEmbedder, max_batch: int) -> OfflineEmbedder:
    return OfflineEmbedder(base.model, name=base.name, dimensions=base.dimensions, max_batch=max_batch)


async def main() -> None:
    ap = argparse.ArgumentParser(description="offline embedder latency and throughput")
    ap.add_argument("--quick", action="store_true", help="fewer requests (~30 s)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    ap.add_argument("--precision", choices=("int8", "fp32"), default="int8", help="for the c=1 and c=16 runs")
    args = ap.parse_args()
    scale = 0.25 if args.quick else 1.0
    print("$ PYTHONPATH=src python " + " ".join(sys.argv))
    load = os.getloadavg()
    print(f"cpus {os.cpu_count()}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    models = {}
    for precision in ("int8", "fp32"):
        started = time.perf_counter()
        models[precision] = build_offline(OfflineEmbedderConfig(threads=args.threads, precision=precision))  # type: ignore[arg-type]
        print(f"model {models[precision].name}, {models[precision].dimensions} dims, "
              f"loaded in {time.perf_counter() - started:.2f} s, onnxruntime threads {args.threads}")
    base = models[args.precision]

    for tokens, n1, nc in ((10, 400, 640), (50, 300, 480), (200, 100, 160)):
        n1, nc = max(20, int(n1 * scale)), max(32, int(nc * scale))
        text = prompt(tokens, base)
        real = len(base.model.tokenize([text])[0])
        print(f"\n--- ~{tokens} tokens (this prompt: {real} tokens)")
        cpu_by: dict[str, list[float]] = {}
        for precision, m in models.items():
            bare(m, text, 10)  # warm up this shape
            w, cpu_by[precision] = bare(m, text, n1)
            if precision == args.precision:
                wall = w
            print(f"c=1  bare call {precision}, wall  {fmt(pct(w))}")
            print(f"c=1  bare call {precision}, CPU   {fmt(pct(cpu_by[precision]))}")
        print(f"c=1  CPU p50 int8 / fp32: {statistics.median(cpu_by['int8']) / statistics.median(cpu_by['fp32']):.2f}x")
        e = wrap(base, 32)
        lat = await sequential(e, text, n1)
        print(f"c=1  embedder.embed          {fmt(pct(lat))}   "
              f"(p50 {statistics.median(lat) / statistics.median(wall):.2f}x the bare call)")
        await e.close()
        rates: dict[int, float] = {}
        costs: dict[int, float] = {}
        for max_batch in (1, 32):
            e = wrap(base, max_batch)
            await concurrent(e, text, 16, 16)  # warm the batch shapes
            runs0 = e.batcher.runs
            rate, cost, lat = await concurrent(e, text, nc, 16)
            rates[max_batch], costs[max_batch] = rate, cost
            per_run = nc / max(1, e.batcher.runs - runs0)
            label = "micro-batching (max_batch 32)" if max_batch > 1 else "no batching (max_batch 1)   "
            print(f"c=16 {label}  {rate:7.1f} req/s  CPU {cost * 1000:5.2f} ms/req  {fmt(pct(lat))}  "
                  f"{per_run:4.1f} texts/run")
            await e.close()
        print(f"c=16 batching / none: throughput {rates[32] / rates[1]:.2f}x, CPU per request "
              f"{costs[32] / costs[1]:.2f}x")
    for m in models.values():
        await m.close()


if __name__ == "__main__":
    asyncio.run(main())
