"""`netcode replay info|verify|play FILE`: exit 0 ok, 1 diverged, 2 not a usable replay (one line, no traceback),
3 (verify) the file is damaged or was never closed: what was salvaged verified, but the match is not all there
(``--allow-truncated`` accepts that with exit 0).

``play`` opens the pygame viewer (``client_demo/replay_viewer.py``, which shares the demo client's
renderer); without pygame installed it says how to get it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from .options import add_trust_option, int_in


def add_parser(subparsers) -> None:
    """Add ``replay`` (info, verify, play) to the ``netcode`` command's subparsers; each action sets ``func``."""
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
    v.add_argument("--workers", type=int_in(0, 64), default=0, metavar="N",
                   help="processes verifying runs between keyframes at once (default: up to 4 for long replays)")
    v.add_argument("--allow-truncated", action="store_true",
                   help="exit 0 for a torn or unclosed file whose salvaged part verifies (a crashed server's)")
    add_trust_option(v)
    v.set_defaults(func=cmd_verify)
    _add_play(sub)


def _fail(e: Exception) -> int:  # a ReplayError (netcode.replay.format), one line
    print(f"netcode replay: {e}", file=sys.stderr)
    return 2


def _n(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def cmd_info(args) -> int:
    from ..replay.format import ReplayError
    from ..replay.verify import info

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
    from ..replay.format import ReplayError
    from ..replay.verify import verify

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
        salvaged = "" if r.clean else "salvaged part "
        print(f"{'ok' if r.clean else 'DAMAGED'}: {salvaged}{r.ticks} ticks re-simulated (ticks {r.first_tick}.."
              f"{r.last_tick}), {_n(r.checksums_checked, 'checksum')} and {_n(r.keyframes_checked, 'keyframe')} match; "
              f"{r.replay_s:.1f} s of play in {r.duration_s:.2f} s ({r.speed:.0f}x real time)")
        if not r.clean:
            print("the file is torn, corrupt or was never closed (see the warnings): the match is not all there"
                  + ("" if args.allow_truncated else "; --allow-truncated accepts it"))
    else:
        exp = "?" if r.expected is None else f"{r.expected:#x}"
        got = "?" if r.got is None else f"{r.got:#x}"
        print(f"DIVERGED at tick {r.first_divergence}: {r.detail} (recorded {exp}, re-simulated {got}); "
              f"{r.checksums_checked} checksums matched before it")
    if not args.json:
        for w in r.warnings:
            print(f"warning: {w}", file=sys.stderr)
    if not r.ok:
        return 1
    return 0 if r.clean or args.allow_truncated else 3


SPEED_MIN, SPEED_MAX = 0.25, 8.0


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if not sep or not (320 <= size[0] <= 8192 and 240 <= size[1] <= 8192):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT (at least 320x240), got {text!r}")
    return size


def _add_play(replay_subparsers) -> None:
    p = replay_subparsers.add_parser(
        "play", help="watch a replay: play/pause, speed, seek, follow a player, shots with their rewind audit",
        description="Watch a recorded match with the demo client's renderer. Keys: space play/pause, "
                    "-/+ or [/] speed, left/right -/+5 s, Home/End, 0-9 jump to 0-90 percent, click the timeline, "
                    "Tab follow the next player, F free camera, H help, Esc quit.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help=f"playback speed, {SPEED_MIN:g}..{SPEED_MAX:g} (default 1)")
    p.add_argument("--follow", metavar="NAME|SLOT", help="player to follow (default: the first who joined)")
    p.add_argument("--start", type=int, metavar="TICK", help="tick to start at (default: the first)")
    p.add_argument("--headless", action="store_true",
                   help="no window (SDL dummy driver): play, print what was shown, and exit")
    p.add_argument("--duration", type=float, default=0.0, metavar="S",
                   help="seconds of wall time to play (default: headless until the replay ends, "
                        "windowed until closed)")
    p.add_argument("--screenshot", metavar="PNG", help="save the last frame shown to this file")
    p.add_argument("--size", type=_size, default=(1280, 720), metavar="WxH", help="window size (default 1280x720)")
    add_trust_option(p)
    p.set_defaults(func=cmd_play)


def cmd_play(args) -> int:
    def bad(msg: str) -> int:
        print(f"netcode replay play: {msg}", file=sys.stderr)
        return 2

    if not SPEED_MIN <= args.speed <= SPEED_MAX:
        return bad(f"--speed must be {SPEED_MIN:g}..{SPEED_MAX:g}, got {args.speed:g}")
    if args.duration < 0:
        return bad(f"--duration must be >= 0, got {args.duration:g}")
    from ..replay.format import ReplayError

    try:
        from client_demo.replay_viewer import run_viewer
    except ImportError as e:  # pygame (or the client) not installed
        return bad(f"the viewer needs pygame: pip install 'netcode[client]' ({e})")
    try:
        run_viewer(args.file, speed=args.speed, follow=args.follow, start=args.start, headless=args.headless,
                   duration=args.duration, screenshot=args.screenshot, size=args.size)
    except ReplayError as e:
        return _fail(e)
    except ImportError as e:  # pygame, imported once the replay proved usable
        return bad(f"the viewer needs pygame: pip install 'netcode[client]' ({e})")
    except ValueError as e:  # --follow / --start that the replay does not have
        return bad(str(e))
    except OSError as e:  # the screenshot could not be written
        return bad(f"{getattr(e, 'filename', None) or args.screenshot}: {e.strerror or e}")
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # pygame.error: no usable video driver, a screenshot format it cannot write
        if type(e).__module__.startswith("pygame") or type(e).__name__ == "error":
            return bad(f"pygame: {e}")
        raise
    return 0


def main(argv=None) -> int:
    """``python -m netcode.cli.replay info FILE``: the same commands without the rest of ``netcode``."""
    from . import main as netcode_main

    return netcode_main(["replay", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
