"""One `netcode host` worker: a process running many rooms on one UDP port (netcode.hosting.Host) in one
event loop. It prints a status line (JSON) every half second for its parent: address, capacity, rooms,
tick-time histogram, traffic, drops. SIGTERM drains it: no new rooms; running ones play on until empty or
``--drain-timeout``, then their replays are closed and it exits.
(Its command line, for the parent: ``python -m netcode.cli.host_worker``.)
"""
from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
import time

from ..hosting.factory import RoomFactory
from ..hosting.host import Host, HostConfig
from ..protocol.secure_server import SecureServerProtocol, ServerSecurity
from ..protocol.server import ServerProtocol
from .driver import DatagramDriver
from .memory import pin_allocator

# tick-duration histogram buckets (seconds), around a 60 Hz tick's 16.7 ms budget
TICK_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.012, 0.0167, 0.025, 0.0333, 0.05, 0.1)
MAX_CONNECTIONS = 4096  # one worker's transport: every room's players together


def _histogram(samples: list, counts: list) -> None:
    for s in samples:
        for i, edge in enumerate(TICK_BUCKETS):
            if s <= edge:
                counts[i] += 1
                break
        else:
            counts[-1] += 1


async def serve_worker(index: int, host: str, port: int, *, key: bytes | None, protocol_id: int, public: list,
                       record_dir: str | None, max_rooms: int, npcs: int | None, drain_timeout: float,
                       status_every: float = 0.5, out=sys.stdout) -> None:
    pin_allocator()  # RSS follows what is alive over a long run (netcode/aio/memory.py)
    if key is not None:
        transport = SecureServerProtocol(ServerSecurity(key, public, protocol_id), MAX_CONNECTIONS)
    else:
        transport = ServerProtocol(max_clients=MAX_CONNECTIONS)
    factory = RoomFactory(record_dir=record_dir, npcs=npcs)
    h = Host(transport, factory, HostConfig(max_rooms=max_rooms, record_dir=record_dir))
    h.clock = time.perf_counter
    driver = await DatagramDriver.bind(h, host, port, flush_on_receive=False)
    address = driver.address
    gc.collect()
    gc.freeze()
    driver.start()
    loop = asyncio.get_running_loop()
    draining = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, draining.set)
    hist: dict[str, list] = {}  # game -> cumulative bucket counts (+ the overflow bucket), and sums
    sums: dict[str, float] = {}
    deadline = None
    try:
        while True:
            await asyncio.sleep(status_every)
            if draining.is_set() and deadline is None:
                h.draining = True
                deadline = time.monotonic() + drain_timeout
            for (game, _), samples in h.tick_times.items():
                _histogram(samples, hist.setdefault(game, [0] * (len(TICK_BUCKETS) + 1)))
                sums[game] = sums.get(game, 0.0) + sum(samples)
            h.tick_times.clear()
            status = {"worker": index, "address": list(address), "capacity": h.capacity(),
                      "rooms": [r.info() for r in h.rooms.values()],
                      "room_counts": [[g, m, n, c] for (g, m), (n, c) in h.room_counts().items()],
                      "tick_hist": hist, "tick_sum": sums, "late_ticks": h.late_ticks,
                      "rewind_clamps": h.rewind_clamps(), "traffic": dict(h.traffic),
                      "drops": dict(transport.dropped), "host_counters": dict(h.counters)}
            print(json.dumps(status), file=out, flush=True)
            if deadline is not None and (not h.rooms or time.monotonic() >= deadline):
                break
    finally:
        for room in list(h.rooms.values()):
            h._end_room(room, time.monotonic())
        await driver.close()
        factory.close()  # every replay complete on disk
        print(json.dumps({"worker": index, "stopped": True}), file=out, flush=True)
