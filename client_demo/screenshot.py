"""Take the README screenshot: a compact arena with bots in a child process, the client under the dummy driver.

    python -m client_demo.screenshot docs/client.png

The client plays with a bot brain at +150 ms RTT ±20 ms and 2 % loss, with the net graph and the
ghost of the raw server state on, and keeps the busiest frame (most players on screen, a shot in
flight, ourselves alive and not at the edge) from the last two thirds of the run.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time



async def _host(port: int, duration: float, bots: int, npcs: int) -> None:
    from netcode.aio.bots import Bot
    from netcode.aio.driver import DatagramDriver
    from netcode.aio.serve import ServerRunner
    from netcode.games.arena import GAME, SimConfig
    from netcode.statesync.server import ServerConfig, StateSyncServer

    sim = SimConfig.arena(npc_count=npcs, width=1500, height=1000)
    runner = await ServerRunner.start(StateSyncServer(GAME, sim, ServerConfig(), seed=3), "127.0.0.1", port)
    print("ready", flush=True)
    crowd = [Bot(i, ("127.0.0.1", port), "fight", seed=11) for i in range(bots)]
    for b in crowd:
        b.client.name = f"bot{b.index}"
        b.driver = await DatagramDriver.bind(b.client, handler=b.on_events)
        b.client.connect(time.monotonic())
        b.driver.start()
    await asyncio.sleep(duration)
    for b in crowd:
        b.client.disconnect()
        await b.driver.close()
    await runner.close()


async def _shoot(port: int, path: str, duration: float, size) -> None:
    from netcode.games.arena import F_FLAGS, FLAG_NPC

    from .app import ClientApp, _import_pygame
    from .options import ClientOptions
    from .session import Toggles

    app = ClientApp(ClientOptions(server=("127.0.0.1", port), name="you", headless=True, size=size, lag=150, jitter=20,
                                  loss=2, seed=5, net_graph=True, bot="fight", quiet=True))
    app.session.toggles = Toggles(net_graph=True, ghost=True)
    app.open_display()
    await app.connect()
    pg = _import_pygame()
    best, best_score = None, -1.0
    start = time.monotonic()
    orig = app.frame

    w, h = size
    hud = [(0, 0, 250, 190), (w - 280, 0, w, 150), (w - 400, h - 200, w, h), (0, h - 70, 290, h)]

    def clear(x, y):
        return 20 < x < w - 20 and 50 < y < h - 20 and not any(
            x0 <= x <= x1 and y0 <= y <= y1 for x0, y0, x1, y1 in hud)

    def frame(now):
        nonlocal best, best_score
        orig(now)
        sc = app.last_scene
        if now - start < duration / 3 or sc is None or sc.others is None or sc.me is None:
            return
        to = app.renderer.to_screen
        pos = sc.others.pos.tolist()
        npc = ((sc.others.values[:, F_FLAGS] & FLAG_NPC) != 0).tolist()
        seen = [clear(*to(x, y)) for x, y in pos]
        players = sum(1 for v, n in zip(seen, npc) if v and not n)
        mx, my = to(*sc.me)
        centred = abs(mx - w / 2) < w / 4 and abs(my - h / 2) < h / 4
        # players in the open, a shot in the air, a hit marker, drones around, us alive mid-screen
        score = (players * 10 + min(len(sc.tracers), 3) * 4 + min(len(sc.markers), 2) * 6 + min(sum(seen), 25) * 0.2
                 + (25 if centred else 0) + (0 if sc.my_alive else -100))
        if score > best_score:
            best_score, best = score, app.surface.copy()

    app.frame = frame
    await app.run(duration)
    await app.close()
    if best is None:
        best = app.surface
    pg.image.save(best, path)
    print(f"saved {path} (score {best_score:.1f})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m client_demo.screenshot")
    p.add_argument("path", nargs="?", default="docs/client.png")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--bots", type=int, default=14)
    p.add_argument("--npcs", type=int, default=60)
    p.add_argument("--host", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from netcode.aio.driver import run

    if args.host:
        run(_host(args.host, args.duration, args.bots, args.npcs))
        return 0
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    host = subprocess.Popen([sys.executable, "-m", "client_demo.screenshot", "--host", str(port), "--duration",
                             str(args.duration + 6), "--bots", str(args.bots), "--npcs", str(args.npcs)],
                            stdout=subprocess.PIPE, text=True)
    try:
        host.stdout.readline()  # "ready"
        time.sleep(2.0)  # let the bots spread out and start fighting
        run(_shoot(port, args.path, args.duration, (1280, 720)))
    finally:
        host.terminate()
        host.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
