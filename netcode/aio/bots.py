"""`netcode bots`: many headless state-sync players in one process over real UDP."""
from __future__ import annotations

import asyncio
import json
import time

import numpy as np

from ..bots import BotBrain
from ..statesync.client import StateSyncClient
from ..statesync.events import ConnectionLost
from .driver import DatagramDriver


class Bot:
    """One bot: a StateSyncClient, its driver and its brain, plus what it measured."""

    def __init__(self, index: int, server: tuple[str, int], behaviour: str, seed: int, decode_every: int = 1):
        self.index = index
        self.client = StateSyncClient(server, name=f"bot{index}", decode_every=decode_every)
        self.brain = BotBrain(seed * 1000 + index, behaviour)
        self.driver: DatagramDriver | None = None
        self.connected_at: float | None = None
        self.lost: str | None = None
        self.arrivals: list[tuple[float, int]] = []  # (time, snapshots arrived so far)

    def on_events(self, events: list, now: float) -> None:
        client = self.client
        for e in events:
            if isinstance(e, ConnectionLost):
                self.lost = e.reason
            elif type(e).__name__ == "Welcome":
                self.connected_at = now
        arrived = client.counters.arrived
        if not self.arrivals or self.arrivals[-1][1] != arrived:
            self.arrivals.append((now, arrived))
        if client.welcome is not None:
            client.next_input = self.brain.decide(client.latest, client.welcome.slot)

    def report(self, end: float) -> dict:
        conn = self.client.transport.connection
        st = conn.stats if conn else None
        # skip the first second (full snapshots, clock sync)
        window = [(t, n) for t, n in self.arrivals if t >= (self.connected_at or 0) + 1.0]
        rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 2 else 0.0
        return {"bot": self.index, "connected": self.lost is None and self.client.connected,
                "lost": self.lost, "rtt_ms": st.rtt * 1000 if st else None,
                "jitter_ms": st.jitter * 1000 if st else None, "loss": st.loss if st else None,
                "snapshots": self.client.counters.arrived, "decoded": self.client.counters.snapshots,
                "snapshot_rate_hz": rate,
                "bytes_in": st.bytes_in if st else 0, "bytes_out": st.bytes_out if st else 0,
                "inputs_sent": self.client.counters.inputs_sent,
                "missing_baseline": self.client.counters.missing_baseline}


async def run_bots(server: tuple[str, int], count: int, duration: float, behaviour: str = "fight",
                   seed: int = 1, json_path: str | None = None, quiet: bool = False, decode_every: int = 1) -> dict:
    bots = [Bot(i, server, behaviour, seed, decode_every) for i in range(count)]
    for b in bots:
        b.driver = await DatagramDriver.bind(b.client, handler=b.on_events)
        b.client.connect(time.monotonic())
        b.driver.start()
    start = time.monotonic()
    next_print = start + 2.0
    while time.monotonic() - start < duration:
        await asyncio.sleep(0.1)
        if not quiet and time.monotonic() >= next_print:
            next_print += 2.0
            up = sum(1 for b in bots if b.client.connected)
            print(f"bots: {up}/{count} connected", flush=True)
    end = time.monotonic()
    reports = [b.report(end) for b in bots]
    for b in bots:
        b.client.disconnect()
        await b.driver.close()
    connected = sum(1 for r in reports if r["connected"])
    rates = [r["snapshot_rate_hz"] for r in reports if r["connected"]]
    rtts = [r["rtt_ms"] for r in reports if r["rtt_ms"] is not None]
    summary = {"bots": count, "connected_throughout": connected, "duration_s": duration,
               "snapshot_rate_hz_median": float(np.median(rates)) if rates else 0.0,
               "snapshot_rate_hz_min": float(np.min(rates)) if rates else 0.0,
               "rtt_ms_median": float(np.median(rtts)) if rtts else None,
               "kbit_in_per_bot": float(np.mean([r["bytes_in"] for r in reports])) * 8 / 1000 / duration,
               "per_bot": reports}
    if not quiet:
        print(f"bots: {connected}/{count} connected at the end; snapshot rate median "
              f"{summary['snapshot_rate_hz_median']:.1f} Hz (min {summary['snapshot_rate_hz_min']:.1f}); "
              f"RTT median {summary['rtt_ms_median'] or 0:.2f} ms; {summary['kbit_in_per_bot']:.1f} kbit/s in per bot")
        for r in reports[:8]:
            print(f"  bot{r['bot']}: rtt {r['rtt_ms'] or 0:.2f} ms  loss {100 * (r['loss'] or 0):.1f} %  "
                  f"snapshots {r['snapshots']} ({r['snapshot_rate_hz']:.1f} Hz)  in {r['bytes_in']} B  out {r['bytes_out']} B")
        if count > 8:
            print(f"  … {count - 8} more in --json")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(summary, f, indent=2)
    return summary
