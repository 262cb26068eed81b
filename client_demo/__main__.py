"""`python -m client_demo --server HOST:PORT`: the pygame demo client (see client_demo/app.py)."""
from __future__ import annotations

import argparse
import sys

from netcode.cli.options import add_trust_option, host_port, trust_all
from netcode.cli.security import add_key_options


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if not (320 <= w <= 7680 and 240 <= h <= 4320):
        raise argparse.ArgumentTypeError("size must be between 320x240 and 7680x4320")
    return w, h


def _non_negative(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def _percent(text: str) -> float:
    v = _non_negative(text)
    if v > 100:
        raise argparse.ArgumentTypeError(f"a percentage is at most 100, got {text}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m client_demo",
                                description="Demo client: prediction, reconciliation and interpolation under "
                                            "injected latency, with a net graph; against a lockstep server it "
                                            "plays frame sync (frames, input delay, desync status).")
    p.add_argument("--server", type=host_port, metavar="HOST:PORT",
                   help="the server (with --token: where to send, default the token's first server)")
    p.add_argument("--token", metavar="FILE", help="a connect token from `netcode token` (a secure server)")
    p.add_argument("--matchmaker", metavar="URL",
                   help="ask this matchmaker (netcode host --matchmaker) for a match and play it")
    p.add_argument("--match-game", metavar="GAME", help="with --matchmaker: the game to ask for (default: arena)")
    p.add_argument("--name", default="player")
    p.add_argument("--lag", type=_non_negative, default=0.0, metavar="MS", help="added round-trip latency (half each way)")
    p.add_argument("--jitter", type=_non_negative, default=0.0, metavar="MS", help="± round-trip jitter")
    p.add_argument("--loss", type=_percent, default=0.0, metavar="PCT", help="packet loss, each direction")
    p.add_argument("--dup", type=_percent, default=0.0, metavar="PCT", help="packet duplication, each direction")
    p.add_argument("--headless", action="store_true", help="no window: a bot plays, measurements are printed")
    p.add_argument("--duration", type=_non_negative, default=0.0, metavar="S", help="seconds (0 = until closed; "
                   "headless defaults to 10)")
    p.add_argument("--json", metavar="FILE", help="write the measurements as JSON")
    p.add_argument("--screenshot", metavar="FILE", help="save the last frame as an image (PNG)")
    p.add_argument("--net-graph", action="store_true", help="start with the net graph shown")
    p.add_argument("--size", type=_size, default=(1280, 720), metavar="WxH")
    p.add_argument("--fps", type=int, default=60, help="frame rate cap")
    p.add_argument("--bot", metavar="BEHAVIOUR", help="let the game's bot play with this behaviour (the arena: idle, "
                   "wander, fight; auto: the game's most active one; the default in headless mode)")
    p.add_argument("--seed", type=int, default=None, help="seed of the lag simulator and the bot")
    p.add_argument("--connect-timeout", type=_non_negative, default=5.0, metavar="S")
    p.add_argument("--mode", choices=("auto", "state", "lockstep"), default="auto",
                   help="the server's mode (default auto: the server says so when we connect; a forced mode "
                        "is refused by a server that names another)")
    p.add_argument("--rollback", type=int, default=8, metavar="FRAMES",
                   help="lockstep: predict up to this many frames ahead and roll back when a frame's inputs "
                        "differ (default 8; 0: play complete frames only, a press shows after delay + round trip)")
    add_trust_option(p)
    add_key_options(p)
    return p


def credentials(args):
    """(server, a function giving each new connection its connect token or None, error line or None)."""
    import os
    import time

    from netcode.cli.security import client_issuer
    from netcode.security import ConnectToken, TokenError
    from netcode.security.keys import read_token_file

    if args.matchmaker:
        try:
            return _from_matchmaker(args)
        except (OSError, ValueError) as e:
            return None, None, f"matchmaker {args.matchmaker}: {e}"
    if args.token:
        try:
            data = read_token_file(args.token)
            token = ConnectToken.from_bytes(data)
        except (ValueError, TokenError) as e:
            return None, None, str(e)
        return args.server or token.server_addresses[0], (lambda: data), None
    if args.server is None:
        return None, None, "give --server HOST:PORT (or --token FILE)"
    issuer, problem = client_issuer(args)
    if problem or issuer is None:
        return args.server, None, problem
    client_id = int.from_bytes(os.urandom(8), "little")  # one identity for every reconnect of this run
    return args.server, (lambda: issuer.token(args.server, client_id, time.time(), name=args.name[:24])), None


def _http_json(url: str, body: dict | None = None, method: str = "GET", timeout: float = 40.0) -> dict:
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            words = json.loads(e.read()).get("error", str(e))
        except ValueError:
            words = str(e)
        raise ValueError(words) from None


def _from_matchmaker(args):
    """A ticket, waited on until assigned; each reconnect asks the matchmaker for a fresh token for the same
    player (POST /reconnect with the last one), since a token is spent from the address it first came from."""
    import base64

    url = args.matchmaker.rstrip("/")
    ticket = {"party": [args.name[:24]], "mode": "state" if args.mode == "auto" else args.mode}
    if args.match_game:
        ticket["game"] = args.match_game
    t = _http_json(f"{url}/tickets", ticket, "POST")
    while t["state"] == "queued":
        print(f"matchmaker: waiting for a match (ticket {t['ticket_id']})", flush=True)
        t = _http_json(f"{url}/tickets/{t['ticket_id']}?wait=10")
    if t["state"] != "assigned":
        raise ValueError(f"ticket {t['state']}")
    a = t["assignment"]
    print(f"matchmaker: match {a['match_id']} on {a['address']}", flush=True)
    tokens = [base64.b64decode(a["connect_token"])]

    def next_token() -> bytes:
        if len(tokens) > 1 or getattr(next_token, "used", False):
            fresh = _http_json(f"{url}/reconnect", {"connect_token": base64.b64encode(tokens[-1]).decode()}, "POST")
            tokens.append(base64.b64decode(fresh["connect_token"]))
        next_token.used = True
        return tokens[-1]

    host, _, port = a["address"].rpartition(":")
    return (host, int(port)), next_token, None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not trust_all(args.trust_games, "client"):
        return 2
    server, creds, problem = credentials(args)
    if problem:
        print(f"client: {problem}", file=sys.stderr)
        return 2
    from netcode.aio.driver import run

    from .app import run_client
    from .options import ClientOptions

    opts = ClientOptions(server=server, credentials=creds, name=args.name, headless=args.headless,
                         duration=args.duration or (10.0 if args.headless else 0.0), lag=args.lag, jitter=args.jitter,
                         loss=args.loss, dup=args.dup, json_path=args.json, screenshot=args.screenshot, size=args.size,
                         net_graph=args.net_graph, fps=args.fps, seed=args.seed,
                         connect_timeout=max(0.1, args.connect_timeout), bot=args.bot, mode=args.mode,
                         rollback=max(0, min(30, args.rollback)))
    try:
        stats = run(run_client(opts))
    except KeyboardInterrupt:
        return 130
    return 1 if stats.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
