"""Python opcodes per request, per function: a stored miss against the pass-through, in-process.

    python bench/overhead/opcodes.py              # the functions a stored miss adds opcodes to
    python bench/overhead/opcodes.py --lines      # per source line instead of per function

Deterministic (unlike timings on a shared machine), so it shows what a small change to the miss
path removes. Each request goes the way the server sends it: `answer_now` first (the protocol's
fast path), then the ASGI app with what that prepared. The upstream is `app_micro.py`'s stand-in
(the answer parsed and its usage read, as the router does). Opcodes are not time: the C work
behind them (SHA-256, orjson, the store's dict) and cold caches are not counted.
"""

from __future__ import annotations

import argparse
import collections
import sys
from types import FrameType
from typing import Any

import orjson
import uvloop
from app_micro import ANSWER, CONFIG, scope, unique_bodies

from warmgate.config_file import parse_config
from warmgate.dialects.usage import read_usage
from warmgate.exchange import Reply
from warmgate.server.app import GatewayApp
from warmgate.server.run import tune_gc


async def count(cache_on: bool, n: int, lines: bool) -> collections.Counter[str]:
    app = GatewayApp(parse_config(CONFIG if cache_on else CONFIG.replace("enabled: true", "enabled: false")))
    tune_gc()
    await app.startup()

    async def forward(req: Any, resolved: Any, body: Any, ask: bool = False) -> Reply:
        reply = Reply(200, [(b"content-type", b"application/json")], body=ANSWER)
        reply.json = orjson.loads(ANSWER)
        reply.usage = read_usage("chat.completions", reply.json)
        return reply

    app.pipeline._forward = forward
    counts: collections.Counter[str] = collections.Counter()

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            name = f"{code.co_filename.rsplit('/src/', 1)[-1]}:{code.co_name}"
            counts[f"{name}:{frame.f_lineno}" if lines else name] += 1
        return tracer

    async def drive(bodies: list[bytes], traced: bool) -> None:
        sent: list[Any] = []
        for body in bodies:
            msg = {"type": "http.request", "body": body, "more_body": False}

            async def receive(msg: dict[str, Any] = msg) -> dict[str, Any]:
                return msg

            async def send(m: Any) -> None:
                sent.append(m)

            sc = scope(body)
            if traced:
                sys.settrace(tracer)
            if app.answer_now(sc, body) is None:
                await app(sc, receive, send)
            sys.settrace(None)
        assert sent[-2]["status"] == 200, sent[-2]

    bodies = unique_bodies(n + 10, "op")
    await drive(bodies[:10], False)  # warm-up: memos filled, pools open
    await drive(bodies[10:], True)
    await app.shutdown()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="requests traced per side")
    ap.add_argument("--lines", action="store_true", help="per source line instead of per function")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    off = uvloop.run(count(False, args.n, args.lines))
    miss = uvloop.run(count(True, args.n, args.lines))
    n = args.n
    print(f"opcodes per request: cache off {sum(off.values()) / n:.0f}, stored miss {sum(miss.values()) / n:.0f}, "
          f"difference {(sum(miss.values()) - sum(off.values())) / n:.0f}")
    rows = sorted(((miss[k] - off[k]) / n, miss[k] / n, k) for k in set(off) | set(miss))
    print(f"{'more':>7} {'miss':>7}  function")
    for more, total, name in reversed(rows[-args.top:]):
        if more:
            print(f"{more:7.1f} {total:7.1f}  {name}")


if __name__ == "__main__":
    main()
