"""`netcode token`: issue a netcode.io 1.02 connect token (as a web backend does), or make a private key.

    netcode token --new-key server.key
    netcode token --key-file server.key --server 203.0.113.7:40000 --name ann --out ann.token

A token is 2048 bytes: written raw to --out, or base64 on stdout (what an HTTP backend would send). The
client reads either: `netcode client --token ann.token`.
"""
from __future__ import annotations

import base64
import os
import sys
import time

from .options import fail, int_in, split_address
from .security import add_key_options, key_or_problem, protocol_id

COMMAND = "netcode token"


def add_parser(sub) -> None:
    t = sub.add_parser("token", help="issue a connect token (netcode.io 1.02), or make a private key",
                       description="Issue a netcode.io 1.02 connect token with the private key the servers share, "
                                   "or make a new key (--new-key). Layout: docs/PROTOCOL.md, Secure transport.")
    t.add_argument("--new-key", metavar="FILE", help="write a new random private key to FILE (mode 0600) and exit")
    add_key_options(t)
    t.add_argument("--server", action="append", default=[], metavar="HOST:PORT",
                   help="a server the token is for (repeatable, tried in order; 1..32)")
    t.add_argument("--client-id", type=int_in(0, 2 ** 64 - 1), default=None,
                   help="the 64-bit id of the authenticated client (default: random)")
    t.add_argument("--name", help="user data: the player's name (the game reads it)")
    t.add_argument("--team", help="user data: a team")
    t.add_argument("--rank", type=int, help="user data: a rank")
    t.add_argument("--expire", type=int_in(1, 86400), default=30, help="seconds the token may be used (default 30)")
    t.add_argument("--timeout", type=int_in(1, 3600), default=5,
                   help="seconds of silence before the connection times out (default 5)")
    t.add_argument("--out", metavar="FILE", help="write the 2048 raw bytes here (default: base64 on stdout)")
    t.set_defaults(func=run)


def run(args) -> int:
    from ..security.keys import generate_key, write_key
    from ..security.tokens import TokenError, issue_token, pack_user_data

    if args.new_key:
        if os.path.exists(args.new_key):
            return fail(COMMAND, f"{args.new_key} exists: not overwriting a key")
        write_key(args.new_key, generate_key())
        print(f"wrote a new private key to {args.new_key}: give it to the servers (--key-file) and the token issuer")
        return 0
    key, problem = key_or_problem(args)
    if problem:
        return fail(COMMAND, problem)
    if key is None:
        return fail(COMMAND, "no private key: give --key-file FILE or set $NETCODE_PRIVATE_KEY (--new-key makes one)")
    if not args.server:
        return fail(COMMAND, "give at least one --server HOST:PORT the token is for")
    try:
        servers = [split_address(s) for s in args.server]
        user = {k: v for k, v in (("name", args.name), ("team", args.team), ("rank", args.rank)) if v is not None}
        client_id = args.client_id if args.client_id is not None else int.from_bytes(os.urandom(8), "little")
        token = issue_token(key, client_id, servers, time.time(), protocol_id=protocol_id(args),
                            expire_seconds=args.expire, timeout_seconds=args.timeout,
                            user_data=pack_user_data(user) if user else b"")
    except (ValueError, TokenError) as e:
        return fail(COMMAND, str(e))
    data = token.to_bytes()
    if args.out:
        with open(args.out, "wb") as f:
            f.write(data)
        print(f"wrote a connect token for client {client_id} to {args.out} (expires in {args.expire} s)",
              file=sys.stderr)
    else:
        print(base64.b64encode(data).decode("ascii"))
    return 0

