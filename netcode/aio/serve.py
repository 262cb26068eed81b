"""`netcode serve`: host a match over real UDP. The match itself is sans-IO (StateSyncServer)."""
from __future__ import annotations

import gc
import json
import time

from ..protocol.transports import describe
from ..statesync.server import StateSyncServer
from .cpu import CpuShare
from .driver import DatagramDriver, stop_on_sigterm, wait_or_stop
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
                record_dir: str | None = None, until_empty: bool = False) -> dict:
    """Host ``core`` until ``duration`` seconds pass (0 = forever), SIGTERM, or, with ``until_empty``, every
    client that came has left; then close connections and the replay and return (and write) the stats."""
    with stop_on_sigterm() as stop:  # from before the start line: a SIGTERM just after it still stops cleanly
        return await _serve(stop, core, host, port, duration, stats_every, json_path, ready, warmup, record_dir,
                            until_empty)


async def _serve(stop, core, host, port, duration, stats_every, json_path, ready, warmup, record_dir,
                 until_empty) -> dict:
    runner = await ServerRunner.start(core, host, port, record_dir)
    h, p = runner.address
    config = core.config
    recording = f"; recording to {runner.core.recorder.path}" if runner.core.recorder is not None else ""
    print(f"netcode: state-sync server on {h}:{p}, {core.game.name}, {config.tick_rate} Hz, "
          f"up to {config.max_clients} clients{recording}; {describe(core.transport)}", flush=True)
    if ready is not None:
        ready(runner)
    start = time.monotonic()
    end = start + duration if duration > 0 else float("inf")
    next_print = start + stats_every
    marked, came = warmup <= 0, False
    cpu = CpuShare()  # from the warm-up's end once it is over: cpu_pct in the stats
    connections = runner.core.transport.connections
    try:
        while True:
            now = time.monotonic()
            # wake for the next of: warm-up end, stats line, duration end, and (until empty) a look
            wake = min(end, next_print, start + warmup if not marked else end, now + 0.25 if until_empty else end)
            if await wait_or_stop(stop, wake - now):
                break
            now = time.monotonic()
            if not marked and now - start >= warmup:
                runner.core.ticker.clear_durations()
                runner.core.mark()
                marked = True
                cpu.mark()
            came = came or bool(connections)
            over = now >= end or (until_empty and came and not connections)
            if now >= next_print or over:
                next_print += stats_every
                print(runner.stats_line(), flush=True)
            if over:
                break
    finally:
        stats = runner.core.stats()
        stats["measured_s"] = time.monotonic() - start - warmup
        # the server process's CPU (user + system) over the measured time, in % of one core
        stats["cpu_pct"] = cpu.pct()
        stats["socket_errors"] = runner.driver.errors
        stats["socket_buffers"] = list(runner.driver.buffers)  # receive, send bytes as the OS granted them
        await runner.close()
        if json_path:
            with open(json_path, "w") as f:
                json.dump(stats, f, indent=2)
    return stats
