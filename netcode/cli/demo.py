"""`netcode demo`: a local match of any game (`--game`, default the arena) with bots over real loopback
UDP — state sync, or lockstep with `--mode lockstep` — the pygame client joined to it (headless with
printed measurements when there is no display), and live stats."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from .options import address_in_use, fail, float_at_least, float_in, int_in, listen_port
from .serve import add_game_arguments, game_and_options

COMMAND = "netcode demo"


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="host a local match with bots, join it with the pygame client, print live stats")
    d.add_argument("--mode", choices=("state", "lockstep"), default="state",
                   help="state sync (default) or lockstep frame sync; the client detects which")
    add_game_arguments(d, "arena: NPC drones (default 200)")
    d.add_argument("--clients", type=int_in(0, 256), default=6, help="bots (0..256)")
    d.add_argument("--duration", type=float_at_least(0), default=0.0, help="seconds (0 = until Ctrl-C)")
    d.add_argument("--port", type=listen_port, default=0, help="UDP port (default 0: any free one)")
    d.add_argument("--no-client", action="store_true", help="server and bots only, no pygame client")
    d.add_argument("--headless", action="store_true", help="run the client without a window (a bot plays it)")
    d.add_argument("--lag", type=float_at_least(0), default=0.0, metavar="MS", help="latency the client adds (round trip)")
    d.add_argument("--jitter", type=float_at_least(0), default=0.0, metavar="MS")
    d.add_argument("--loss", type=float_in(0, 100), default=0.0, metavar="PCT")
    d.add_argument("--record", metavar="DIR", default=None,
                   help="record the match's replay here (default: the demo does not record)")
    d.set_defaults(func=main)


def has_display() -> bool:
    """Whether a window can be opened (the client falls back to headless otherwise)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _local_security():
    """A fresh private key for this demo only: the server is secure (netcode.io tokens, encrypted packets) and
    the bots and the client issue their own tokens with it, as a backend would. Nothing to set up or keep."""
    from ..protocol.secure_server import ServerSecurity
    from ..security import generate_key
    from ..security.issuer import LocalIssuer

    key = generate_key()
    return key, ServerSecurity(key), LocalIssuer(key)


def _start_client(host: str, port: int, args, key: bytes | None = None) -> subprocess.Popen | None:
    if args.no_client:
        return None
    cmd = [sys.executable, "-m", "client_demo", "--server", f"{host}:{port}", "--name", "you", "--net-graph",
           "--lag", str(args.lag), "--jitter", str(args.jitter), "--loss", str(args.loss)]
    if args.headless or not has_display():
        cmd += ["--headless", "--duration", str(args.duration or 10.0)]
        print("no display: the client plays headless with a bot and prints its measurements at the end")
    elif args.duration:
        cmd += ["--duration", str(args.duration)]
    env = None
    if key is not None:  # the demo's key reaches the client in its environment, never on a command line
        from ..security.keys import KEY_ENV

        env = {**os.environ, KEY_ENV: key.hex()}
    return subprocess.Popen(cmd, env=env)


async def _demo(game, options: dict, n_bots: int, duration: float, port: int, args=None) -> None:
    from ..aio.bots import Bot
    from ..aio.driver import DatagramDriver
    from ..aio.serve import ServerRunner
    from ..game import Scored
    from ..protocol.transports import describe
    from ..statesync.server import ServerConfig, StateSyncServer

    key, security, issuer = _local_security()
    core = StateSyncServer.for_game(game, ServerConfig(), seed=1, options=options, spec=args.game if args else None,
                                    security=security)
    runner = await ServerRunner.start(core, "127.0.0.1", port, getattr(args, "record", None))
    host, port = runner.address
    print(f"state-sync server on {host}:{port}: {game.name}, 60 Hz, {describe(core.transport)} with a key made "
          f"for this demo; {n_bots} bots joining")
    bots = [Bot(i, (host, port), None, seed=7, issuer=issuer) for i in range(n_bots)]
    for b in bots:
        b.driver = await DatagramDriver.bind(b.client, handler=b.on_events)
        b.client.connect(time.monotonic())
        b.driver.start()
    client = _start_client(host, port, args, key) if args is not None else None
    start = time.monotonic()
    last = {}
    try:
        while duration <= 0 or time.monotonic() - start < duration:
            if client is not None and client.poll() is not None:
                break  # the player closed the window: the demo is over
            await asyncio.sleep(1.0)
            print(f"t={time.monotonic() - start:5.1f}s  {runner.stats_line()}")
            for b in bots[:4]:
                conn = b.client.transport.connection
                if conn is None or b.client.welcome is None:
                    print(f"  bot{b.index}: connecting")
                    continue
                st = conn.stats
                snaps, bytes_in = b.client.counters.snapshots, st.bytes_in
                s0, b0 = last.get(b.index, (snaps, bytes_in))
                last[b.index] = (snaps, bytes_in)
                score = ""
                if isinstance(game, Scored):
                    row = game.scores(runner.core.world, [b.client.welcome.slot])[0]
                    score = "  " + " ".join(f"{k} {v}" for k, v in zip(game.score_columns, row))
                print(f"  bot{b.index}: rtt {st.rtt * 1000:5.2f} ms  loss {st.loss * 100:4.1f} %  "
                      f"snapshots {snaps - s0:3d}/s  in {(bytes_in - b0) * 8 / 1000:6.1f} kbit/s  "
                      f"sees {len(b.client.latest) if b.client.latest is not None else 0:3d} entities{score}")
    finally:
        if client is not None:
            try:
                client.wait(timeout=15)  # a headless client prints its measurements as it ends
            except subprocess.TimeoutExpired:
                client.terminate()
        for b in bots:
            b.client.disconnect()
            await b.driver.close()
        await runner.close()


async def _demo_lockstep(game, options: dict, n_bots: int, duration: float, port: int, args=None) -> None:
    from ..aio.lockstep import LockstepBot, LockstepRunner
    from ..lockstep.server import LockstepConfig
    from ..protocol.transports import describe

    players = n_bots + (0 if args is None or args.no_client else 1)
    config = LockstepConfig(players_per_match=max(1, players), game_options=options,
                            record_dir=getattr(args, "record", None))
    key, security, issuer = _local_security()
    runner = await LockstepRunner.start(config, "127.0.0.1", port, game, args.game if args else None, security)
    host, port = runner.address
    print(f"lockstep server on {host}:{port}: {game.name}, 15 Hz frames, input delay 2 frames, matches of {players}, "
          f"{describe(runner.core.transport)} with a key made for this demo; "
          f"{n_bots} bots joining; the match starts when everyone joined (or 5 s after the first)")
    bots = [LockstepBot(i, (host, port), True, seed=7, issuer=issuer) for i in range(n_bots)]
    for b in bots:
        await b.start()
    client = _start_client(host, port, args, key) if args is not None else None
    start = time.monotonic()
    try:
        while duration <= 0 or time.monotonic() - start < duration:
            if client is not None and client.poll() is not None:
                break
            await asyncio.sleep(1.0)
            print(f"t={time.monotonic() - start:5.1f}s  {runner.stats_line()}")
            for b in bots[:4]:
                r = b.report()
                state = ("connecting" if b.client.welcome is None else
                         f"frame {r['frame']}  rtt {r['rtt_ms'] or 0:5.2f} ms  checksums {r['checksums']}  "
                         f"{'in sync' if r['synced'] else 'handshake pending'}")
                print(f"  bot{b.index}: {state}")
    finally:
        if client is not None:
            try:
                client.wait(timeout=15)
            except subprocess.TimeoutExpired:
                client.terminate()
        for b in bots:
            b.close()
        await runner.close()


def main(args) -> int:
    # the engine is imported here, not at the top: `netcode COMMAND` builds every command's parser, and a
    # mistyped flag should not pay for starting a server (the CLI started in 0.35 s with it here, 0.18 s without)
    from ..aio.driver import run
    from ..game.registry import trust

    game, options = game_and_options(args, COMMAND)
    if game is None:
        return fail(COMMAND, options)
    trust(args.game)  # the client runs in its own process: it may import the game the server names
    try:
        if args.mode == "lockstep":
            run(_demo_lockstep(game, options, args.clients, args.duration, args.port, args))
            return 0
        run(_demo(game, options, args.clients, args.duration, args.port, args))
    except KeyboardInterrupt:
        print("\nstopped")
    except ValueError as e:
        return fail(COMMAND, str(e))
    except OSError as e:
        return fail(COMMAND, address_in_use("127.0.0.1", args.port, e), 1)
    return 0
