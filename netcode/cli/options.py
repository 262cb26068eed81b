"""What the commands' flags share: one-line errors, ranges named by flag, HOST:PORT, game options, trust.

Every error a user can cause on a command line ends in one line on stderr and exit status 2: argparse's
own messages (an unknown flag, a value out of range) are folded into that line, with a pointer to the
command's own ``--help``.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys

TICK_RATES = (10, 128)  # state-sync ticks per second (ServerConfig's range)
FRAME_RATES = (15, 60)  # lockstep frames per second (LockstepConfig's range)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``netcode serve: argument --port: ... (see --help)``."""

    def error(self, message: str):  # argparse prints the usage block first; one line says as much
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def fail(command: str, message: str, status: int = 2) -> int:
    """Print ``netcode <command>: message`` on stderr; returns the exit status."""
    print(f"{command}: {message}", file=sys.stderr)
    return status


def _number(kind, text: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None


def int_in(lo: int | None = None, hi: int | None = None, *, zero: str | None = None):
    """An argparse type: an int in ``lo..hi`` (``zero``: what 0 means, when 0 is allowed outside the range)."""

    def parse(text: str) -> int:
        v = _number(int, text)
        if zero is not None and v == 0:
            return v
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            bounds = f"{lo}..{hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None
                                                                               else f"<= {hi}")
            extra = f" (or 0: {zero})" if zero is not None else ""
            raise argparse.ArgumentTypeError(f"must be {bounds}{extra}, got {v}")
        return v

    parse.__name__ = "integer"
    return parse


def float_at_least(lo: float, *, open_: bool = False, zero: str | None = None):
    """An argparse type: a number ``>= lo`` (``> lo`` with ``open_``; ``zero``: 0 allowed and what it means)."""

    def parse(text: str) -> float:
        v = _number(float, text)
        if v != v or v in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if zero is not None and v == 0:
            return v
        if v < lo or (open_ and v == lo):
            extra = f" (or 0: {zero})" if zero is not None else ""
            raise argparse.ArgumentTypeError(f"must be {'>' if open_ else '>='} {lo:g}{extra}, got {v:g}")
        return v

    parse.__name__ = "number"
    return parse


def float_in(lo: float, hi: float, *, open_lo: bool = False):
    """An argparse type: a number in ``lo..hi`` (``lo`` itself excluded with ``open_lo``)."""
    at_least = float_at_least(lo, open_=open_lo)

    def parse(text: str) -> float:
        v = at_least(text)
        if v > hi:
            raise argparse.ArgumentTypeError(f"must be {'>' if open_lo else '>='} {lo:g} and <= {hi:g}, got {v:g}")
        return v

    parse.__name__ = "number"
    return parse


def listen_port(text: str) -> int:
    """A port to listen on: 1..65535, or 0 for any free one (never silently another port)."""
    return int_in(1, 65535, zero="any free port")(text)


def resolve_host(host: str) -> str:
    """A host name as the IPv4 address datagrams will come from (replies are matched by address)."""
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]
    except (socket.gaierror, UnicodeError):
        raise argparse.ArgumentTypeError(f"cannot resolve host {host!r}") from None


def split_address(text: str, allow_zero: bool = False) -> tuple[str, int]:
    """HOST:PORT as (host, port), the one parser of addresses for every command; ValueError in words.
    ``allow_zero``: port 0 (any free one) is allowed, for an address to listen on."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"port must be a number, got {port!r}") from None
    low = 0 if allow_zero else 1
    if not low <= number <= 65535:
        raise ValueError(f"port must be in {low}..65535, got {number}")
    return host.strip("[]"), number


def host_port(text: str) -> tuple[str, int]:
    """HOST:PORT of a server (an argparse type): the host resolved to the IPv4 address replies come from."""
    try:
        host, port = split_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return resolve_host(host), port


host_port.__name__ = "HOST:PORT"


def parse_options(pairs: list[str] | None) -> dict:
    """``--set KEY=VALUE`` game options: VALUE as an int, a JSON value (lists, true/false) or else a string."""
    out = {}
    for text in pairs or []:
        key, sep, value = text.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--set expects KEY=VALUE, got {text!r}")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
    return out


def add_trust_option(parser) -> None:
    """``--game SPEC`` (repeatable) for commands that play or read a game someone else names."""
    parser.add_argument("--game", dest="trust_games", action="append", default=[], metavar="MODULE:ATTR",
                        help="a game that is not built in, trusted to be imported when the server or the replay "
                             "names it (also: the NETCODE_GAMES environment variable)")


def trust_all(specs, command: str) -> bool:
    """``trust`` each spec; on failure print one line for ``command`` and return False."""
    from ..game.registry import GameNotFound, trust

    for spec in specs or ():
        try:
            trust(spec)
        except GameNotFound as e:
            print(f"{command}: {e}", file=sys.stderr)
            return False
    return True


def address_in_use(host: str, port: int, e: OSError) -> str:
    """The one line for a socket that would not bind (uvloop keeps the system's reason in ``__cause__``)."""
    cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
    return f"cannot listen on {host}:{port}: {(cause.strerror or str(cause)).lower()}"


def add_queue_options(parser) -> None:
    """The matchmaker's queue rules (netcode host --matchmaker, netcode matchmaker)."""
    g = parser.add_argument_group("matchmaker queues")
    g.add_argument("--min-players", type=int_in(1, 64), default=2,
                   help="a match starts with at least this many once --wait passed")
    g.add_argument("--max-players", type=int_in(1, 64), default=8, help="players per match")
    g.add_argument("--wait", type=float_at_least(0), default=10.0,
                   help="seconds a ticket waits before its match starts with fewer (bots fill it)")
    g.add_argument("--no-bots", action="store_true", help="do not fill short matches with bots")


def queue_rules(args):
    """(QueueRules, None) from add_queue_options' flags, or (None, the one line saying why not)."""
    from ..hosting.matchmaking import QueueRules

    if args.min_players > args.max_players:
        return None, "--min-players is more than --max-players"
    return QueueRules(args.min_players, args.max_players, args.wait, bots=not args.no_bots), None
