"""`netcode bots`: headless players of the server's game, with per-bot measurements (also on Ctrl-C)."""
from __future__ import annotations

from .options import add_trust_option, fail, float_at_least, host_port, int_in
from .security import add_key_options, client_issuer

COMMAND = "netcode bots"


def add_parser(sub) -> None:
    bt = sub.add_parser("bots", help="run headless bots that join a server and play")
    bt.add_argument("--server", type=host_port, metavar="HOST:PORT", help="the server (or give --matchmaker)")
    bt.add_argument("--matchmaker", metavar="URL",
                    help="ask this matchmaker (netcode host --matchmaker) for a match, a ticket per bot")
    bt.add_argument("--match-game", metavar="GAME", help="with --matchmaker: the game to ask for (default: arena)")
    bt.add_argument("--mode", choices=("state", "lockstep"), default="state", help="the server's mode")
    bt.add_argument("--simulating", type=int_in(0), default=None, metavar="N",
                    help="lockstep: only the first N bots simulate and report checksums (the rest relay inputs)")
    bt.add_argument("--count", type=int_in(1, 5000), default=8, help="bots (1..5000)")
    bt.add_argument("--duration", type=float_at_least(0), default=10.0, help="seconds (0 = until Ctrl-C)")
    bt.add_argument("--behaviour", default=None, metavar="NAME",
                    help="what the bots do: one of the server's game's behaviours (the arena: idle, wander, fight; "
                         "default: its most active one), or mixed (the game's default mix, or give --mix)")
    bt.add_argument("--mix", metavar="B=W,...", help="behaviour weights, e.g. idle=1,wander=2,fight=5")
    bt.add_argument("--through", metavar="PROFILE",
                    help="connect through an in-process lag proxy with this profile (lan, wifi, 4g, 3g, bad, burst-loss)")
    bt.add_argument("--churn", type=float_at_least(0), default=0.0, metavar="PER_MIN",
                    help="bots leave and rejoin (half with their token, half as new players) this often per minute")
    bt.add_argument("--seed", type=int_in(0), default=1)
    bt.add_argument("--json", metavar="FILE", help="write per-bot measurements as JSON (also when interrupted)")
    bt.add_argument("--decode-every", type=int_in(1), default=1, metavar="N",
                    help="decode (and ack) only every N-th snapshot: lets one process load a server with many bots")
    bt.add_argument("--warmup", type=float_at_least(0), default=0.0,
                    help="lockstep: traffic rates count from this many seconds on (benchmarks)")
    bt.add_argument("--quiet", action="store_true", help="lockstep: no progress lines")
    bt.add_argument("--full-load-bots", action="store_true",
                    help="lockstep: the non-simulating bots are full clients, not light load bots")
    add_trust_option(bt)
    add_key_options(bt)
    bt.set_defaults(func=run)


def run(args) -> int:
    from ..aio.bots import run_bots
    from ..aio.driver import run as run_loop
    from ..bots import parse_mix
    from ..netsim import PROFILES

    behaviour = None if args.behaviour in (None, "auto") else args.behaviour
    if (args.server is None) == (args.matchmaker is None):
        return fail(COMMAND, "give --server HOST:PORT or --matchmaker URL (one of them)")
    if args.matchmaker and (args.mode == "lockstep" or args.churn or args.through):
        return fail(COMMAND, "--matchmaker: state-sync bots without --churn or --through")
    issuer, problem = client_issuer(args)  # a secure server: each bot gets its own token from this key
    if problem:
        return fail(COMMAND, problem)
    if args.mode == "lockstep":
        from ..aio.lockstep import run_lockstep_bots

        state_only = [flag for flag, used in (("--mix", args.mix), ("--through", args.through),
                                              ("--churn", args.churn), ("--decode-every", args.decode_every != 1),
                                              ("--behaviour mixed", behaviour == "mixed")) if used]
        if state_only:
            return fail(COMMAND, f"{', '.join(state_only)}: state sync only (not with --mode lockstep)")
        summary = run_loop(run_lockstep_bots(args.server, args.count, args.duration, args.json,
                                             simulating=args.simulating, behaviour=behaviour, seed=args.seed,
                                             quiet=args.quiet, warmup=args.warmup, light=not args.full_load_bots,
                                             issuer=issuer))
        if summary.get("interrupted"):
            return 130
        return 0 if summary["connected_throughout"] == args.count and not summary["error"] else 1
    if args.through is not None and args.through not in PROFILES:
        return fail(COMMAND, f"unknown --through profile {args.through!r} (known: {', '.join(PROFILES)})")
    try:
        mix = parse_mix(args.mix) if args.mix else None
    except ValueError as e:
        return fail(COMMAND, f"--mix: {e}")
    summary = run_loop(run_bots(args.server, args.count, args.duration, behaviour, args.seed, args.json,
                                decode_every=args.decode_every, through=args.through, mix=mix, churn=args.churn,
                                issuer=issuer, matchmaker=args.matchmaker, game=args.match_game))
    if summary.get("interrupted"):
        return 130
    return 0 if summary["connected_throughout"] == args.count and summary["unexpected_disconnects"] == 0 else 1
