"""`netcode replay info|verify FILE`: exit 0 ok, 1 diverged, 2 not a usable replay (one line, no traceback)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from ..cli import add_trust_option
from .format import ReplayError


def add_replay_parser(subparsers) -> argparse._SubParsersAction:
    """Add ``replay`` to the ``netcode`` command's subparsers; returns replay's own subparsers
    (so ``replay play`` can be added next to ``info`` and ``verify``). Each action sets ``func``."""
    r = subparsers.add_parser("replay", help="inspect and verify recorded matches (.ncr files)",
                              description="Inspect and verify recorded matches.")
    sub = r.add_subparsers(dest="replay_command", required=True, metavar="ACTION")
    i = sub.add_parser("info", help="what a replay holds: mode, duration, players, sizes, damage")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--json", action="store_true", help="print the info as JSON")
    add_trust_option(i)
    i.set_defaults(func=cmd_info)
    v = sub.add_parser("verify", help="re-simulate and compare every checksum (exit 1 at a divergence)")
    v.add_argument("file", metavar="FILE")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes verifying runs between keyframes at once (default: up to 4 for long replays)")
    add_trust_option(v)
    v.set_defaults(func=cmd_verify)
    return sub


def _fail(e: ReplayError) -> int:
    print(f"netcode replay: {e}", file=sys.stderr)
    return 2


def _n(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def cmd_info(args) -> int:
    from .verify import info

    try:
        d = info(args.file)
    except ReplayError as e:
        return _fail(e)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    state = "closed cleanly" if d["clean"] else ("closed, damaged" if d["ended"] else "not closed (crash?)")
    print(f"{d['file']}: {d['mode']} match, {d['tick_rate']} Hz, {d['duration_s']:.1f} s "
          f"(ticks {d['start_tick']}..{d['last_tick']}), {_kb(d['size_bytes'])}, {state}")
    print(f"  {d['game']} (version {d['game_version']}), recorded {d['created']} by netcode {d['netcode']}; "
          f"seed {d['seed']}, {d['max_players']} player slots")
    print(f"  players ({d['player_count']}): " + (", ".join(
        f"{p['name']} (slot {p['slot']}, ticks {p['joined_tick']}..{'' if p['left_tick'] is None else p['left_tick']})"
        for p in d["players"]) or "none"))
    print("  records: " + ", ".join(f"{k} {n} ({_kb(d['bytes_by_kind'][k])})" for k, n in d["records"].items()))
    if d["events"]:
        print("  events: " + ", ".join(f"{k} {n}" for k, n in d["events"].items()))
    for w in d["warnings"]:
        print(f"  warning: {w}")
    return 0


def auto_workers(path) -> int:
    """One process for short replays (starting more costs more than it saves), up to 4 for long ones."""
    import os

    try:
        size = os.path.getsize(path)
    except OSError:
        return 1
    # ~40 KB per minute of an 8-player match: from a couple of minutes of play, forking pays off
    return 1 if size < 100_000 else max(1, min(4, os.cpu_count() or 1))


def cmd_verify(args) -> int:
    from .verify import verify

    bar = None
    progress = None
    if sys.stderr.isatty() and not args.json:
        try:
            from tqdm import tqdm

            bar = tqdm(desc="verify", unit="tick", unit_scale=True, leave=False, file=sys.stderr)

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            bar = None
    workers = args.workers
    if workers <= 0:
        workers = auto_workers(args.file)
    try:
        r = verify(args.file, progress=progress, workers=workers, clock=time.perf_counter)
    except ReplayError as e:
        return _fail(e)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(r.to_dict(), indent=2))
    elif r.ok:
        print(f"ok: {r.ticks} ticks re-simulated (ticks {r.first_tick}..{r.last_tick}), "
              f"{_n(r.checksums_checked, 'checksum')} and {_n(r.keyframes_checked, 'keyframe')} match; "
              f"{r.replay_s:.1f} s of play in {r.duration_s:.2f} s ({r.speed:.0f}x real time)")
    else:
        exp = "?" if r.expected is None else f"{r.expected:#x}"
        got = "?" if r.got is None else f"{r.got:#x}"
        print(f"DIVERGED at tick {r.first_divergence}: {r.detail} (recorded {exp}, re-simulated {got}); "
              f"{r.checksums_checked} checksums matched before it")
    if not args.json:
        for w in r.warnings:
            print(f"warning: {w}", file=sys.stderr)
    return 0 if r.ok else 1


def main(argv=None) -> int:
    """``python -m netcode.replay.cli info FILE``: the same commands without the rest of ``netcode``."""
    p = argparse.ArgumentParser(prog="netcode")
    add_replay_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
