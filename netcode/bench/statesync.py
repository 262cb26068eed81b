"""`netcode bench statesync`: a real server process, a bot swarm process, loopback UDP.

Scenario (issue target): 128 clients, 10,000 NPCs, 60 Hz. Also measured in the same run: the
snapshot bytes against a naive msgpack dict-per-entity snapshot of the same AOI view, the AOI
update against a numpy brute force, and a sweep of client counts for the tick-time curve.
"""
from __future__ import annotations

import numpy as np

from .aoi import bench_aoi
from ..game import load_game
from ..netsim.link import LinkConfig
from ..netsim.virtual import VirtualNetwork
from ..wire.snapshot import naive_snapshot_bytes
from .processes import free_port, run_server_and_bots


def run_match(clients: int, npcs: int | None, seconds: float, warmup: float, tick: int = 60,
              decode_every: int = 3, game: str = "arena") -> dict:
    """One server process + one bots process; returns server tick stats and bot traffic."""
    port = free_port()
    s, b, bots_exit = run_server_and_bots(
        ["netcode", "serve", "--game", game, "--port", str(port), *(["--npcs", str(npcs)] if npcs is not None else []),
         "--tick", str(tick),
         "--max-clients", str(clients), "--duration", str(warmup + seconds), "--warmup", str(warmup),
         "--stats", "3600", "--no-record"],
        ["netcode", "bots", "--server", f"127.0.0.1:{port}", "--count", str(clients),
         "--duration", str(warmup + seconds - 0.5),
         # one core can't decode 128 × 60 snapshots/s in Python: bots decode and ack every 3rd
         "--decode-every", str(decode_every)],
        timeout=warmup + seconds + 120)
    return {"clients": clients, "tick_p50_ms": s["tick_p50_ms"], "tick_p99_ms": s["tick_p99_ms"],
            "tick_max_ms": s["tick_max_ms"], "ticks_per_s": s["ticks_since_mark"] / max(s["measured_s"], 1e-9),
            "overruns": s["overruns"], "skipped": s["skipped"],
            "down_kbit_per_client": s["snapshot_bytes_since_mark"] * 8 / 1000 / max(s["measured_s"], 1e-9)
            / max(1, clients),
            "bots_connected": b["connected_throughout"], "bot_snapshot_rate_hz": b["snapshot_rate_hz_median"],
            # who limits the run: near 100 % of a core, the bots' one process falls behind and the adaptive budget
            # sends them fewer snapshots (their loop then wakes late too)
            "server_cpu_pct": s["cpu_pct"], "bots_cpu_pct": b["cpu_pct"],
            "bots_loop_lag_ms_p99": b["loop_lag_ms_p99"],
            "bots_exit": bots_exit}


def delta_ratio(clients: int = 128, npcs: int | None = 10_000, seconds: float = 1.0, seed: int = 1,
                game: str = "arena", options: dict | None = None) -> dict:
    """Our snapshot message bytes vs naive msgpack of the same AOI views, in virtual time."""
    from ..bots import add_virtual_bots
    from ..statesync.server import ServerConfig, StateSyncServer

    g = load_game(game)
    opts = dict(options or {})
    if npcs is not None:
        opts["npcs"] = npcs
    net = VirtualNetwork(LinkConfig(latency=0.005), seed=seed, step=1 / 120)
    server = StateSyncServer.for_game(g, ServerConfig(max_clients=clients), seed=seed, options=opts,
                                      secret=b"bench-delta-ratio-secret")
    schema = g.entities.snapshot
    net.add(("server", 0), server)
    add_virtual_bots(net, ("server", 0), clients)
    net.advance(1.0)  # joins and the first full snapshots are not the steady state
    ours, naive, entities, count = [0], [0], [0], [0]

    def observe(cs, view, message):
        ours[0] += len(message)
        naive[0] += len(naive_snapshot_bytes(0, view, schema))
        entities[0] += len(view)
        count[0] += 1

    server.snapshot_observer = observe
    net.advance(seconds)
    n = count[0]
    return {"delta_ratio_vs_naive": naive[0] / max(1, ours[0]), "snapshot_bytes_mean": ours[0] / max(1, n),
            "naive_bytes_mean": naive[0] / max(1, n), "visible_entities_mean": entities[0] / max(1, n)}


def bench(quick: bool = False, progress=None) -> dict:
    seconds, warmup = (3.0, 2.0) if quick else (10.0, 3.0)
    repeats = 1 if quick else 3
    sweep = (128,) if quick else (16, 64, 128, 256)
    runs = []
    for _ in range(repeats):
        runs.append(run_match(128, 10_000, seconds, warmup))
        if progress:
            progress()
    curve = []
    for n in sweep:
        curve.append(runs[0] if n == 128 else run_match(n, 10_000, seconds, warmup))
        if progress:
            progress()
    aoi = bench_aoi(10_000, 128, updates=30 if quick else 100)
    ratio = delta_ratio(128, 10_000, seconds=0.5 if quick else 2.0)
    med = {k: float(np.median([r[k] for r in runs])) for k in
           ("tick_p50_ms", "tick_p99_ms", "ticks_per_s", "down_kbit_per_client", "bot_snapshot_rate_hz",
            "server_cpu_pct", "bots_cpu_pct", "bots_loop_lag_ms_p99")}
    metrics = {**med, "bots_connected": min(r["bots_connected"] for r in runs),
               "delta_ratio_vs_naive": ratio["delta_ratio_vs_naive"],
               "snapshot_bytes_mean": ratio["snapshot_bytes_mean"], "naive_bytes_mean": ratio["naive_bytes_mean"],
               "visible_entities_mean": ratio["visible_entities_mean"],
               "aoi_ms_10k": aoi["aoi_ms_10k"], "aoi_bruteforce_ms": aoi["bruteforce_ms"],
               "aoi_speedup_vs_bruteforce": aoi["aoi_speedup_vs_bruteforce"]}
    for r in curve:
        metrics[f"tick_p99_ms_{r['clients']}c"] = r["tick_p99_ms"]
    return {"suite": "statesync", "metrics": metrics, "runs": runs, "sweep": curve,
            "scenario": {"clients": 128, "npcs": 10_000, "tick_hz": 60, "seconds": seconds, "warmup": warmup,
                         "repeats": repeats}}
