"""The `warmgate` command: serve, check-config, sim, demo, cache-config, config."""

from __future__ import annotations

import argparse
import sys

from warmgate.config_file import ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warmgate", description="An LLM API gateway that keeps calls on warm caches.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", "-c", required=True, help="the YAML configuration file")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port (0 = any free port)")
    serve.add_argument("--workers", type=int, help="override server.workers (processes sharing the port)")

    check = sub.add_parser("check-config", help="validate a configuration file; non-zero exit on problems")
    check.add_argument("file")

    sub.add_parser("sim", help="run the provider simulator (see `warmgate sim --help`)", add_help=False)

    demo = sub.add_parser("demo", help="run the simulator and the gateway and send a short workload through")
    demo.add_argument("--requests", type=int, default=24, help="how many requests the workload sends")

    stats = sub.add_parser("stats", help="print a running gateway's hit rates, savings and health")
    stats.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway's base URL")
    stats.add_argument("--admin-key", help="the gateway's admin_key (needed when one is configured)")
    stats.add_argument("--json", action="store_true", help="print the raw JSON summary")
    from warmgate.manage.cli import add_commands

    add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "sim":
        from warmgate.sim import main as sim_main

        return sim_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return _check_config(args.file)
    if args.command == "serve":
        return _serve(args)
    if args.command == "demo":
        from warmgate.demo import run_demo

        return run_demo(requests=args.requests)
    if args.command == "stats":
        from warmgate.observe.client import run_stats

        return run_stats(args.url, args.admin_key, args.json)
    if args.command in ("cache-config", "config"):
        from warmgate.manage.cli import run

        return run(args)
    return 2


def _check_config(path: str) -> int:
    try:
        config = load_config(path)
    except ConfigError as e:
        print(f"{e.source}: {len(e.problems)} problem{'s' if len(e.problems) != 1 else ''}", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    accounts = sum(len(p.accounts) for p in config.providers)
    print(
        f"{path}: ok ({len(config.providers)} providers, {accounts} accounts, {len(config.models)} models, "
        f"{'open gateway' if config.keys is None else f'{len(config.keys)} gateway keys'})"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from warmgate.server.run import configure_logging, serve

    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"warmgate: invalid configuration {e.source}:", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("workers", args.workers)) if v is not None}
    if overrides:
        config = config.model_copy(update={"server": config.server.model_copy(update=overrides)})
    configure_logging()
    return serve(config)
