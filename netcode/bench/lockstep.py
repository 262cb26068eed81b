"""`netcode bench lockstep`: ONE server process hosting many 10-player lockstep matches at 15 Hz, all the bots
in a second process, real loopback UDP.

Most bots are light load bots (netcode.aio.loadbot): the wire traffic of a non-simulating client — they
acknowledge every bundle and send their inputs on the client's schedule (the whole network load) — without
decoding bundles or stepping a World; the first ``SIMULATING`` bots are full clients that simulate and report
checksums, so desync detection is live in every run. A client count passes when the frame send jitter
(schedule → the frame's datagrams handed to the socket) has p99 ≤ 5 ms, no frame went out late
(> interval/4), every bot stayed connected and the bots kept up (≤ 2 % of inputs filled as missing: a bots
process that falls behind would load the server less than its client count says).

It also gives the rollback figures (netcode.bench.rollback): one 10-player match in virtual time at several
round trips, rollback clients beside classic ones, and a 10,000-frame run at 10 % loss counting desyncs.
"""
from __future__ import annotations

import json
import os
import sys
import time

from .processes import free_port, run_server_and_bots

SIMULATING = 10
JITTER_P99_LIMIT_MS = 5.0
MISSING_INPUT_LIMIT_PCT = 2.0


def run_load(clients: int, seconds: float, warmup: float, frame_rate: int = 15, players: int = 10,
             simulate: bool = True) -> dict:
    """One server process + one bots process; returns the server's frame timing and the bots' traffic."""
    port = free_port()
    matches = -(-clients // players)
    s, b, bots_exit = run_server_and_bots(
        ["netcode", "serve", "--mode", "lockstep", "--no-record", "--port", str(port), "--matches", str(matches),
         "--players", str(players), "--frame-rate", str(frame_rate), "--duration", str(warmup + seconds + 60),
         "--warmup", str(warmup), "--stats", "3600", "--until-empty"] + ([] if simulate else ["--no-simulate"]),
        ["netcode", "bots", "--mode", "lockstep", "--server", f"127.0.0.1:{port}",
         "--count", str(clients), "--simulating", str(SIMULATING), "--duration", str(warmup + seconds),
         "--warmup", str(warmup), "--quiet"],
        timeout=warmup + seconds + 120)
    frames = max(1, s["frames"])
    missing_pct = 100.0 * s["missing_inputs"] / (frames * players)
    # A point only counts when the bots kept up: a bots process that falls behind sends its inputs late
    # (filled as missing), and the server then has less to do than the client count says.
    ok = (s["send_jitter_p99_ms"] <= JITTER_P99_LIMIT_MS and s["frames_sent_late"] == 0
          and b["connected_throughout"] == clients and s["frames"] > 0 and missing_pct <= MISSING_INPUT_LIMIT_PCT)
    return {"clients": clients, "matches": matches, "ok": ok, "server_simulates": simulate,
            "send_jitter_p50_ms": s["send_jitter_p50_ms"], "send_jitter_p99_ms": s["send_jitter_p99_ms"],
            "send_jitter_max_ms": s["send_jitter_max_ms"], "build_jitter_p99_ms": s["jitter_p99_ms"],
            "frames": s["frames"], "frames_late": s["frames_sent_late"], "frame_flush_p99_ms": s["frame_flush_p99_ms"],
            "missing_input_pct": missing_pct,
            "late_inputs": s["late_inputs"], "desyncs": s["desyncs"],
            "bots_connected": b["connected_throughout"], "synced": b["synced"], "max_stall_ms": b["max_stall_ms"],
            "up_bits_per_s_per_client": b["up_bits_per_s_per_client"],
            "down_bits_per_s_per_client": b["down_bits_per_s_per_client"],
            "up_wire_bits_per_s_per_client": b["up_wire_bits_per_s_per_client"],
            "down_wire_bits_per_s_per_client": b["down_wire_bits_per_s_per_client"],
            "server_cpu_pct": s.get("cpu_pct"), "bots_cpu_pct": b.get("cpu_pct"),
            "bots_exit": bots_exit}


def sim_cost(frames: int = 300, players: int = 10, frame_rate: int = 15, game: str = "arena") -> float:
    """Microseconds for the server to simulate one frame of one match (the price of authoritative lockstep)."""
    import random

    import numpy as np

    from ..game import load_game
    from ..lockstep.frames import apply_frame

    g = load_game(game)
    schema = g.inputs
    config = g.make_config(mode="lockstep", max_players=players, tick_rate=frame_rate)
    w = g.new_world(config, 1)
    r = random.Random(1)
    bots = [g.make_bot(i, g.bot_behaviours[-1]) for i in range(players)]
    inputs = [schema.encode_many(np.array([b.blind() for b in bots], dtype=np.uint64)) for _ in range(frames)]
    apply_frame(g, w, inputs[0], join=(1 << players) - 1)
    r.shuffle(inputs)
    t = time.perf_counter()
    for records in inputs:
        apply_frame(g, w, records)
    return (time.perf_counter() - t) / frames * 1e6


def _best(runs: list[dict]) -> dict | None:
    passed = [r for r in runs if r["ok"]]
    return max(passed, key=lambda r: r["clients"]) if passed else None


def bench(quick: bool = False, progress=None) -> dict:
    """Sweep client counts with the server simulating (the default, authoritative mode); the full run also
    sweeps the pure relay (``simulate=False``) to show what the server-side simulation costs."""
    # --quick: one load point, so that the quick run of every suite stays short (about three minutes in all)
    seconds, warmup = (4.0, 3.0) if quick else (10.0, 6.0)
    sweep = (100,) if quick else (200, 300, 500, 1000)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    runs, relay = [], []
    for n in sweep:
        runs.append(run_load(n, seconds, warmup))
        if progress:
            progress()
    if not quick:
        for n in sweep[1:]:
            relay.append(run_load(n, seconds, warmup, simulate=False))
            if progress:
                progress()
    from .rollback import bench as rollback_bench

    rollback = rollback_bench(quick, progress)
    best = _best(runs)
    shown = best or runs[0]
    us = sim_cost()
    metrics = {
        "clients_per_process_no_late_frames": best["clients"] if best else 0,
        "up_bits_per_s_per_client": shown["up_bits_per_s_per_client"],
        "down_bits_per_s_per_client": shown["down_bits_per_s_per_client"],
        "up_wire_bits_per_s_per_client": shown["up_wire_bits_per_s_per_client"],
        "down_wire_bits_per_s_per_client": shown["down_wire_bits_per_s_per_client"],
        "desyncs": sum(r["desyncs"] for r in runs + relay),
        "server_sim_us_per_match_frame": us,
        "server_sim_cpu_pct_100_matches": us * 1e-6 * 15 * 100 * 100,
    }
    if relay:
        rb = _best(relay)
        metrics["clients_per_process_no_late_frames_relay"] = rb["clients"] if rb else 0
    for r in runs:
        metrics[f"send_jitter_p99_ms_{r['clients']}c"] = r["send_jitter_p99_ms"]
        metrics[f"frames_late_{r['clients']}c"] = r["frames_late"]
        metrics[f"missing_input_pct_{r['clients']}c"] = r["missing_input_pct"]
    for r in relay:
        metrics[f"relay_send_jitter_p99_ms_{r['clients']}c"] = r["send_jitter_p99_ms"]
    metrics.update(rollback["metrics"])
    return {"suite": "lockstep", "metrics": metrics, "runs": runs, "relay_runs": relay, "rollback": rollback,
            "scenario": {"players_per_match": 10, "frame_rate": 15, "input_delay": 2, "redundancy": 3,
                         "simulating_bots": SIMULATING, "seconds": seconds, "warmup": warmup, "sweep": list(sweep),
                         "jitter_p99_limit_ms": JITTER_P99_LIMIT_MS,
                         "missing_input_limit_pct": MISSING_INPUT_LIMIT_PCT, "load_average_at_start": load,
                         "cpus": os.cpu_count()}}


if __name__ == "__main__":  # python -m netcode.bench.lockstep [--quick]
    out = bench(quick="--quick" in sys.argv)
    print(json.dumps(out, indent=2))
