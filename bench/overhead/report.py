"""Pick one round per (mode, concurrency, target), compute ratios against the same run's baselines, print.

Baselines (STYLE habit 11): `direct` (client -> upstream) for added latency and `bare` (the reference
proxy) for the throughput ratio; both are measured in the same run, interleaved with the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from loadgen import Result


@dataclass
class Run:
    """One measurement of one target in one round; `server_cpu` is the target process's CPU seconds per
    wall second (1.0 = one full core; None when it is not our process)."""

    target: str
    mode: str  # "plain" | "stream"
    concurrency: int
    round: int
    result: Result | None
    server_cpu: float | None = None
    other_cpu: float | None = None  # busy share of the proxy CPU not used by the target: foreign noise
    failure: str | None = None


def pick(runs: list[Run], how: str) -> tuple[Run, float, float] | None:
    """The best (highest rps) or median-rps run of one cell, with the rps range over all its rounds."""
    ok = sorted((r for r in runs if r.result is not None and r.result.requests), key=lambda r: r.result.rps)  # type: ignore[union-attr]
    if not ok:
        return None
    chosen = ok[-1] if how == "best" else ok[(len(ok) - 1) // 2]
    return chosen, ok[0].result.rps, ok[-1].result.rps  # type: ignore[union-attr]


def summarize(runs: list[Run], targets: list[str], how: str) -> list[dict[str, Any]]:
    cells: dict[tuple[str, int, str], list[Run]] = {}
    for r in runs:
        cells.setdefault((r.mode, r.concurrency, r.target), []).append(r)
    rows: list[dict[str, Any]] = []
    for mode in ("plain", "stream"):
        for c in sorted({k[1] for k in cells if k[0] == mode}):
            picked = {t: pick(cells.get((mode, c, t), []), how) for t in targets}
            direct, bare = picked.get("direct"), picked.get("bare")
            for t in targets:
                p = picked[t]
                if p is None:
                    continue
                run, lo, hi = p
                res = run.result
                assert res is not None
                row: dict[str, Any] = {
                    "mode": mode, "concurrency": c, "target": t, "round": run.round,
                    "rounds": len(cells.get((mode, c, t), [])), "rps": res.rps, "rps_min": lo, "rps_max": hi,
                    "p50_ms": res.p50_ms, "p99_ms": res.p99_ms,
                    "ttfc_p50_ms": res.ttfc_p50_ms, "ttfc_p99_ms": res.ttfc_p99_ms,
                    "requests": res.requests, "errors": sum(res.errors.values()),
                    "server_cpu": run.server_cpu, "other_cpu": run.other_cpu, "loadgen_cpu": res.loadgen_cpu, "loadgen": res.loadgen,
                }
                if t != "direct" and direct is not None:
                    d = direct[0].result
                    assert d is not None
                    row["added_p50_ms"] = res.p50_ms - d.p50_ms
                    row["added_p99_ms"] = res.p99_ms - d.p99_ms
                    if mode == "stream" and res.ttfc_p50_ms is not None and d.ttfc_p50_ms is not None:
                        row["added_ttfc_p50_ms"] = res.ttfc_p50_ms - d.ttfc_p50_ms
                        row["added_ttfc_p99_ms"] = (res.ttfc_p99_ms or 0) - (d.ttfc_p99_ms or 0)
                    row["ratio_vs_direct"] = res.rps / d.rps
                if t not in ("direct", "bare") and bare is not None:
                    row["ratio_vs_bare"] = res.rps / bare[0].result.rps  # type: ignore[union-attr]
                rows.append(row)
    return rows


def _f(v: Any, fmt: str, sign: bool = False) -> str:
    if v is None:
        return ""
    return (f"{v:+{fmt}}" if sign else f"{v:{fmt}}")


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.0f}%"


PLAIN_COLS = ["target", "c", "rps", "rps range", "p50 ms", "p99 ms", "+p50 ms", "+p99 ms",
              "x bare", "x direct", "srv cpu", "gen cpu", "cpu0 other", "errors"]
STREAM_COLS = ["target", "c", "streams/s", "range", "ttfc p50", "ttfc p99", "p50 ms", "p99 ms",
               "+ttfc p50", "+ttfc p99", "+p50 ms", "+p99 ms", "x bare", "x direct", "srv cpu", "gen cpu", "cpu0 other", "errors"]


def _cells(row: dict[str, Any]) -> list[str]:
    stream = row["mode"] == "stream"
    out = [row["target"], str(row["concurrency"]), f"{row['rps']:.0f}",
           f"{row['rps_min']:.0f}-{row['rps_max']:.0f}"]
    if stream:
        out += [_f(row["ttfc_p50_ms"], ".3f"), _f(row["ttfc_p99_ms"], ".3f")]
    out += [_f(row["p50_ms"], ".3f"), _f(row["p99_ms"], ".3f")]
    if stream:
        out += [_f(row.get("added_ttfc_p50_ms"), ".3f", True), _f(row.get("added_ttfc_p99_ms"), ".3f", True)]
    out += [_f(row.get("added_p50_ms"), ".3f", True), _f(row.get("added_p99_ms"), ".3f", True),
            _f(row.get("ratio_vs_bare"), ".2f"), _f(row.get("ratio_vs_direct"), ".2f"),
            _pct(row["server_cpu"]), _pct(row["loadgen_cpu"]), _pct(row["other_cpu"]), str(row["errors"])]
    return out


def table(rows: list[dict[str, Any]], mode: str) -> str:
    cols = STREAM_COLS if mode == "stream" else PLAIN_COLS
    body = [_cells(r) for r in rows if r["mode"] == mode]
    if not body:
        return ""
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(cols)]
    line = "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(cols, widths, strict=True)))
    out = [line, "-" * len(line)]
    prev_c = None
    for b in body:
        if prev_c is not None and b[1] != prev_c:
            out.append("")
        prev_c = b[1]
        out.append("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(b, widths, strict=True))))
    return "\n".join(out)


def error_lines(runs: list[Run]) -> list[str]:
    out = []
    for r in runs:
        if r.failure:
            out.append(f"  {r.mode:6} {r.target:10} c={r.concurrency:<3} round {r.round}: FAILED: {r.failure}")
        elif r.result is not None and r.result.errors:
            out.append(f"  {r.mode:6} {r.target:10} c={r.concurrency:<3} round {r.round}: {r.result.errors}")
    return out


def run_json(r: Run) -> dict[str, Any]:
    return {"target": r.target, "mode": r.mode, "concurrency": r.concurrency, "round": r.round,
            "server_cpu": r.server_cpu, "other_cpu": r.other_cpu,
            "failure": r.failure, **(asdict(r.result) if r.result else {})}
