"""`netcode serve`: host a match over real UDP. The match itself is sans-IO (StateSyncServer)."""
from __future__ import annotations

import asyncio
import gc
import json
import time

from ..protocol.transports import describe
from ..statesync.server import StateSyncServer
from .driver import DatagramDriver
from .memory import pin_allocator


class ServerRunner:
    """Binds the socket, times every tick, prints periodic stats."""

    def __init__(self, core: StateSyncServer):
        self.core = core
        self.driver: DatagramDriver | None = None
        self._last_bytes = 0
        self._last_t = time.monotonic()

    @classmethod
    async def start(cls, core: StateSyncServer, host: str, port: int, record_dir: str | None = None) -> "ServerRunner":
        """Serve ``core`` (its clock restarts now) on ``host:port``, recording to ``record_dir`` if given."""
        runner = cls(core)
        pin_allocator()  # RSS follows what is alive over a long run (netcode/aio/memory.py)
        # bind first: a port in use must not leave an empty replay behind
        runner.driver = await DatagramDriver.bind(runner.core, host, port, flush_on_receive=False,
                                                  on_flush=runner._timed)
        core.start_clock(time.monotonic())
        if record_dir:
            from ..replay.writer import MatchRecorder
            MatchRecorder.attach(runner.core, directory=record_dir)
        # The world and its arrays live for the whole match: keep them out of the cyclic GC's
        # generations so a full collection never walks them mid-tick.
        gc.collect()
        gc.freeze()
        runner.driver.start()
        return runner

    def _timed(self, duration: float) -> None:
        """A flush that ran ticks: charge its time (simulation, snapshots and sends) to them."""
        n = self.core.ticks_ran
        if n:
            self.core.ticks_ran = 0
            for _ in range(n):
                self.core.ticker.record(duration / n)

    @property
    def address(self) -> tuple[str, int]:
        return self.driver.address

    def kbit_out(self) -> float:
        now = time.monotonic()
        total = sum(c.stats.bytes_out for c in self.core.transport.connections.values())
        rate = max(0, total - self._last_bytes) * 8 / 1000 / max(now - self._last_t, 1e-6)
        self._last_bytes, self._last_t = total, now
        return rate

    def stats_line(self) -> str:
        s = self.core.stats()
        return (f"tick {s['tick']}  clients {s['clients']}  tick p50 {s['tick_p50_ms']:.2f} ms  "
                f"p99 {s['tick_p99_ms']:.2f} ms  overruns {s['overruns']}  out {self.kbit_out():.0f} kbit/s  "
                f"dropped {s['dropped_datagrams']}")

    async def close(self) -> None:
        for cid in list(self.core.transport.connections):
            self.core.transport.disconnect(cid)
        await self.driver.close()
        if self.core.recorder is not None:
            self.core.recorder.close()


async def serve(core: StateSyncServer, host: str, port: int, duration: float = 0.0,
                stats_every: float = 5.0, json_path: str | None = None, ready=None, warmup: float = 0.0,
                record_dir: str | None = None) -> dict:
    runner = await ServerRunner.start(core, host, port, record_dir)
    h, p = runner.address
    config = core.config
    recording = f"; recording to {runner.core.recorder.path}" if runner.core.recorder is not None else ""
    print(f"netcode: state-sync server on {h}:{p}, {core.game.name}, {config.tick_rate} Hz, "
          f"up to {config.max_clients} clients{recording}; {describe(core.transport)}", flush=True)
    if ready is not None:
        ready(runner)
    start = time.monotonic()
    if warmup > 0:
        await asyncio.sleep(warmup)
        runner.core.ticker.clear_durations()
        runner.core.mark()
    try:
        while duration <= 0 or time.monotonic() - start < duration:
            left = duration - (time.monotonic() - start)
            await asyncio.sleep(min(stats_every, left) if duration > 0 else stats_every)
            print(runner.stats_line(), flush=True)
    finally:
        stats = runner.core.stats()
        stats["measured_s"] = time.monotonic() - start - warmup
        stats["socket_errors"] = runner.driver.errors
        stats["socket_buffers"] = list(runner.driver.buffers)  # receive, send bytes as the OS granted them
        await runner.close()
        if json_path:
            with open(json_path, "w") as f:
                json.dump(stats, f, indent=2)
    return stats
