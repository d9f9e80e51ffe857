"""Command-line entry point (filled in by the gateway core)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sim":
        from warmgate.sim import main as sim_main

        return sim_main(argv[1:])
    print("usage: warmgate {serve,check-config,sim,demo} ...", file=sys.stderr)
    return 2
