"""`netcode bench football`: the second built-in game through the same measurements as the arena.

* state sync: a server process and a bots process over loopback, 64 clients at 60 Hz (a 32-a-side match
  on the standard pitch): tick p50/p99 and bandwidth;
* snapshots: our delta-compressed message bytes against a naive msgpack dict-per-entity snapshot of the
  same view, in virtual time;
* lockstep: 6-player matches at 15 Hz over a simulated link with 10 % loss (and jitter), in virtual time:
  desyncs reported by clients, frames whose checksums disagreed, and whether the replay verifies.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .statesync import delta_ratio, run_match

CLIENTS = 64


def lockstep_under_loss(frames: int, players: int = 6, loss: float = 0.10, seed: int = 7) -> dict:
    """One virtual lockstep match of football at ``loss``: what the clients and the server's judge saw."""
    from ..bots import LockstepBrain
    from ..game import load_game
    from ..lockstep import LockstepClient, LockstepConfig, LockstepServer
    from ..netsim.link import LinkConfig
    from ..netsim.virtual import VirtualNetwork
    from ..replay import verify

    game = load_game("football")
    with tempfile.TemporaryDirectory() as tmp:
        net = VirtualNetwork(LinkConfig(latency=0.04, jitter=0.01, loss=loss), seed=seed, step=1 / 120)
        server = LockstepServer(LockstepConfig(players_per_match=players, start_players=players, seed=seed,
                                               record_dir=tmp, match_frames=frames), game=game,
                                secret=b"bench-football-lockstep-secret!!")
        net.add(("server", 0), server)
        clients = []
        for i in range(players):
            c = LockstepClient(("server", 0), name=f"p{i}", nonce=100 + i, brain=LockstepBrain(seed * 10 + i, "play"))
            c.connect(0.0)
            net.add(("client", i), c)
            clients.append(c)
        net.run_until(lambda: all(c.frame >= frames for c in clients), frames / 15 + 30)
        server.shutdown()
        by_frame: dict[int, set] = {}
        for c in clients:
            for f, crc in c.checksums.items():
                by_frame.setdefault(f, set()).add(crc)
        paths = list(Path(tmp).glob("*.ncr"))
        r = verify(paths[0]) if paths else None
        return {"frames": min(c.frame for c in clients), "checksum_frames": len(by_frame),
                "disagreeing_frames": sum(1 for v in by_frame.values() if len(v) > 1),
                "desync_reports": server.counters["desync reports"],
                "replay_verifies": bool(r and r.ok and r.clean)}


def bench(quick: bool = False, progress=None) -> dict:
    seconds, warmup = (3.0, 2.0) if quick else (10.0, 3.0)
    repeats = 1 if quick else 3
    runs = []
    for _ in range(repeats):
        runs.append(run_match(CLIENTS, None, seconds, warmup, game="football"))
        if progress:
            progress()
    ratio = delta_ratio(CLIENTS, None, seconds=0.5 if quick else 2.0, game="football")
    ls = lockstep_under_loss(450 if quick else 3000)
    med = {k: float(np.median([r[k] for r in runs])) for k in
           ("tick_p50_ms", "tick_p99_ms", "ticks_per_s", "down_kbit_per_client")}
    metrics = {**{f"{k}_{CLIENTS}c": v for k, v in med.items()},
               "bots_connected": min(r["bots_connected"] for r in runs),
               "delta_ratio_vs_naive": ratio["delta_ratio_vs_naive"],
               "snapshot_bytes_mean": ratio["snapshot_bytes_mean"], "naive_bytes_mean": ratio["naive_bytes_mean"],
               "visible_entities_mean": ratio["visible_entities_mean"],
               "lockstep_frames_10pct_loss": ls["frames"], "lockstep_desyncs_10pct_loss": ls["desync_reports"],
               "lockstep_disagreeing_frames": ls["disagreeing_frames"],
               "lockstep_replay_verifies": int(ls["replay_verifies"])}
    return {"suite": "football", "metrics": metrics, "runs": runs, "lockstep": ls,
            "scenario": {"clients": CLIENTS, "tick_hz": 60, "seconds": seconds, "warmup": warmup, "repeats": repeats,
                         "lockstep": {"players": 6, "frame_rate": 15, "loss": 0.10, "latency_ms": 40, "jitter_ms": 10}}}
