"""`netcode bench [SUITE ...] [--quick] [--json FILE] [--plots DIR]`: every suite with its baseline in the same run."""
from __future__ import annotations

import sys

from .options import fail


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="run benchmarks (each with its baseline in the same run)")
    b.add_argument("suites", nargs="*", metavar="SUITE", help="suites to run (default: all)")
    b.add_argument("--quick", action="store_true", help="short runs (about three minutes in all on a 2-core machine)")
    b.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    b.add_argument("--plots", metavar="DIR", help="also draw PNG charts into DIR (needs: pip install 'netcode[plot]')")
    b.set_defaults(func=run)


def run(args) -> int:
    from ..bench import SUITES, run_suite
    from ..bench.report import machine, print_table, save_json

    names = args.suites or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        return fail("netcode bench", f"unknown suite {unknown[0]!r} (have: {', '.join(SUITES)})")
    if args.plots:
        from ..bench.plots import MissingMatplotlib, require_matplotlib
        try:
            require_matplotlib()  # before the runs, not after them
        except MissingMatplotlib as e:
            return fail("netcode bench", str(e))
    results = []
    try:
        for name in names:
            from tqdm import tqdm

            bar = tqdm(desc=name, unit="run", leave=False, disable=not sys.stderr.isatty())
            try:
                results.append(run_suite(name, quick=args.quick, progress=bar.update))
            finally:
                bar.close()
    except KeyboardInterrupt:  # what finished is still worth keeping
        print(f"netcode bench: interrupted; {len(results)} of {len(names)} suites finished", file=sys.stderr)
    m = machine()
    print(f"machine: {m['processor']}, {m['cpus']} cpus, {m['implementation']} {m['python']}")
    print_table(results)
    if args.json and results:
        save_json(args.json, results)
    if args.plots and results:
        from ..bench.plots import write_plots
        for path in write_plots(results, args.plots):
            print(f"plot: {path}")
    return 0 if len(results) == len(names) else 130
