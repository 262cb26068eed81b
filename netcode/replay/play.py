"""`netcode replay play FILE`: watch a recorded match in the pygame viewer (the demo client's renderer).

The lead wires it next to ``info`` and ``verify``::

    from .replay.cli import add_replay_parser
    from .replay.play import add_play_parser
    add_play_parser(add_replay_parser(sub))

Exit codes: 0 played, 2 not a usable replay or a bad option (one line on stderr, no traceback).
The viewer itself lives in ``client_demo/replay_viewer.py`` (the only place besides the client that
imports pygame); this module only parses and reports.
"""
from __future__ import annotations

import argparse
import sys

from ..cli import add_trust_option
from .cli import _fail
from .format import ReplayError

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


def add_play_parser(replay_subparsers) -> argparse.ArgumentParser:
    """Add ``play`` to the subparsers ``add_replay_parser`` returns; sets ``func`` to ``cmd_play``."""
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
    return p


def cmd_play(args) -> int:
    def bad(msg: str) -> int:
        print(f"netcode replay play: {msg}", file=sys.stderr)
        return 2

    if not SPEED_MIN <= args.speed <= SPEED_MAX:
        return bad(f"--speed must be {SPEED_MIN:g}..{SPEED_MAX:g}, got {args.speed:g}")
    if args.duration < 0:
        return bad(f"--duration must be >= 0, got {args.duration:g}")
    try:
        from client_demo.replay_viewer import run_viewer
    except ImportError as e:  # pygame (or the client) not installed
        return bad(f"the viewer needs pygame and client_demo ({e})")
    try:
        run_viewer(args.file, speed=args.speed, follow=args.follow, start=args.start, headless=args.headless,
                   duration=args.duration, screenshot=args.screenshot, size=args.size)
    except ReplayError as e:
        return _fail(e)
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
    """``python -m netcode.replay.play FILE ...``: the command without the rest of ``netcode``."""
    from .cli import add_replay_parser

    p = argparse.ArgumentParser(prog="netcode")
    add_play_parser(add_replay_parser(p.add_subparsers(dest="command", required=True)))
    args = p.parse_args(["replay", "play", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
