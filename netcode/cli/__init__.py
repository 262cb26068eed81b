"""The `netcode` command: host, play, replay and measure matches.

One module per command (``serve``, ``bots``, ``token``, ``games``, ``bench``, ``demo``, ``soak``,
``lagsim``, ``replay``); ``options`` holds what their flags share, ``security`` the key flags. Every error a user can cause ends in one line on
stderr and a non-zero exit, never a traceback. ``netcode client ...`` hands its arguments to the demo
client's own parser (``python -m client_demo``).
"""
from __future__ import annotations

import argparse
import sys

from .options import OneLineParser, add_trust_option, host_port, trust_all

__all__ = ["add_trust_option", "build_parser", "host_port", "main", "trust_all"]


def build_parser() -> OneLineParser:
    from . import bench, bots, demo, games, host, lagsim, matchmaker, replay, serve, soak, token

    p = OneLineParser(prog="netcode", description="Authoritative game netcode: host, play, replay, measure.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (bench, games, serve, host, matchmaker, bots, token, lagsim, soak, replay, demo):
        module.add_parser(sub)
    # `netcode client ...` is handed to client_demo's own parser in main(); listed here for --help
    sub.add_parser("client", help="the pygame demo client (same as python -m client_demo)")
    _own_usage(p)
    return p


def _own_usage(parser: argparse.ArgumentParser) -> None:
    """Let every (sub)command know its own parser, so main() reports a stray flag against its usage."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.set_defaults(_parser=child)
                _own_usage(child)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "client":
        # everything after `client` belongs to the client's own parser (argparse would claim --flags)
        try:
            from client_demo.__main__ import main as client_main
        except ImportError as e:  # installed without the client extra (no pygame)
            print(f"netcode client: the demo client needs pygame: pip install 'netcode[client]' ({e})",
                  file=sys.stderr)
            return 2
        return client_main(argv[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # an unknown flag belongs to the command's own usage, not netcode's
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not trust_all(getattr(args, "trust_games", ()), f"netcode {args.command}"):
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `netcode bots ... | head`
        sys.stderr.close()
        return 0
