"""`netcode` command line. Every error a user can cause ends in one clear line and a non-zero exit."""
from __future__ import annotations

import argparse
import sys


def host_port(text: str) -> tuple[str, int]:
    """Parse HOST:PORT for argparse."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    try:
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {port!r}") from None
    if not 0 < p < 65536:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {p}")
    return host.strip("[]"), p


def _cmd_bench(args) -> int:
    from .bench import SUITES, run_suite
    from .bench.report import print_table, save_json, machine

    names = args.suites or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"netcode bench: unknown suite {unknown[0]!r} (have: {', '.join(SUITES)})", file=sys.stderr)
        return 2
    results = []
    for name in names:
        try:
            from tqdm import tqdm
            bar = tqdm(desc=name, unit="run", leave=False, disable=not sys.stderr.isatty())
            progress = bar.update
        except ImportError:  # pragma: no cover - tqdm is a dependency
            bar, progress = None, None
        results.append(run_suite(name, quick=args.quick, progress=progress))
        if bar is not None:
            bar.close()
    m = machine()
    print(f"machine: {m['processor']}, {m['cpus']} cpus, {m['implementation']} {m['python']}")
    print_table(results)
    if args.json:
        save_json(args.json, results)
    return 0


def _cmd_demo(args) -> int:
    from .demo import main as demo_main
    return demo_main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="netcode", description="Authoritative game netcode: host, play, replay, measure.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("bench", help="run benchmarks (each with its baseline in the same run)")
    b.add_argument("suites", nargs="*", metavar="SUITE", help="suites to run (default: all)")
    b.add_argument("--quick", action="store_true", help="short runs (under a minute in all)")
    b.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    b.set_defaults(func=_cmd_bench)

    d = sub.add_parser("demo", help="host a local server with headless clients and print live stats")
    d.add_argument("--clients", type=int, default=3)
    d.add_argument("--duration", type=float, default=0.0, help="seconds (0 = until Ctrl-C)")
    d.add_argument("--port", type=int, default=0)
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
