"""Replay measurements: bytes per player-minute, recording cost per tick, verify speed.

The scenario is a typical bot match of a game (default: the arena): 8 fighting bots (the game's bot
brain, one decision per snapshot received) and, in the arena, 200 NPC drones in the standard 4096 px
map at 60 Hz, over a 30 ms simulated link in virtual time. ``views=True`` makes the bots send the view they would draw
(netcode.interpolation.Interpolator), as the pygame client does, so every shot is rewound and
the replay carries VIEWS records.

``run_lockstep`` measures the same for a lockstep match: 10 players at 15 Hz (the game's bots reading
their own world, simulating clients) recorded by the LockstepServer itself.

``python -m netcode.bench.replay [seconds]`` prints the numbers; ``bench()`` has the shape of a
``netcode bench`` suite.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np


def run(seconds: float = 60.0, bots: int = 8, npcs: int | None = 200, views: bool = False, seed: int = 1,
        path: str | None = None, game: str = "arena", options: dict | None = None, **recorder_kwargs) -> dict:
    from ..bots import make_brain
    from ..game import load_game
    from ..interpolation import Interpolator
    from ..netsim.link import LinkConfig
    from ..netsim.virtual import VirtualNetwork
    from ..replay.writer import MatchRecorder
    from ..statesync.client import StateSyncClient
    from ..statesync.events import SnapshotReceived
    from ..statesync.server import ServerConfig, StateSyncServer

    tmp = None
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = os.path.join(tmp.name, "bench.ncr")
    try:
        net = VirtualNetwork(LinkConfig(latency=0.03, jitter=0.005), seed=seed, step=1 / 240)
        g = load_game(game)
        opts = dict(options or {})
        if npcs is not None:
            opts["npcs"] = npcs
        server = StateSyncServer.for_game(g, ServerConfig(), seed=seed, options=opts, secret=b"b" * 32)
        rec = MatchRecorder.attach(server, path=path, **recorder_kwargs)
        record_times: list[float] = []
        tick_times: list[float] = []
        on_tick, server_tick = rec.on_tick, server.tick

        def timed_on_tick(*a, **k):
            t0 = time.perf_counter()
            on_tick(*a, **k)
            record_times.append(time.perf_counter() - t0)

        def timed_tick(now):
            t0 = time.perf_counter()
            out = server_tick(now)
            tick_times.append(time.perf_counter() - t0)
            return out

        rec.on_tick, server.tick = timed_on_tick, timed_tick
        net.add(("server", 0), server)
        for i in range(bots):
            c = StateSyncClient(("server", 0), name=f"bot{i}", nonce=i + 1)
            c.connect(0.0)
            net.add(("bot", i), c)
            brain = make_brain(g, seed * 1000 + i)
            interp = Interpolator(60, position=g.entities.position_columns)
            seen = [-1]
            orig = c.update

            def update(now, c=c, orig=orig, brain=brain, interp=interp, seen=seen):
                ticks = orig(now)
                for e in c.events():
                    if views and isinstance(e, SnapshotReceived):
                        interp.on_snapshot(e.tick, e.table, now, e.held)
                if c.welcome is not None and c.latest_tick != seen[0]:
                    seen[0] = c.latest_tick
                    if views:
                        c.view = interp.sample(now).view
                    latest = c.latest
                    c.next_input = brain.from_snapshot(c.welcome.config, latest.ids if latest else None,
                                                       latest.values if latest else None, c.welcome.slot)
                return ticks

            c.update = update
        net.advance(seconds)
        rec.close()
        workers = max(2, min(4, os.cpu_count() or 1))
        measured = _size_and_speed(path, bots, workers)
        us = np.asarray(record_times) * 1e6
        tick_ms = float(np.mean(tick_times) * 1e3)
        return {
            **measured, "game": g.name, "players": bots, "npcs": npcs, "views": views,
            "record_us_mean": float(us.mean()), "record_us_p50": float(np.median(us)),
            "record_us_p99": float(np.percentile(us, 99)),
            "record_pct_of_tick_interval": float(us.mean()) / (1e6 / 60) * 100,
            "server_tick_ms_mean": tick_ms, "record_pct_of_server_tick": float(us.mean()) / 1e3 / tick_ms * 100,
            "verify_workers": workers, "shots_rewound": server.lagcomp.totals()["rewound"],
        }
    finally:
        if tmp is not None:
            tmp.cleanup()


def run_lockstep(seconds: float = 60.0, players: int = 10, frame_rate: int = 15, seed: int = 1,
                 path: str | None = None, game: str = "arena") -> dict:
    """A lockstep match recorded by its server; per-frame recording cost against the server's own step.
    ``path``: keep the replay there."""
    from ..bots import LockstepBrain
    from ..game import load_game
    from ..lockstep import LockstepClient, LockstepConfig, LockstepServer
    from ..netsim.link import LinkConfig
    from ..netsim.virtual import VirtualNetwork

    with tempfile.TemporaryDirectory() as tmp:
        net = VirtualNetwork(LinkConfig(latency=0.03, jitter=0.005), seed=seed, step=1 / 240)
        server = LockstepServer(LockstepConfig(frame_rate=frame_rate, players_per_match=players, seed=seed,
                                               record_dir=tmp), game=load_game(game), secret=b"b" * 32)
        record_times: list[float] = []
        step_times: list[float] = []
        make_recorder, simulate = server._recorder, server._simulate

        def timed_recorder(match):
            rec = make_recorder(match)
            on_tick = rec.on_tick

            def timed_on_tick(*a, **k):
                t0 = time.perf_counter()
                on_tick(*a, **k)
                record_times.append(time.perf_counter() - t0)
            rec.on_tick = timed_on_tick
            return rec

        def timed_simulate(match, limit=1 << 30):
            t0 = time.perf_counter()
            done = simulate(match, limit)
            if done:
                step_times.append((time.perf_counter() - t0) / done)
            return done

        server._recorder, server._simulate = timed_recorder, timed_simulate
        net.add(("server", 0), server)
        for i in range(players):
            c = LockstepClient(("server", 0), name=f"bot{i}", nonce=i + 1, brain=LockstepBrain(seed * 1000 + i))
            c.connect(0.0)
            net.add(("bot", i), c)
        net.advance(seconds)
        server.shutdown()
        (recorded,) = [os.path.join(tmp, f) for f in os.listdir(tmp)]
        if path is not None:
            shutil.copyfile(recorded, path)
        measured = _size_and_speed(recorded, players)
        us = np.asarray(record_times) * 1e6
        step_us = float(np.mean(step_times) * 1e6)
        return {
            **measured, "game": game, "players": players, "frame_rate": frame_rate,
            "record_us_mean": float(us.mean()), "record_us_p99": float(np.percentile(us, 99)),
            "record_pct_of_frame_interval": float(us.mean()) / (1e6 / frame_rate) * 100,
            "server_step_us_mean": step_us, "record_pct_of_server_step": float(us.mean()) / step_us * 100,
        }


def _size_and_speed(path: str, players: int, workers: int = 0) -> dict:
    """Bytes per player-minute (by record kind) and verification speed, median of 3 (also with ``workers``)."""
    from ..replay.verify import info, verify

    d = info(path)
    speeds, parallel = [], []
    for _ in range(3):
        v = verify(path, clock=time.perf_counter)
        assert v.ok, v
        speeds.append(v.speed)
        if workers:
            v = verify(path, workers=workers, clock=time.perf_counter)
            assert v.ok, v
            parallel.append(v.speed)
    minutes = d["duration_s"] / 60
    out = {"bytes": d["size_bytes"], "duration_s": d["duration_s"],
           "bytes_per_player_minute": d["size_bytes"] / minutes / players,
           "bytes_per_player_minute_by_kind": {k: round(v / minutes / players) for k, v in d["bytes_by_kind"].items()},
           "verify_speed_x_realtime": statistics.median(speeds), "verify_speed_runs": speeds}
    if workers:
        out["verify_speed_parallel_x_realtime"] = statistics.median(parallel)
    return out


def bench(quick: bool = False, progress=None) -> dict:
    seconds = 10.0 if quick else 60.0
    plain = run(seconds)
    if progress:
        progress()
    rewound = run(seconds, views=True)
    if progress:
        progress()
    lockstep = run_lockstep(seconds)
    if progress:
        progress()
    metrics = {
        "bytes_per_player_minute": plain["bytes_per_player_minute"],
        "bytes_per_player_minute_views": rewound["bytes_per_player_minute"],
        "record_us_per_tick": plain["record_us_mean"], "record_us_p99": plain["record_us_p99"],
        "record_pct_of_16ms_tick": plain["record_pct_of_tick_interval"],
        "verify_speed_x_realtime": plain["verify_speed_x_realtime"],
        "verify_speed_x_realtime_views": rewound["verify_speed_x_realtime"],
        "verify_speed_parallel_x_realtime": plain["verify_speed_parallel_x_realtime"],
        "lockstep_bytes_per_player_minute": lockstep["bytes_per_player_minute"],
        "lockstep_record_us_per_frame": lockstep["record_us_mean"],
        "lockstep_record_pct_of_server_step": lockstep["record_pct_of_server_step"],
        "lockstep_verify_speed_x_realtime": lockstep["verify_speed_x_realtime"],
    }
    return {"suite": "replay", "metrics": metrics, "runs": [plain, rewound, lockstep],
            "scenario": {"bots": 8, "npcs": 200, "tick_hz": 60, "seconds": seconds,
                         "lockstep": {"players": 10, "frame_hz": 15, "seconds": seconds}}}


if __name__ == "__main__":  # python -m netcode.bench.replay [seconds]
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    for r in (run(secs), run(secs, views=True), run_lockstep(secs)):
        print({k: (round(x, 3) if isinstance(x, float) else x) for k, x in r.items()})
