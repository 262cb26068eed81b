"""`netcode games [SPEC ...] [--json] [--sync-test]`: the games this netcode can serve, what each needs on the wire,
and whether each survives rollback (the sync test, netcode.lockstep.synctest)."""
from __future__ import annotations

import json

from .options import fail, int_in


def add_parser(sub) -> None:
    g = sub.add_parser("games", help="list the games this netcode can serve")
    g.add_argument("game", nargs="*", metavar="SPEC", help="describe these (a name or package.module:attr) instead")
    g.add_argument("--json", action="store_true", help="print JSON")
    g.add_argument("--sync-test", action="store_true",
                   help="run the rollback sync test on each lockstep game: after every frame, roll back "
                        "--distance frames and re-simulate; exit 1 if any frame re-simulates differently")
    g.add_argument("--frames", type=int_in(1, 100_000), default=300, help="sync test: frames to play (300)")
    g.add_argument("--distance", type=int_in(1, 64), default=7, help="sync test: frames rolled back each frame (7)")
    g.set_defaults(func=run)


def run(args) -> int:
    from ..game import GameNotFound, builtin_games, describe, load_game

    games = {}
    try:
        for spec in args.game or []:
            games[spec] = load_game(spec)
    except GameNotFound as e:
        return fail("netcode games", str(e))
    if not args.game:
        games = builtin_games()
    if args.sync_test:
        return _sync_test(games, args)
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


def _sync_test(games: dict, args) -> int:
    from ..lockstep.synctest import sync_test

    failed = 0
    out = []
    for spec, g in games.items():
        if "lockstep" not in g.modes:
            print(f"{g.name:<10} sync test: skipped (no lockstep mode)")
            continue
        config = g.make_config(mode="lockstep", max_players=4, tick_rate=15)
        result = sync_test(g, config, frames=args.frames, distance=args.distance)
        failed += not result.ok
        out.append({"game": spec, "ok": result.ok, "frames": result.frames, "distance": result.distance,
                    "first_mismatch": result.first_mismatch})
        if not args.json:
            print(f"{g.name:<10} {result.describe()}")
    if args.json:
        print(json.dumps(out, indent=2))
    return 1 if failed else 0
