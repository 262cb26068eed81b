"""`netcode serve`: host a match of any game, in state sync or lockstep, until --duration or Ctrl-C."""
from __future__ import annotations

import sys
import time

from .options import (FRAME_RATES, TICK_RATES, address_in_use, fail, float_at_least, float_in, int_in, listen_port,
                      parse_options)
from .security import add_key_options, server_security

COMMAND = "netcode serve"
MAX_CLIENTS = 2048  # a state-sync world keeps a slot per client and one per client away in its rejoin grace


def add_game_arguments(p, default_npcs: str = "arena: NPC drones (default 200, lockstep 0)") -> None:
    """--game, --set and --npcs: which game, and its rules."""
    p.add_argument("--game", default="arena", metavar="NAME|MODULE:ATTR",
                   help="the game: a built-in name (netcode games) or any importable game (default arena)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a game option (see netcode games)")
    p.add_argument("--npcs", type=int_in(0), default=None, help=default_npcs)


def game_and_options(args, command: str):
    """The game named by --game and its options (--set, and --npcs for games that have drones), checked against
    --mode; (None, why)."""
    from ..game import GameNotFound, load_game

    try:
        game = load_game(args.game)
        options = parse_options(args.set)
    except (GameNotFound, ValueError) as e:
        return None, str(e)
    if getattr(args, "npcs", None) is not None:
        if "npcs" not in game.options:
            return None, f"--npcs: {game.name} has no NPCs"
        options.setdefault("npcs", args.npcs)
    if args.mode not in game.modes:
        return None, f"{game.name} does not support {args.mode} mode (it supports {', '.join(game.modes)})"
    return game, options


def add_parser(sub) -> None:
    s = sub.add_parser("serve", help="host a match")
    add_game_arguments(s)
    s.add_argument("--mode", choices=("state", "lockstep"), default="state",
                   help="state sync (AOI + delta snapshots) or lockstep frame sync (input relay)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=listen_port, default=40000, help="UDP port, 1..65535 (0: any free one)")
    s.add_argument("--tick", type=int_in(*TICK_RATES), default=60,
                   help=f"state sync: simulation ticks per second ({TICK_RATES[0]}..{TICK_RATES[1]})")
    s.add_argument("--snapshot-rate", type=int_in(1, TICK_RATES[1]), default=None,
                   help="state sync: snapshots per second (default: the tick rate)")
    s.add_argument("--seed", type=int_in(0, 2 ** 64 - 1), default=1)
    s.add_argument("--max-clients", type=int_in(1, MAX_CLIENTS), default=64, help=f"1..{MAX_CLIENTS}")
    s.add_argument("--view-radius", type=int_in(1), default=None, help="AOI radius in pixels (default: the game's)")
    s.add_argument("--budget-kbps", type=int_in(1), default=256, help="snapshot budget per client, kbit/s")
    s.add_argument("--fixed-rate", action="store_true",
                   help="keep every client at --budget-kbps and the full snapshot rate (no adaptation to its link)")
    s.add_argument("--no-rewind", action="store_true", help="turn lag compensation off (for comparison)")
    s.add_argument("--rewind-window", type=float_in(0, 1, open_lo=True), default=1.0,
                   help="most a shot may be rewound, seconds (0 < S <= 1)")
    s.add_argument("--duration", type=float_at_least(0), default=0.0,
                   help="seconds (0 = until Ctrl-C); SIGTERM stops as the end of the duration does")
    s.add_argument("--until-empty", action="store_true",
                   help="stop when every client that came has left (bots, benchmarks, tests)")
    s.add_argument("--stats", type=float_at_least(0, open_=True), default=5.0, help="print stats every S seconds")
    s.add_argument("--json", metavar="FILE", help="write final server stats as JSON")
    s.add_argument("--warmup", type=float_at_least(0), default=0.0,
                   help="seconds before tick timings count (for benchmarks)")
    s.add_argument("--record", metavar="DIR", default="replays",
                   help="write each match's replay here (default: replays/)")
    s.add_argument("--no-record", action="store_true", help="do not record a replay")
    add_key_options(s, server=True)
    ls = s.add_argument_group("lockstep")
    ls.add_argument("--frame-rate", type=int_in(*FRAME_RATES), default=15,
                    help=f"lockstep frames per second ({FRAME_RATES[0]}..{FRAME_RATES[1]})")
    ls.add_argument("--input-delay", type=int_in(0, 30), default=2,
                    help="frames between an input and the frame it is for (0..30)")
    ls.add_argument("--players", type=int_in(1, 16), default=10, help="players per match (1..16)")
    ls.add_argument("--matches", type=int_in(1), default=128, help="matches hosted at most")
    ls.add_argument("--match-frames", type=int_in(0), default=0, help="frames a match lasts (0 = until everyone leaves)")
    ls.add_argument("--no-simulate", action="store_true",
                    help="relay only: no authoritative simulation (desyncs judged by majority)")
    s.set_defaults(func=run)


def run(args) -> int:
    game, options = game_and_options(args, COMMAND)
    if game is None:
        return fail(COMMAND, options)
    security, problem = server_security(args, args.host)
    if problem:
        return fail(COMMAND, problem)
    if args.mode == "lockstep":
        return _lockstep(args, game, options, security)
    from ..aio.driver import run as run_loop
    from ..aio.serve import serve
    from ..rewind import RewindConfig
    from ..statesync.server import ServerConfig, StateSyncServer

    try:
        config = ServerConfig(tick_rate=args.tick, snapshot_rate=args.snapshot_rate or 0, max_clients=args.max_clients,
                              view_radius=args.view_radius, budget_bps=args.budget_kbps * 1000,
                              adaptive_rate=not args.fixed_rate,
                              rewind=RewindConfig(enabled=not args.no_rewind, window=args.rewind_window))
        core = StateSyncServer.for_game(game, config, seed=args.seed, options=options, now=time.monotonic(),
                                        spec=args.game, security=security)
    except (ValueError, TypeError) as e:  # the game refused its options (--set, --npcs) in its own words
        return fail(COMMAND, str(e))
    try:
        run_loop(serve(core, args.host, args.port, args.duration, args.stats, args.json, warmup=args.warmup,
                       record_dir=None if args.no_record else args.record, until_empty=args.until_empty))
    except OSError as e:
        return fail(COMMAND, address_in_use(args.host, args.port, e), 1)
    return 0


def _record_dir(args) -> str | None:
    if args.no_record:
        return None
    if args.no_simulate:
        # a replay is proven by its checksums, and a relay has no world to take them from
        print(f"{COMMAND}: relay mode (--no-simulate) does not record replays", file=sys.stderr)
        return None
    return args.record


def _lockstep(args, game, options, security) -> int:
    from ..aio.driver import run as run_loop
    from ..aio.lockstep import serve_lockstep

    try:
        run_loop(serve_lockstep(args.host, args.port, args.frame_rate, args.input_delay, args.players, args.matches,
                                args.duration, args.json, stats_every=args.stats, warmup=args.warmup,
                                match_frames=args.match_frames, simulate=not args.no_simulate, seed=args.seed,
                                record_dir=_record_dir(args), game=game, spec=args.game, game_options=options,
                                until_empty=args.until_empty, security=security))
    except ValueError as e:
        return fail(COMMAND, str(e))
    except OSError as e:
        return fail(COMMAND, address_in_use(args.host, args.port, e), 1)
    return 0
