"""`netcode demo`: a local state-sync match with bots over real loopback UDP, with live stats."""
from __future__ import annotations

import asyncio
import time

from .aio.bots import Bot
from .aio.driver import DatagramDriver, run
from .aio.serve import ServerRunner
from .sim import SimConfig
from .statesync.server import ServerConfig


async def _demo(n_bots: int, duration: float, port: int, npcs: int) -> None:
    runner = await ServerRunner.start(SimConfig.arena(npc_count=npcs, seed=1), ServerConfig(), "127.0.0.1", port)
    host, port = runner.address
    print(f"state-sync server on {host}:{port}: 60 Hz, {npcs} NPCs; {n_bots} bots joining "
          f"(join yourself with `netcode bots --server {host}:{port} --count 1`)")
    bots = [Bot(i, (host, port), "fight", seed=7) for i in range(n_bots)]
    for b in bots:
        b.driver = await DatagramDriver.bind(b.client, handler=b.on_events)
        b.client.connect(time.monotonic())
        b.driver.start()
    start = time.monotonic()
    last = {}
    try:
        while duration <= 0 or time.monotonic() - start < duration:
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
                kills = int(runner.core.world.score[b.client.welcome.slot])
                print(f"  bot{b.index}: rtt {st.rtt * 1000:5.2f} ms  loss {st.loss * 100:4.1f} %  "
                      f"snapshots {snaps - s0:3d}/s  in {(bytes_in - b0) * 8 / 1000:6.1f} kbit/s  "
                      f"sees {len(b.client.latest) if b.client.latest is not None else 0:3d} entities  kills {kills}")
    finally:
        for b in bots:
            b.client.disconnect()
            await b.driver.close()
        await runner.close()


def main(args) -> int:
    try:
        run(_demo(args.clients, args.duration, args.port, args.npcs))
    except KeyboardInterrupt:
        print("\nstopped")
    return 0
