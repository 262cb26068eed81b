"""`netcode host`: many matches of any game, both modes, on a few processes; optionally the matchmaker
that hands out their connect tokens, and Prometheus metrics. docs/HOSTING.md."""
from __future__ import annotations

import os

from .options import fail, float_at_least, int_in, listen_port
from .security import add_key_options, private_key, protocol_id

COMMAND = "netcode host"


def add_parser(sub) -> None:
    h = sub.add_parser("host", help="host many matches of any game on a few worker processes (+ matchmaker, metrics)")
    h.add_argument("--workers", type=int_in(1, 64), default=os.cpu_count() or 1,
                   help="worker processes, each many matches on one UDP port (default: the number of cores)")
    h.add_argument("--host", default="127.0.0.1", help="address the workers bind")
    h.add_argument("--port", type=listen_port, default=7000,
                   help="the first worker's UDP port; worker i gets port + i (0: any free ports)")
    h.add_argument("--public-host", metavar="HOST",
                   help="the address clients reach the workers at (default: --host; needed with 0.0.0.0)")
    h.add_argument("--max-rooms", type=int_in(1, 4096), default=64, help="matches one worker runs at most")
    h.add_argument("--npcs", type=int_in(0), default=None, help="NPC drones per arena match (default: the game's)")
    h.add_argument("--matchmaker", action="store_true",
                   help="run the matchmaker's HTTP API in this process (tickets, lobby, match codes, reconnect)")
    h.add_argument("--matchmaker-port", type=listen_port, default=8000, help="its TCP port (default 8000)")
    h.add_argument("--metrics-port", type=listen_port, default=None,
                   help="serve Prometheus metrics on this TCP port (/metrics; also on the matchmaker's port)")
    h.add_argument("--http-host", default="127.0.0.1", help="address the HTTP APIs bind (default 127.0.0.1)")
    h.add_argument("--min-players", type=int_in(1, 64), default=2,
                   help="matchmaker: a match starts with at least this many once --wait passed")
    h.add_argument("--max-players", type=int_in(1, 64), default=8, help="matchmaker: players per match")
    h.add_argument("--wait", type=float_at_least(0), default=10.0,
                   help="matchmaker: seconds a ticket waits before its match starts with fewer (bots fill it)")
    h.add_argument("--no-bots", action="store_true", help="matchmaker: do not fill short matches with bots")
    h.add_argument("--drain-timeout", type=float_at_least(0), default=30.0,
                   help="on SIGTERM, seconds running matches may play on before they are closed")
    h.add_argument("--duration", type=float_at_least(0), default=0.0, help="seconds (0 = until Ctrl-C/SIGTERM)")
    h.add_argument("--record", metavar="DIR", default="replays", help="write each match's replay here")
    h.add_argument("--no-record", action="store_true", help="do not record replays")
    add_key_options(h, server=True)
    h.set_defaults(func=run)


def run(args) -> int:
    from ..aio.driver import run as run_loop
    from ..aio.host import run_host
    from ..hosting.matchmaking import QueueRules
    from ..security.keys import KeyError_, generate_key
    from .security import is_loopback

    try:
        key = private_key(args)
    except KeyError_ as e:
        return fail(COMMAND, str(e))
    if key is None and args.matchmaker:
        key = generate_key()  # the matchmaker and the workers share it, for this run only: no set-up
    if key is None and not is_loopback(args.host) and not args.insecure:
        return fail(COMMAND, f"binding {args.host} without a private key would serve anyone insecurely: give "
                             "--key-file (or $NETCODE_PRIVATE_KEY), or --insecure")
    if args.host in ("0.0.0.0", "::") and key is not None and not args.public_host:
        return fail(COMMAND, f"binding {args.host}: give --public-host, the address tokens name")
    if args.host in ("0.0.0.0", "::") and args.port == 0:
        return fail(COMMAND, f"binding {args.host}: give a --port (tokens name each worker's port)")
    if args.min_players > args.max_players:
        return fail(COMMAND, "--min-players is more than --max-players")
    rules = QueueRules(args.min_players, args.max_players, args.wait, bots=not args.no_bots)
    try:
        return run_loop(run_host(args.workers, args.host, args.port, key=key, protocol_id=protocol_id(args),
                                 matchmaker_port=args.matchmaker_port if args.matchmaker else None,
                                 metrics_port=args.metrics_port, http_host=args.http_host, duration=args.duration,
                                 public_host=args.public_host, record_dir=None if args.no_record else args.record,
                                 max_rooms=args.max_rooms, npcs=args.npcs, drain_timeout=args.drain_timeout,
                                 rules=rules))
    except (OSError, RuntimeError) as e:
        return fail(COMMAND, str(e), 1)
