"""`netcode host`: many matches of any game, both modes, on a few processes; optionally the matchmaker
that hands out their connect tokens, and Prometheus metrics. docs/HOSTING.md."""
from __future__ import annotations

import os

from .options import add_queue_options, fail, float_at_least, int_in, listen_port, queue_rules
from .security import add_key_options, key_or_problem, protocol_id

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
    add_queue_options(h)
    h.add_argument("--drain-timeout", type=float_at_least(0), default=30.0,
                   help="on SIGTERM, seconds running matches may play on before they are closed")
    h.add_argument("--duration", type=float_at_least(0), default=0.0, help="seconds (0 = until Ctrl-C/SIGTERM)")
    h.add_argument("--record", metavar="DIR", default="replays", help="write each match's replay here")
    h.add_argument("--no-record", action="store_true", help="do not record replays")
    h.add_argument("--nats", metavar="URL",
                   help="join a fleet: publish capacity on this NATS server and take placements from the "
                        "matchmakers there (`netcode matchmaker --nats`); needs the key they share")
    h.add_argument("--host-id", metavar="ID", help="with --nats: this host's name in the fleet (default: "
                                                   "hostname-pid; letters, digits, _ and -)")
    h.add_argument("--region", default="local", help="with --nats: the region tickets may ask for (default local)")
    add_key_options(h, server=True)
    h.set_defaults(func=run)


def run(args) -> int:
    from ..aio.driver import run as run_loop
    from ..aio.host import run_host
    from ..security.keys import generate_key
    from .security import is_loopback

    key, problem = key_or_problem(args)
    if problem:
        return fail(COMMAND, problem)
    if args.nats:
        from ..aio.fleet import HOST_ID

        if args.matchmaker:
            return fail(COMMAND, "--nats: the fleet's matchmakers are `netcode matchmaker --nats`, not --matchmaker")
        if key is None:
            return fail(COMMAND, "--nats needs the private key the fleet's matchmakers use: --key-file "
                                 "(or $NETCODE_PRIVATE_KEY)")
        if args.host_id is not None and not HOST_ID.match(args.host_id):
            return fail(COMMAND, f"--host-id: 1..64 of letters, digits, _ and -, not {args.host_id!r}")
    elif args.host_id is not None or args.region != "local":
        return fail(COMMAND, "--host-id and --region are for --nats")
    if key is None and args.matchmaker:
        key = generate_key()  # the matchmaker and the workers share it, for this run only: no set-up
    if key is None and not is_loopback(args.host) and not args.insecure:
        return fail(COMMAND, f"binding {args.host} without a private key would serve anyone insecurely: give "
                             "--key-file (or $NETCODE_PRIVATE_KEY), or --insecure")
    if args.host in ("0.0.0.0", "::") and key is not None and not args.public_host:
        return fail(COMMAND, f"binding {args.host}: give --public-host, the address tokens name")
    if args.host in ("0.0.0.0", "::") and args.port == 0:
        return fail(COMMAND, f"binding {args.host}: give a --port (tokens name each worker's port)")
    rules, problem = queue_rules(args)
    if problem:
        return fail(COMMAND, problem)
    try:
        return run_loop(run_host(args.workers, args.host, args.port, key=key, protocol_id=protocol_id(args),
                                 matchmaker_port=args.matchmaker_port if args.matchmaker else None,
                                 metrics_port=args.metrics_port, http_host=args.http_host, duration=args.duration,
                                 public_host=args.public_host, record_dir=None if args.no_record else args.record,
                                 max_rooms=args.max_rooms, npcs=args.npcs, drain_timeout=args.drain_timeout,
                                 rules=rules, nats_url=args.nats, host_id=args.host_id, region=args.region))
    except (OSError, RuntimeError) as e:
        return fail(COMMAND, str(e), 1)
