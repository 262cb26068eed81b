"""Lockstep over real UDP: `serve_lockstep` (one process, many matches) and `run_lockstep_bots`.

The server runs on netcode.aio's DatagramDriver (flush on timers only: at each match's frame, and for
handshakes). Bots are lighter: one asyncio DatagramProtocol per bot whose callback feeds the sans-IO client
and sends what it answers synchronously (no tasks per bot). Simulating bots are full LockstepClients; load
bots are netcode.aio.loadbot's LoadBots (the same wire traffic, no bundle decoding, one shared timer),
so one process drives a thousand of them. The command lines are ``netcode serve --mode lockstep`` and
``netcode bots --mode lockstep`` (netcode/cli/).
"""
from __future__ import annotations

import asyncio
import gc
import json
import socket
import sys
import time

import attrs
import numpy as np

from ..protocol.transports import describe
from .memory import pin_allocator
from ..bots import LockstepBrain
from ..lockstep.client import ClientConfig, LockstepClient
from ..lockstep.events import ConnectionLost, Desync, MatchEnded
from ..lockstep.server import LockstepConfig, LockstepServer
from .cpu import CpuShare
from .driver import CallbackProtocol, DatagramDriver, stop_on_sigterm, wait_or_stop
from .loadbot import LoadBot, LoadSwarm


class LockstepRunner:
    """A LockstepServer on a socket, with send-jitter measured after the datagrams left."""

    def __init__(self, core: LockstepServer):
        self.core = core
        self.driver: DatagramDriver | None = None
        self.send_jitter = np.zeros(1 << 18)
        self.send_count = 0
        self.flushes = np.zeros(1 << 16)
        self.flush_count = 0
        self.desyncs: list = []
        self.results: list = []
        self._cpu = CpuShare()

    @classmethod
    async def start(cls, config: LockstepConfig, host: str, port: int, game=None,
                    spec: str | None = None, security=None) -> "LockstepRunner":
        pin_allocator()  # RSS follows what is alive over a long run (netcode/aio/memory.py)
        runner = cls(LockstepServer(config, game=game, spec=spec, now=time.monotonic(), security=security))
        gc.collect()
        gc.freeze()
        # Young collections only: the per-frame garbage (bytes, tuples) dies young; full passes come rarely.
        gc.set_threshold(10_000, 50, 1000)
        runner.driver = await DatagramDriver.bind(runner.core, host, port, handler=runner._on_events,
                                                  flush_on_receive=False, on_flush=runner._flushed)
        runner.core.wake = runner.driver.wake
        runner.driver.start()
        return runner

    def _on_events(self, events: list, now: float) -> None:
        for e in events:
            if isinstance(e, Desync):
                self.desyncs.append(e)
                print(f"netcode: DESYNC match {e.match} frame {e.frame} clients {list(e.clients)} ({e.rule})",
                      flush=True)
            elif isinstance(e, MatchEnded):
                self.results.append(e.result)

    def _flushed(self, duration: float) -> None:
        built = self.core.built
        if built:
            t = time.monotonic()
            for s in built:
                self.send_jitter[self.send_count & 0x3FFFF] = t - s
                self.send_count += 1
            built.clear()
            self.flushes[self.flush_count & 0xFFFF] = duration
            self.flush_count += 1

    @property
    def address(self) -> tuple[str, int]:
        return self.driver.address

    def mark(self) -> None:
        # Everything that exists now (matches, connections) lives on: move it out of the cyclic GC's
        # generations so a full collection never walks it between two frames. No gc.collect() first: with a
        # thousand connections it blocks the loop for tens of ms and the frames due meanwhile go out late.
        gc.freeze()
        self.core.mark()
        self.send_count = self.flush_count = 0
        self._cpu.mark()

    def stats(self) -> dict:
        s = self.core.stats()
        j = np.abs(self.send_jitter[:min(self.send_count, len(self.send_jitter))]) * 1000
        fl = self.flushes[:min(self.flush_count, len(self.flushes))] * 1000
        late = self.core.config.late_threshold * 1000
        s.update({
            "send_jitter_p50_ms": float(np.percentile(j, 50)) if len(j) else 0.0,
            "send_jitter_p99_ms": float(np.percentile(j, 99)) if len(j) else 0.0,
            "send_jitter_max_ms": float(j.max()) if len(j) else 0.0,
            "frames_sent_late": int((j > late).sum()), "late_threshold_ms": late,
            "frame_flush_p99_ms": float(np.percentile(fl, 99)) if len(fl) else 0.0,
            "desync_events": [attrs.asdict(d, filter=lambda a, v: a.name != "reports") for d in self.desyncs],
            "match_results": self.results + self.core.results[len(self.results):],
            "driver_errors": self.driver.errors if self.driver else 0,
            "cpu_pct": self._cpu.pct(),
        })
        return s

    def stats_line(self) -> str:
        s = self.stats()
        return (f"matches {s['matches']}  clients {s['clients']}  frames {s['frames']}  send jitter p50 "
                f"{s['send_jitter_p50_ms']:.2f} ms p99 {s['send_jitter_p99_ms']:.2f} ms  late {s['frames_sent_late']}  "
                f"missing inputs {s['missing_inputs']}  desyncs {s['desyncs']}")

    async def close(self) -> None:
        self.core.shutdown()  # END to every match (recorded ones get their END record and are closed)
        for cid in list(self.core.transport.connections):
            self.core.transport.disconnect(cid)
        self.core._flush_all = True
        await self.driver.close()


async def serve_lockstep(host: str = "127.0.0.1", port: int = 40000, frame_rate: int = 15, input_delay: int = 2,
                         players_per_match: int = 10, matches: int = 128, duration: float = 0.0,
                         json_path: str | None = None, stats_every: float = 5.0, warmup: float = 0.0,
                         ready=None, until_empty: bool = False, game=None, spec: str | None = None,
                         security=None, **config) -> dict:
    """Host lockstep matches of ``game`` (default: the arena) until ``duration`` seconds pass (0 = forever),
    SIGTERM, or, with ``until_empty``, everyone who came has left (the stats are then those of the moment the
    first one left). Extra keywords go to LockstepConfig."""
    cfg = LockstepConfig(frame_rate=frame_rate, input_delay=input_delay, players_per_match=players_per_match,
                         max_matches=matches, **config)
    with stop_on_sigterm() as stop:  # from before the start line: a SIGTERM just after it still stops cleanly
        return await _serve_lockstep(stop, cfg, host, port, duration, json_path, stats_every, warmup, ready,
                                     until_empty, game, spec, security)


async def _serve_lockstep(stop, cfg, host, port, duration, json_path, stats_every, warmup, ready, until_empty, game,
                          spec, security) -> dict:
    runner = await LockstepRunner.start(cfg, host, port, game, spec, security)
    h, p = runner.address
    print(f"netcode: lockstep server on {h}:{p}, {runner.core.game.name}, {cfg.frame_rate} Hz, "
          f"input delay {cfg.input_delay} frames, "
          f"up to {cfg.max_matches} matches of {cfg.players_per_match}; {describe(runner.core.transport)}"
          + (f"; recording each match to {cfg.record_dir}/" if cfg.record_dir and cfg.simulate else ""), flush=True)
    if ready is not None:
        ready(runner)
    start = time.monotonic()
    marked = warmup <= 0
    peak, frozen = 0, None
    next_print = start + stats_every
    try:
        while duration <= 0 or time.monotonic() - start < duration:
            if await wait_or_stop(stop, 0.25):
                break
            now = time.monotonic()
            if not marked and now - start >= warmup:
                runner.mark()
                marked = True
            clients = len(runner.core.players)
            if until_empty:
                peak = max(peak, clients)
                if frozen is None and peak and clients < peak:
                    frozen = runner.stats()
                    frozen["measured_s"] = now - start - warmup
                if peak and clients == 0:
                    break
            if now >= next_print:
                next_print += stats_every
                print(runner.stats_line(), flush=True)
    finally:
        stats = frozen or runner.stats()
        stats.setdefault("measured_s", time.monotonic() - start - warmup)
        stats["per_client"] = runner.core.client_stats()
        await runner.close()
        if json_path:
            with open(json_path, "w") as f:
                json.dump(stats, f, indent=2)
    return stats


def _cpu_seconds() -> float:
    """CPU time (user + system) this process has used."""
    return time.process_time()


# ------------------------------------------------------------------ bots

def bot_token(issuer, server, index: int) -> bytes | None:
    """A fresh connect token for bot ``index`` when the server is secure (an issuer is given)."""
    if issuer is None:
        return None
    return issuer.token(server, issuer.new_client_id(), time.time(), name=f"bot{index}")


class LockstepBot:
    """One bot: a LockstepClient with a brain. ``simulate=False`` makes it a load bot (relays, no World)."""

    def __init__(self, index: int, server: tuple[str, int], simulate: bool, seed: int, behaviour: str | None = None,
                 issuer=None):
        self.index = index
        self.simulate = simulate
        self.brain = LockstepBrain(seed * 1000 + index, behaviour)  # blind when it keeps no world
        self.client = LockstepClient(server, name=f"bot{index}", brain=self.brain,
                                     config=ClientConfig(simulate=simulate, report_checksums=simulate),
                                     connect_token=bot_token(issuer, server, index))
        self.proto: CallbackProtocol | None = None
        self.lost: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        _, self.proto = await loop.create_datagram_endpoint(lambda: CallbackProtocol(self._on_datagram),
                                                            local_addr=("127.0.0.1", 0))
        self.client.connect(time.monotonic())
        self.pump(time.monotonic())

    def _on_datagram(self, data: bytes, addr) -> None:
        """Feed the client from its socket and answer in the same callback."""
        now = time.monotonic()
        self.client.receive_datagram(data, addr, now)
        self.pump(now)

    def pump(self, now: float) -> None:
        c = self.client
        c.update(now)
        for e in c.events():
            if isinstance(e, ConnectionLost):
                self.lost = e.reason
        tr = self.proto.transport
        for data, addr in c.datagrams_to_send(now):
            try:
                tr.sendto(data, addr)
            except OSError:
                self.proto.errors += 1
        t = c.get_timer()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if t is not None:
            # libuv timers count whole milliseconds: a wake-up asked for 0.3 ms ahead comes at once, finds
            # nothing due yet and asks again — a spin. Waiting at least 1 ms costs at most 1 ms of lateness.
            self._timer = self._loop.call_later(max(0.001, t - now), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.pump(time.monotonic())

    def close(self) -> None:
        self.client.disconnect()
        self.pump(time.monotonic())
        if self._timer is not None:
            self._timer.cancel()
        self.proto.transport.close()

    @property
    def counters(self):
        return self.client.counters

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def frame(self) -> int:
        return self.client.frame

    def report(self) -> dict:
        c = self.client
        conn = c.transport.connection
        st = conn.stats if conn is not None else None
        return {"bot": self.index, "simulate": self.simulate, "connected": self.lost is None and c.connected,
                "lost": self.lost, "match": (c.welcome or {}).get("match"), "frame": c.frame,
                "synced": c.synced, "checksums": len(c.checksums), "max_stall_ms": c.max_stall * 1000,
                "rtt_ms": st.rtt * 1000 if st else None, "bytes_in": c.counters.bytes_in,
                "bytes_out": c.counters.bytes_out, "wire_bytes_in": st.bytes_in if st else 0,
                "wire_bytes_out": st.bytes_out if st else 0, "requests": c.counters.requests,
                "ended": c.ended is not None}


async def run_lockstep_bots(server: tuple[str, int], count: int, duration: float, json_path: str | None = None,
                            simulating: int | None = None, behaviour: str | None = None, seed: int = 1,
                            quiet: bool = False, warmup: float = 0.0, light: bool = True, issuer=None) -> dict:
    """``count`` bots join and play for ``duration`` s; the first ``simulating`` of them (default: all) step their
    World and report checksums, the rest are load bots — light ones (netcode.aio.loadbot: the same wire
    traffic, a fraction of the CPU, one timer for all) unless ``light`` is False. Traffic rates count from
    ``warmup`` on."""
    host, port = server
    server = (socket.gethostbyname(host), port)
    simulating = count if simulating is None else min(simulating, count)
    # spread the real bots over the matches: bot i joins match i // players (in join order)
    bots = [LockstepBot(i, server, True, seed, behaviour, issuer) if i < simulating
            else LoadBot(i, server, seed, behaviour=behaviour, connect_token=bot_token(issuer, server, i)) if light
            else LockstepBot(i, server, False, seed, behaviour, issuer) for i in range(count)]
    swarm = LoadSwarm([b for b in bots if isinstance(b, LoadBot)])
    swarm.start()
    start = time.monotonic()
    base = None
    error = None
    interrupted = False
    try:
        for i in range(0, count, 50):
            await asyncio.gather(*(b.start() for b in bots[i:i + 50]))
        # as the server: the bots live on, so keep the cyclic GC from walking them (a full pass is tens of ms)
        gc.freeze()
        gc.set_threshold(10_000, 50, 1000)
        start = time.monotonic()
        next_print = start + 2.0
        while (duration <= 0 or time.monotonic() - start < duration) and error is None:
            await asyncio.sleep(0.1)
            error = next((e for e in (b.brain.error if isinstance(b, LockstepBot) else b.error for b in bots) if e),
                         None)
            now = time.monotonic()
            if base is None and now - start >= warmup:
                base = (now, sum(b.counters.bytes_in for b in bots), sum(b.counters.bytes_out for b in bots),
                        sum(b.report()["wire_bytes_in"] for b in bots),
                        sum(b.report()["wire_bytes_out"] for b in bots), _cpu_seconds())
            if not quiet and now >= next_print:
                next_print += 2.0
                up = sum(1 for b in bots if b.connected)
                print(f"bots: {up}/{count} connected, frame {max(b.frame for b in bots)}", flush=True)
    except asyncio.CancelledError:  # Ctrl-C: report what was measured
        interrupted = True
    end = time.monotonic()
    cpu_end = _cpu_seconds()
    reports = [b.report() for b in bots]
    swarm.stop()
    for b in bots:
        b.close()
    await asyncio.sleep(0.05)
    secs = max(end - (base[0] if base else start), 1e-6)
    b0 = base or (start, 0, 0, 0, 0, 0.0)
    n = max(1, count)
    summary = {
        "bots": count, "simulating": simulating, "duration_s": end - start,
        "interrupted": interrupted,
        "connected_throughout": sum(1 for r in reports if r["connected"]),
        "synced": sum(1 for r in reports if r["synced"]),
        "max_stall_ms": max((r["max_stall_ms"] for r in reports if r["simulate"]), default=0.0),
        "up_bits_per_s_per_client": (sum(r["bytes_out"] for r in reports) - b0[2]) * 8 / secs / n,
        "down_bits_per_s_per_client": (sum(r["bytes_in"] for r in reports) - b0[1]) * 8 / secs / n,
        "up_wire_bits_per_s_per_client": (sum(r["wire_bytes_out"] for r in reports) - b0[4]) * 8 / secs / n,
        "down_wire_bits_per_s_per_client": (sum(r["wire_bytes_in"] for r in reports) - b0[3]) * 8 / secs / n,
        "socket_errors": sum(b.proto.errors for b in bots),
        "light_load_bots": sum(1 for b in bots if isinstance(b, LoadBot)),
        "cpu_pct": 100.0 * (cpu_end - b0[5]) / secs if base else None,
        "per_bot": reports,
        "error": error,  # e.g. a behaviour the server's game does not have: the bots stopped
    }
    lost = next((r["lost"] for r in reports if r["lost"]), None)
    if error:
        print(f"bots: {error}", file=sys.stderr, flush=True)
    elif lost and not summary["connected_throughout"]:
        print(f"bots: {lost}", file=sys.stderr, flush=True)  # why none could play, in the server's words or ours
    elif not quiet:
        print(f"bots: {summary['connected_throughout']}/{count} connected at the end, {summary['synced']} synced; "
              f"up {summary['up_bits_per_s_per_client']:.0f} bit/s, down {summary['down_bits_per_s_per_client']:.0f} "
              f"bit/s per bot (lockstep messages); longest stall {summary['max_stall_ms']:.0f} ms", flush=True)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(summary, f, indent=2)
    return summary
