"""Command line of the lag proxy: ``python tools/lagsim.py ...`` or ``netcode lagsim ...``.

  lagsim --listen 127.0.0.1:41000 --upstream 127.0.0.1:40000 --profile wifi --latency 100 --loss 5

Every error a user can cause (bad HOST:PORT, unknown profile, negative or out-of-range values, an
unreadable or malformed timeline, a port already in use) ends in one line and a non-zero exit.
Values are parsed here rather than by argparse types so that the messages stay one line however
the parser is embedded.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from typing import Any

from ..netsim.link import PROFILES, LinkConfig
from ..netsim.proxy import LagProxy, Timeline, TimelineError
from .options import split_address

__all__ = ["add_parser", "build_parser", "configs_from_args", "main"]

PROG = "lagsim"
DEFAULT_REORDER_DELAY = 0.020  # used when --reorder is set and the profile has no reorder delay

# flag suffix → (help, metavar)
_IMPAIRMENTS = {
    "latency": ("one-way delay, ms", "MS"),
    "jitter": ("uniform ± jitter around the latency, ms", "MS"),
    "loss": ("random loss, percent (e.g. 10 or 10%%)", "PCT"),
    "burst-loss": ("Gilbert–Elliott burst loss ENTER,EXIT,LOSS in percent (e.g. 1,25,90) or off", "E,X,L"),
    "dup": ("duplicated datagrams, percent", "PCT"),
    "reorder": ("datagrams held back by --reorder-delay, percent", "PCT"),
    "reorder-delay": (f"extra delay of reordered datagrams, ms (default: the profile's, "
                      f"else {DEFAULT_REORDER_DELAY * 1000:g})", "MS"),
    "bandwidth": ("bottleneck rate, kbit/s (0 or off = unlimited)", "KBPS"),
    "queue": ("bottleneck queue limit, bytes (with --bandwidth; 0 or off = unlimited)", "BYTES"),
}


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


def _one_line_error():
    def error(message: str):
        print(f"{PROG}: {message}", file=sys.stderr)
        raise SystemExit(2)
    return error


def _populate(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.error = _one_line_error()  # one line instead of usage + error, also when embedded as a subcommand
    p.add_argument("--listen", required=True, metavar="HOST:PORT",
                   help="where clients send (port 0 = any free port)")
    p.add_argument("--upstream", required=True, metavar="HOST:PORT", help="the real server")
    p.add_argument("--profile", default="perfect", metavar="NAME",
                   help=f"base impairments of both directions: {', '.join(PROFILES)} (default: perfect)")
    p.add_argument("--up-profile", metavar="NAME", help="base profile of client→server only")
    p.add_argument("--down-profile", metavar="NAME", help="base profile of server→client only")
    both = p.add_argument_group("impairments (override the profile in both directions)")
    per = p.add_argument_group("per-direction impairments (override the above; up = client→server)")
    for name, (text, metavar) in _IMPAIRMENTS.items():
        both.add_argument(f"--{name}", metavar=metavar, help=text)
    for direction in ("up", "down"):
        for name, (_, metavar) in _IMPAIRMENTS.items():
            per.add_argument(f"--{direction}-{name}", metavar=metavar, help=argparse.SUPPRESS)
    per.description = ("--up-latency, --down-loss, ...: every flag above also exists as --up-FLAG and --down-FLAG")
    p.add_argument("--timeline", metavar="FILE", help="scripted changes over time (grammar: docs/LAGSIM.md)")
    p.add_argument("--seed", metavar="N", help="seed of the impairment RNGs (default: random, printed)")
    p.add_argument("--stats", default="5", metavar="S", help="print stats every S seconds (0 = never; default 5)")
    p.add_argument("--duration", default="0", metavar="S", help="exit after S seconds (0 = until Ctrl-C)")
    p.add_argument("--idle-timeout", default="30", metavar="S",
                   help="forget a client (and close its upstream socket) after S idle seconds (default 30)")
    p.add_argument("--max-clients", default="1024", metavar="N", help="most simultaneous clients (default 1024)")
    p.add_argument("--loop", default="auto", choices=("auto", "uvloop", "asyncio"), help="event loop")
    p.set_defaults(func=_cmd_lagsim)
    return p


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``lagsim`` subcommand to an ``add_subparsers()`` object; ``args.func(args)`` runs it."""
    p = subparsers.add_parser("lagsim",
                              help="UDP proxy that adds latency, jitter, loss, ... between clients and a server",
                              description="UDP proxy that impairs traffic between clients and a server.")
    return _populate(p)


def build_parser() -> argparse.ArgumentParser:
    return _populate(argparse.ArgumentParser(prog=PROG, description="UDP proxy that impairs traffic between "
                                                                     "clients and a server (netcode lagsim)."))


# --- value parsing ------------------------------------------------------------------------------


def parse_host_port(text: str, flag: str, allow_zero: bool = False) -> tuple[str, int]:
    try:
        return split_address(text, allow_zero)
    except ValueError as e:
        raise UsageError(f"{flag}: {e}") from None


def _number(text: str, flag: str, what: str, minimum: float = 0.0, maximum: float | None = None,
            integer: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise UsageError(f"{flag}: expected {what}, got {text!r}") from None
    finite = value == value and abs(value) != float("inf")
    if not finite or value < minimum or (maximum is not None and value > maximum):
        bound = f"in {minimum:g}..{maximum:g}" if maximum is not None else f">= {minimum:g}"
        raise UsageError(f"{flag}: must be {bound} ({what}), got {text!r}")
    return value


def _percent(text: str, flag: str) -> float:
    return _number(text.strip().removesuffix("%"), flag, "a percentage", 0, 100) / 100.0


def _profile(name: str, flag: str) -> LinkConfig:
    if name not in PROFILES:
        raise UsageError(f"{flag}: unknown profile {name!r} (known: {', '.join(PROFILES)})")
    return PROFILES[name]


def _impairment_changes(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """LinkConfig changes from the --{prefix}FLAG options that were given."""
    changes: dict[str, Any] = {}

    def get(name: str) -> str | None:
        return getattr(args, (prefix + name).replace("-", "_"))

    for name in _IMPAIRMENTS:
        text = get(name)
        if text is None:
            continue
        flag = f"--{prefix}{name}"
        text = text.strip().lower()
        if name in ("latency", "jitter", "reorder-delay"):
            field = {"latency": "latency", "jitter": "jitter", "reorder-delay": "reorder_delay"}[name]
            changes[field] = _number(text.removesuffix("ms"), flag, "milliseconds") / 1000.0
        elif name in ("loss", "dup", "reorder"):
            changes[{"loss": "loss", "dup": "duplicate", "reorder": "reorder"}[name]] = _percent(text, flag)
        elif name == "burst-loss":
            if text in ("off", "0", "none"):
                changes.update(burst_enter=0.0, burst_exit=0.0, burst_loss=0.0)
                continue
            parts = text.replace(":", ",").split(",")
            if len(parts) != 3:
                raise UsageError(f"{flag}: expected ENTER,EXIT,LOSS in percent (e.g. 1,25,90) or off, got {text!r}")
            enter, exit_, loss = (_percent(part, flag) for part in parts)
            if enter > 0 and exit_ == 0:
                raise UsageError(f"{flag}: EXIT must be > 0 when ENTER > 0 (the burst would never end)")
            changes.update(burst_enter=enter, burst_exit=exit_, burst_loss=loss)
        elif name == "bandwidth":
            kbps = 0.0 if text in ("off", "none") else _number(text.removesuffix("kbps"), flag, "kbit/s")
            changes["bandwidth_bps"] = kbps * 1000.0 if kbps > 0 else None
        else:  # queue
            size = 0 if text in ("off", "none") else int(_number(text, flag, "a whole number of bytes", integer=True))
            changes["queue_limit_bytes"] = size if size > 0 else None
    return changes


def configs_from_args(args: argparse.Namespace) -> tuple[LinkConfig, LinkConfig]:
    """(up, down) configs: profile → per-direction profile → shared flags → per-direction flags."""
    base = _profile(args.profile, "--profile")
    shared = _impairment_changes(args, "")
    configs = []
    for direction in ("up", "down"):
        chosen = getattr(args, f"{direction}_profile")
        config = _profile(chosen, f"--{direction}-profile") if chosen is not None else base
        changes = {**shared, **_impairment_changes(args, f"{direction}-")}
        if changes.get("reorder", 0) > 0 and "reorder_delay" not in changes and config.reorder_delay == 0:
            changes["reorder_delay"] = DEFAULT_REORDER_DELAY
        try:
            config = config.replace(**changes)
        except ValueError as e:
            raise UsageError(f"{direction} link: {e}") from None
        configs.append(config)
    return configs[0], configs[1]


def _cmd_lagsim(args: argparse.Namespace) -> int:
    from ..aio.driver import run
    from ..aio.lagproxy import run_lagsim

    try:
        listen = parse_host_port(args.listen, "--listen", allow_zero=True)
        upstream = parse_host_port(args.upstream, "--upstream")
        up, down = configs_from_args(args)
        seed = None if args.seed is None else int(_number(args.seed, "--seed", "a whole number", integer=True))
        stats = _number(args.stats, "--stats", "seconds")
        duration = _number(args.duration, "--duration", "seconds")
        idle = _number(args.idle_timeout, "--idle-timeout", "seconds")
        if idle <= 0:
            raise UsageError(f"--idle-timeout: must be > 0 seconds, got {args.idle_timeout!r}")
        max_clients = int(_number(args.max_clients, "--max-clients", "a whole number", 1, integer=True))
        timeline = None
        if args.timeline is not None:
            try:
                timeline = Timeline.load(args.timeline)
            except (OSError, UnicodeDecodeError) as e:
                reason = getattr(e, "strerror", None) or str(e)
                raise UsageError(f"--timeline: cannot read {args.timeline!r}: {reason}") from None
            except TimelineError as e:
                raise UsageError(str(e)) from None
        proxy = LagProxy(upstream, up, down, seed=seed, idle_timeout=idle, max_clients=max_clients)
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    try:
        return run(_until_signalled(run_lagsim(proxy, listen, upstream, timeline, stats_interval=stats,
                                               duration=duration or None)), args.loop)
    except socket.gaierror as e:
        print(f"{PROG}: --upstream: cannot resolve {upstream[0]!r}: {e.strerror or e}", file=sys.stderr)
        return 1
    except OSError as e:
        cause = e.__cause__ if isinstance(e.__cause__, OSError) else e  # uvloop wraps the errno in __cause__
        print(f"{PROG}: cannot listen on {listen[0]}:{listen[1]}: {cause.strerror or cause}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _until_signalled(coro) -> int:
    """Run ``coro``; SIGINT/SIGTERM cancel it (so it prints its final stats) and give 128 + signal number."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # e.g. Windows, or not the main thread
            pass
    try:
        await coro
    except asyncio.CancelledError:
        if not received:
            raise
    return 128 + received[0] if received else 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv[1:]) and run; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a one-line usage error (2)
        return e.code if isinstance(e.code, int) else 2
    return args.func(args)
