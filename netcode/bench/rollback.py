"""`netcode bench lockstep`'s rollback figures: one 10-player lockstep match at 15 Hz in virtual time through the
seeded network simulator, every client predicting and rolling back (netcode.lockstep.rollback), at several
round trips, beside the same match played by classic clients (complete frames only) in the same run.

Per round trip: inputs lost (made by a client, never in any frame), input-to-screen latency in frames (making
an input -> the first frame drawn with it), rollbacks per second per client, frames re-simulated per rollback
(p99), the client's simulation time per update that stepped or rolled back (p99, real time on this machine:
the frame budget a renderer has to share) and desyncs. Then one long run at 10 % loss counts desyncs over
10,000 frames. The simulator's clock is virtual; the CPU times are real.
"""
from __future__ import annotations

import math
import time

import numpy as np

RTTS_MS = (0, 100, 200, 300)
JITTER_MS = 20  # round trip: +-10 ms each way
LOSS = 0.02
PLAYERS = 10
RATE = 15


def _time_updates(client) -> None:
    """Record the real time of each update that stepped or re-simulated a frame (``client.update_times``): what
    a renderer's frame would spend in the netcode."""
    orig = client.update
    client.update_times = []

    def update(now):
        before = (client.counters.frames, client.rb.counters.resimulated if client.rb is not None else 0)
        t0 = time.perf_counter()
        orig(now)
        dt = time.perf_counter() - t0
        if (client.counters.frames, client.rb.counters.resimulated if client.rb is not None else 0) != before:
            client.update_times.append(dt)
    client.update = update


def _match(rtt_ms: float, rollback: int, seconds: float, loss: float = LOSS, seed: int = 1, players: int = PLAYERS):
    from ..bots import LockstepBrain
    from ..game import load_game
    from ..lockstep import LockstepClient, LockstepConfig, LockstepServer
    from ..lockstep.client import ClientConfig
    from ..netsim.link import LinkConfig
    from ..netsim.virtual import VirtualNetwork

    game = load_game("arena")
    link = LinkConfig(latency=rtt_ms / 2000.0, jitter=JITTER_MS / 2000.0, loss=loss)
    net = VirtualNetwork(link, seed=seed, step=1 / 240)
    server = LockstepServer(LockstepConfig(players_per_match=players, start_players=players, frame_rate=RATE),
                            game=game, secret=b"b" * 32)
    net.add(("server", 1), server)
    clients = []
    for i in range(players):
        c = LockstepClient(("server", 1), name=f"p{i}", nonce=1 + i, brain=LockstepBrain(seed * 100 + i),
                           config=ClientConfig(rollback=rollback))
        _time_updates(c)
        c.connect(net.now)
        net.add(("client", i), c)
        clients.append(c)
    if not net.run_until(lambda: all(c.frame > 0 for c in clients), 30.0):
        raise RuntimeError("the bench match did not start")
    net.advance(3.0)  # the lead and the delay settle
    for c in clients:
        c.input_latency.clear()
        c.update_times.clear()
        if c.rb is not None:
            c.rb.depths.clear()
    server.mark()
    base = [(c.rb.counters.rollbacks if c.rb else 0) for c in clients]
    start_frame = max(m.frame for m in server.matches.values())
    t0 = time.perf_counter()
    net.advance(seconds)
    wall = time.perf_counter() - t0
    end_frame = max(m.frame for m in server.matches.values())
    # inputs lost: frames the server built without a client's input that never came. The newest second's may
    # still be in flight (carried when they land), so those are not counted either way.
    recent = end_frame - math.ceil(1.0 * RATE)
    lost = 0
    for p in server.everyone:
        in_flight = sum(1 for g, counted in p.missed if counted and g > recent)
        lost += p.counters.missing - in_flight
    stats = server.stats()
    latency = np.array([x for c in clients for x in c.input_latency]) * RATE
    work = np.array([x for c in clients for x in c.update_times]) * 1000
    depths = np.array([d for c in clients if c.rb is not None for d in c.rb.depths])
    rollbacks = [((c.rb.counters.rollbacks if c.rb else 0) - b) / seconds for c, b in zip(clients, base)]
    return {
        "rtt_ms": rtt_ms, "jitter_ms": JITTER_MS, "loss": loss, "rollback_window": rollback, "players": players,
        "frames": end_frame - start_frame, "seconds": seconds, "wall_s": wall,
        "inputs_lost": int(lost), "inputs_carried": int(stats["late_inputs"]),
        "input_to_screen_frames_p50": float(np.percentile(latency, 50)) if len(latency) else None,
        "input_to_screen_frames_p99": float(np.percentile(latency, 99)) if len(latency) else None,
        "rollbacks_per_s": float(np.median(rollbacks)),
        "resimulated_frames_p99": float(np.percentile(depths, 99)) if len(depths) else 0.0,
        "client_update_ms_p99": float(np.percentile(work, 99)) if len(work) else 0.0,
        "client_update_ms_max": float(work.max()) if len(work) else 0.0,
        "input_delay": sorted({c.delay for c in clients}),
        "lead_ms": float(np.median([c.lead.value * 1000 for c in clients])) if rollback else 0.0,
        "stalls": sum(c.rb.counters.stalls for c in clients if c.rb is not None),
        "desyncs": stats["desyncs"] + sum(c.counters.resyncs for c in clients),
    }


def bench(quick: bool = False, progress=None) -> dict:
    # --quick: the two ends of the range and a short lossy run, so that every suite together stays near a minute
    seconds = 4.0 if quick else 40.0
    long_frames = 300 if quick else 10_000
    rtts = (0, 300) if quick else RTTS_MS
    runs, classic = [], []
    for rtt in rtts:
        runs.append(_match(rtt, 8, seconds))
        if progress:
            progress()
        classic.append(_match(rtt, 0, seconds))
        if progress:
            progress()
    long = _match(100, 8, long_frames / RATE, loss=0.10, seed=7)
    if progress:
        progress()
    metrics = {"desyncs_10pct_loss": long["desyncs"], "frames_10pct_loss": long["frames"],
               "inputs_lost_10pct_loss": long["inputs_lost"]}
    for r, c in zip(runs, classic):
        k = f"{r['rtt_ms']}ms"
        metrics[f"rollback_inputs_lost_{k}"] = r["inputs_lost"]
        metrics[f"rollback_input_to_screen_frames_{k}"] = r["input_to_screen_frames_p50"]
        metrics[f"classic_input_to_screen_frames_{k}"] = c["input_to_screen_frames_p50"]
        metrics[f"rollbacks_per_s_{k}"] = r["rollbacks_per_s"]
        metrics[f"resimulated_frames_p99_{k}"] = r["resimulated_frames_p99"]
        metrics[f"client_update_ms_p99_{k}"] = r["client_update_ms_p99"]
        metrics[f"rollback_desyncs_{k}"] = r["desyncs"]
    return {"suite": "rollback", "metrics": metrics, "runs": runs, "classic_runs": classic, "long_run": long,
            "scenario": {"players": PLAYERS, "frame_rate": RATE, "rtts_ms": list(rtts), "jitter_ms": JITTER_MS,
                         "loss": LOSS, "seconds": seconds, "long_frames": long_frames, "long_loss": 0.10,
                         "long_rtt_ms": 100, "warmup_s": 3.0,
                         "rollback_window": 8, "game": "arena"}}
