"""`netcode games [SPEC ...] [--json]`: the games this netcode can serve, and what each needs on the wire."""
from __future__ import annotations

import json

from .options import fail


def add_parser(sub) -> None:
    g = sub.add_parser("games", help="list the games this netcode can serve")
    g.add_argument("game", nargs="*", metavar="SPEC", help="describe these (a name or package.module:attr) instead")
    g.add_argument("--json", action="store_true", help="print JSON")
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
