"""`netcode` command line. Every error a user can cause ends in one clear line and a non-zero exit."""
from __future__ import annotations

import argparse
import socket
import sys


def host_port(text: str) -> tuple[str, int]:
    """Parse HOST:PORT for argparse."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    try:
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {port!r}") from None
    if not 0 < p < 65536:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {p}")
    return resolve_host(host.strip("[]")), p


def resolve_host(host: str) -> str:
    """A host name as the IPv4 address datagrams will come from (replies are matched by address)."""
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]
    except (socket.gaierror, UnicodeError):
        raise argparse.ArgumentTypeError(f"cannot resolve host {host!r}") from None


def _cmd_bench(args) -> int:
    from .bench import SUITES, run_suite
    from .bench.report import print_table, save_json, machine

    names = args.suites or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"netcode bench: unknown suite {unknown[0]!r} (have: {', '.join(SUITES)})", file=sys.stderr)
        return 2
    if args.plots:
        from .bench.plots import MissingMatplotlib, require_matplotlib
        try:
            require_matplotlib()  # before the runs, not after them
        except MissingMatplotlib as e:
            print(f"netcode bench: {e}", file=sys.stderr)
            return 2
    results = []
    for name in names:
        try:
            from tqdm import tqdm
            bar = tqdm(desc=name, unit="run", leave=False, disable=not sys.stderr.isatty())
            progress = bar.update
        except ImportError:  # pragma: no cover - tqdm is a dependency
            bar, progress = None, None
        results.append(run_suite(name, quick=args.quick, progress=progress))
        if bar is not None:
            bar.close()
    m = machine()
    print(f"machine: {m['processor']}, {m['cpus']} cpus, {m['implementation']} {m['python']}")
    print_table(results)
    if args.json:
        save_json(args.json, results)
    if args.plots:
        from .bench.plots import write_plots
        for path in write_plots(results, args.plots):
            print(f"plot: {path}")
    return 0


def parse_options(pairs: list[str]) -> dict:
    """``--set KEY=VALUE`` game options: VALUE as an int, a JSON value (lists, true/false) or else a string."""
    import json

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


def _game_and_options(args, command: str):
    """The game named by --game and its options (--set, and --npcs for games that have drones)."""
    from .game import GameNotFound, load_game

    try:
        game = load_game(args.game)
        options = parse_options(args.set)
    except (GameNotFound, ValueError) as e:
        print(f"netcode {command}: {e}", file=sys.stderr)
        return None, None
    if getattr(args, "npcs", None) is not None:
        options.setdefault("npcs", args.npcs)
    return game, options


def _cmd_serve(args) -> int:
    game, options = _game_and_options(args, "serve")
    if game is None:
        return 2
    if args.mode not in game.modes:
        print(f"netcode serve: {game.name} does not support {args.mode} mode (it supports {', '.join(game.modes)})",
              file=sys.stderr)
        return 2
    if args.mode == "lockstep":
        return _cmd_serve_lockstep(args, game, options)
    import time

    from .aio.driver import run
    from .aio.serve import serve
    from .rewind import RewindConfig
    from .statesync.server import ServerConfig, StateSyncServer

    try:
        config = ServerConfig(tick_rate=args.tick, snapshot_rate=args.snapshot_rate, max_clients=args.max_clients,
                              view_radius=args.view_radius, budget_bps=args.budget_kbps * 1000,
                              rewind=RewindConfig(enabled=not args.no_rewind, window=args.rewind_window))
        core = StateSyncServer.for_game(game, config, seed=args.seed, options=options, now=time.monotonic(),
                                        spec=args.game)
    except (ValueError, TypeError) as e:
        print(f"netcode serve: {e}", file=sys.stderr)
        return 2
    try:
        run(serve(core, args.host, args.port, args.duration, args.stats, args.json, warmup=args.warmup,
                  record_dir=None if args.no_record else args.record))
    except OSError as e:
        print(f"netcode serve: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


def _lockstep_record_dir(args) -> str | None:
    if args.no_record:
        return None
    if args.no_simulate:
        # a replay is proven by its checksums, and a relay has no world to take them from
        print("netcode serve: relay mode (--no-simulate) does not record replays", file=sys.stderr)
        return None
    return args.record


def _cmd_serve_lockstep(args, game, options) -> int:
    from .aio.driver import run
    from .lockstep.aio import serve_lockstep

    try:
        run(serve_lockstep(args.host, args.port, args.frame_rate, args.input_delay, args.players, args.matches,
                           args.duration, args.json, stats_every=args.stats, warmup=args.warmup,
                           match_frames=args.match_frames, simulate=not args.no_simulate, seed=args.seed,
                           record_dir=_lockstep_record_dir(args), game=game, spec=args.game, game_options=options))
    except ValueError as e:
        print(f"netcode serve: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"netcode serve: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


def _cmd_games(args) -> int:
    import json

    from .game import GameNotFound, builtin_games, describe, load_game

    games = {}
    try:
        for spec in args.game or []:
            games[spec] = load_game(spec)
    except GameNotFound as e:
        print(f"netcode games: {e}", file=sys.stderr)
        return 2
    if not args.game:
        games = builtin_games()
    rows = [describe(g, spec) for spec, g in games.items()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<10} {r['description']}")
        print(f"{'':<10} modes: {', '.join(r['modes'])}; input {r['input_bytes']} bytes "
              f"({', '.join(f['name'] for f in r['input'])}); capabilities: {', '.join(r['capabilities']) or 'none'}")
        if r["options"]:
            print(f"{'':<10} options (--set KEY=VALUE): " + "; ".join(f"{k}: {v}" for k, v in r["options"].items()))
    return 0


def _cmd_bots(args) -> int:
    from .aio.bots import run_bots
    from .aio.driver import run
    from .bots import parse_mix
    from .netsim import PROFILES

    if args.count < 1:
        print("netcode bots: --count must be at least 1", file=sys.stderr)
        return 2
    behaviour = None if args.behaviour in (None, "auto") else args.behaviour
    if args.mode == "lockstep":
        from .lockstep.aio import run_lockstep_bots
        state_only = [flag for flag, used in (("--mix", args.mix), ("--through", args.through),
                                              ("--churn", args.churn), ("--decode-every", args.decode_every != 1),
                                              ("--behaviour mixed", behaviour == "mixed")) if used]
        if state_only:
            print(f"netcode bots: {', '.join(state_only)}: state sync only (not with --mode lockstep)", file=sys.stderr)
            return 2
        summary = run(run_lockstep_bots(args.server, args.count, args.duration, args.json,
                                        simulating=args.simulating, behaviour=behaviour, seed=args.seed))
        return 0 if summary["connected_throughout"] == args.count and not summary["error"] else 1
    if args.through is not None and args.through not in PROFILES:
        print(f"netcode bots: unknown --through profile {args.through!r} (known: {', '.join(PROFILES)})",
              file=sys.stderr)
        return 2
    if args.churn < 0:
        print("netcode bots: --churn must be >= 0 (leave-and-rejoin events per minute)", file=sys.stderr)
        return 2
    try:
        mix = parse_mix(args.mix) if args.mix else None
    except ValueError as e:
        print(f"netcode bots: --mix: {e}", file=sys.stderr)
        return 2
    summary = run(run_bots(args.server, args.count, args.duration, behaviour, args.seed, args.json,
                           decode_every=args.decode_every, through=args.through, mix=mix, churn=args.churn))
    return 0 if summary["connected_throughout"] == args.count and summary["unexpected_disconnects"] == 0 else 1


def _cmd_demo(args) -> int:
    from .demo import main as demo_main
    return demo_main(args)


def add_trust_option(parser) -> None:
    """``--game SPEC`` (repeatable) for commands that play or read a game someone else names."""
    parser.add_argument("--game", dest="trust_games", action="append", default=[], metavar="MODULE:ATTR",
                        help="a game that is not built in, trusted to be imported when the server or the replay "
                             "names it (also: the NETCODE_GAMES environment variable)")


def trust_all(specs, command: str) -> bool:
    """``trust`` each spec; on failure print one line for ``command`` and return False."""
    from .game.registry import GameNotFound, trust

    for spec in specs or ():
        try:
            trust(spec)
        except GameNotFound as e:
            print(f"{command}: {e}", file=sys.stderr)
            return False
    return True


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="netcode", description="Authoritative game netcode: host, play, replay, measure.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("bench", help="run benchmarks (each with its baseline in the same run)")
    b.add_argument("suites", nargs="*", metavar="SUITE", help="suites to run (default: all)")
    b.add_argument("--quick", action="store_true", help="short runs (under a minute in all)")
    b.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    b.add_argument("--plots", metavar="DIR", help="also draw PNG charts into DIR (needs: pip install 'netcode[plot]')")
    b.set_defaults(func=_cmd_bench)

    g = sub.add_parser("games", help="list the games this netcode can serve")
    g.add_argument("game", nargs="*", metavar="SPEC", help="describe these (a name or package.module:attr) instead")
    g.add_argument("--json", action="store_true", help="print JSON")
    g.set_defaults(func=_cmd_games)

    s = sub.add_parser("serve", help="host a match")
    s.add_argument("--game", default="arena", metavar="NAME|MODULE:ATTR",
                   help="the game to serve: a built-in name (netcode games) or any importable game (default arena)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="a game option (see netcode games)")
    s.add_argument("--mode", choices=("state", "lockstep"), default="state",
                   help="state sync (AOI + delta snapshots) or lockstep frame sync (input relay)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=40000)
    s.add_argument("--tick", type=int, default=60, help="simulation ticks per second (10..128)")
    s.add_argument("--snapshot-rate", type=int, default=0, help="snapshots per second (default: the tick rate)")
    s.add_argument("--npcs", type=int, default=None, help="arena: NPC drones (0..10000+; default 200, lockstep 0)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--max-clients", type=int, default=64)
    s.add_argument("--view-radius", type=int, default=None, help="AOI radius in pixels (default: the game's)")
    s.add_argument("--budget-kbps", type=int, default=256, help="snapshot budget per client, kbit/s")
    s.add_argument("--no-rewind", action="store_true", help="turn lag compensation off (for comparison)")
    s.add_argument("--rewind-window", type=float, default=1.0, help="most a shot may be rewound, seconds (<= 1)")
    s.add_argument("--duration", type=float, default=0.0, help="seconds (0 = until Ctrl-C)")
    s.add_argument("--stats", type=float, default=5.0, help="print stats every S seconds")
    s.add_argument("--json", metavar="FILE", help="write final server stats as JSON")
    s.add_argument("--warmup", type=float, default=0.0, help="seconds before tick timings count (for benchmarks)")
    s.add_argument("--record", metavar="DIR", default="replays", help="write each match's replay here (default: replays/)")
    s.add_argument("--no-record", action="store_true", help="do not record a replay")
    ls = s.add_argument_group("lockstep")
    ls.add_argument("--frame-rate", type=int, default=15, help="lockstep frames per second (15..60)")
    ls.add_argument("--input-delay", type=int, default=2, help="frames between an input and the frame it is for")
    ls.add_argument("--players", type=int, default=10, help="players per match")
    ls.add_argument("--matches", type=int, default=128, help="matches hosted at most")
    ls.add_argument("--match-frames", type=int, default=0, help="frames a match lasts (0 = until everyone leaves)")
    ls.add_argument("--no-simulate", action="store_true",
                    help="relay only: no authoritative simulation (desyncs judged by majority)")
    s.set_defaults(func=_cmd_serve)

    bt = sub.add_parser("bots", help="run headless bots that join a server and play")
    bt.add_argument("--server", type=host_port, required=True, metavar="HOST:PORT")
    bt.add_argument("--mode", choices=("state", "lockstep"), default="state", help="the server's mode")
    bt.add_argument("--simulating", type=int, default=None, metavar="N",
                    help="lockstep: only the first N bots simulate and report checksums (the rest relay inputs)")
    bt.add_argument("--count", type=int, default=8)
    bt.add_argument("--duration", type=float, default=10.0)
    bt.add_argument("--behaviour", default=None, metavar="NAME",
                    help="what the bots do: one of the server's game's behaviours (the arena: idle, wander, fight; "
                         "default: its most active one), or mixed (the game's default mix, or give --mix)")
    bt.add_argument("--mix", metavar="B=W,...", help="behaviour weights, e.g. idle=1,wander=2,fight=5")
    bt.add_argument("--through", metavar="PROFILE",
                    help="connect through an in-process lag proxy with this profile (lan, wifi, 4g, 3g, bad, burst-loss)")
    bt.add_argument("--churn", type=float, default=0.0, metavar="PER_MIN",
                    help="bots leave and rejoin (half with their token, half as new players) this often per minute")
    bt.add_argument("--seed", type=int, default=1)
    bt.add_argument("--json", metavar="FILE", help="write per-bot measurements as JSON")
    bt.add_argument("--decode-every", type=int, default=1, metavar="N",
                    help="decode (and ack) only every N-th snapshot: lets one process load a server with many bots")
    add_trust_option(bt)
    bt.set_defaults(func=_cmd_bots)

    from .lagsim_cli import add_lagsim_parser
    add_lagsim_parser(sub)

    from .soak import add_soak_parser
    add_soak_parser(sub)

    from .replay.cli import add_replay_parser
    from .replay.play import add_play_parser
    add_play_parser(add_replay_parser(sub))

    d = sub.add_parser("demo", help="host a local match with bots, join it with the pygame client, print live stats")
    d.add_argument("--mode", choices=("state", "lockstep"), default="state",
                   help="state sync (default) or lockstep frame sync; the client detects which")
    d.add_argument("--game", default="arena", metavar="NAME|MODULE:ATTR", help="the game (netcode games)")
    d.add_argument("--clients", type=int, default=6, help="bots")
    d.add_argument("--npcs", type=int, default=None, help="arena: NPC drones (default 200)")
    d.add_argument("--duration", type=float, default=0.0, help="seconds (0 = until Ctrl-C)")
    d.add_argument("--port", type=int, default=0)
    d.add_argument("--no-client", action="store_true", help="server and bots only, no pygame client")
    d.add_argument("--headless", action="store_true", help="run the client without a window (a bot plays it)")
    d.add_argument("--lag", type=float, default=0.0, metavar="MS", help="latency the client adds (round trip)")
    d.add_argument("--jitter", type=float, default=0.0, metavar="MS")
    d.add_argument("--loss", type=float, default=0.0, metavar="PCT")
    d.set_defaults(func=_cmd_demo)

    # `netcode client ...` is handed to client_demo's own parser in main(); listed here for --help
    sub.add_parser("client", help="the pygame demo client (same as python -m client_demo)")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "client":
        # everything after `client` belongs to the client's own parser (argparse would claim --flags)
        from client_demo.__main__ import main as client_main
        return client_main(argv[1:])
    args = build_parser().parse_args(argv)
    if not trust_all(getattr(args, "trust_games", ()), "netcode"):
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `netcode bots ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
