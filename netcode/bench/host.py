"""`netcode bench host`: matches per machine, and the matchmaker's speed.

1. **Matches held.** k state-sync matches of 8 bots + 500 NPCs at 60 Hz, each match's tick p99 <= 16.6 ms:
   `netcode host --workers 2` (matches spread over its two worker processes, bots sent by its matchmaker)
   against the same load as one `netcode serve` process per match, stepping k up in the same run. The bots
   run in their own processes (one per match, decoding every 3rd snapshot) in both cases.
2. **Matchmaker throughput.** Tickets posted to the embedded matchmaker's HTTP API by 50 concurrent clients
   and long-polled until assigned: tickets assigned per second, time from POST to assignment p50/p99.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

from ..security.keys import KEY_ENV
from .processes import free_port

BUDGET_MS = 1000 / 60
PLAYERS = 8
NPCS = 500


def _tcp_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bots(args: list[str], seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "netcode", "bots", *args, "--count", str(PLAYERS),
                             "--duration", str(seconds), "--decode-every", "3"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def host_run(k: int, warmup: float, seconds: float, key: bytes) -> dict:
    """k matches on `netcode host --workers 2`; every match's tick p99 (after its warm-up)."""
    mm, status = _tcp_port(), _tcp_port()
    env = {**os.environ, KEY_ENV: key.hex()}
    host = subprocess.Popen([sys.executable, "-m", "netcode", "host", "--workers", "2", "--port", "0", "--no-record",
                             "--npcs", str(NPCS), "--matchmaker", "--matchmaker-port", str(mm), "--metrics-port",
                             str(status), "--max-players", str(PLAYERS), "--wait", "600", "--no-bots",
                             "--max-rooms", "64", "--duration", str(warmup + seconds + 30)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        if "netcode host:" not in host.stdout.readline():
            raise RuntimeError(f"netcode host did not start: {host.stderr.read()}")
        bots = [_bots(["--matchmaker", f"http://127.0.0.1:{mm}"], warmup + seconds + 2) for _ in range(k)]
        time.sleep(warmup + seconds)
        with urllib.request.urlopen(f"http://127.0.0.1:{status}/status", timeout=10) as r:
            workers = json.load(r)["workers"]
        for b in bots:
            b.wait(timeout=60)
    finally:
        host.terminate()
        try:
            host.wait(timeout=60)
        except subprocess.TimeoutExpired:
            host.kill()
    rooms = [room for w in workers for room in w.get("rooms", [])]
    p99 = [room["tick_p99_ms"] for room in rooms if room.get("tick_samples", 0) > 0]
    return {"matches": k, "rooms_seen": len(rooms), "clients": sum(room["clients"] for room in rooms),
            "tick_p99_ms_worst": max(p99) if p99 else float("inf"), "tick_p99_ms": p99,
            "per_worker_rooms": [len(w.get("rooms", [])) for w in workers]}


def serve_run(k: int, warmup: float, seconds: float) -> dict:
    """k matches as k `netcode serve` processes (the baseline)."""
    with tempfile.TemporaryDirectory() as tmp:
        servers, bots, files = [], [], []
        try:
            for i in range(k):
                port = free_port()
                out = os.path.join(tmp, f"s{i}.json")
                files.append(out)
                servers.append(subprocess.Popen(
                    [sys.executable, "-m", "netcode", "serve", "--port", str(port), "--npcs", str(NPCS),
                     "--max-clients", str(PLAYERS), "--duration", str(warmup + seconds), "--warmup", str(warmup),
                     "--stats", "3600", "--no-record", "--json", out],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
            for s in servers:
                s.stdout.readline()
            bots = [_bots(["--server", s_port], warmup + seconds - 0.5)
                    for s_port in [_port_of(s) for s in servers]]
            for s in servers:
                s.wait(timeout=warmup + seconds + 60)
            for b in bots:
                b.wait(timeout=60)
        finally:
            for p in servers + bots:
                if p.poll() is None:
                    p.kill()
        stats = [json.load(open(f)) for f in files if os.path.exists(f)]
    p99 = [s["tick_p99_ms"] for s in stats]
    # the bots leave just before their server writes its stats: count who joined, not who is still there
    return {"matches": k, "clients": sum(s.get("joins", 0) for s in stats),
            "tick_p99_ms_worst": max(p99) if p99 else float("inf"), "tick_p99_ms": p99}


def _port_of(proc) -> str:
    return "127.0.0.1:" + proc.args[proc.args.index("--port") + 1]


def matches_held(run, steps, **kw) -> tuple[int, list]:
    """The largest k of ``steps`` whose every match held tick p99 <= the 60 Hz budget (stops at the first
    that does not)."""
    held, rows = 0, []
    for k in steps:
        r = run(k, **kw)
        rows.append(r)
        ok = r["tick_p99_ms_worst"] <= BUDGET_MS and r.get("clients", 0) >= PLAYERS * k * 0.9
        if not ok:
            break
        held = k
    return held, rows


async def _throughput(url: str, tickets: int, concurrency: int = 50) -> dict:
    from aiohttp import ClientSession, ClientTimeout

    waits: list[float] = []
    queue = list(range(tickets))

    async def worker(http):
        while queue:
            queue.pop()
            t0 = time.perf_counter()
            async with http.post(f"{url}/tickets", json={"players": 2, "party": ["p"]}) as r:
                t = await r.json()
            while t["state"] == "queued":
                async with http.get(f"{url}/tickets/{t['ticket_id']}", params={"wait": "10"}) as r:
                    t = await r.json()
            if t["state"] == "assigned":
                waits.append(time.perf_counter() - t0)

    start = time.perf_counter()
    async with ClientSession(timeout=ClientTimeout(total=120)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    a = np.asarray(waits) * 1000
    return {"tickets": tickets, "assigned": len(waits), "tickets_per_s": len(waits) / elapsed,
            "assign_p50_ms": float(np.percentile(a, 50)), "assign_p99_ms": float(np.percentile(a, 99))}


def matchmaker_run(tickets: int, key: bytes) -> dict:
    mm = _tcp_port()
    host = subprocess.Popen([sys.executable, "-m", "netcode", "host", "--workers", "1", "--port", "0", "--no-record",
                             "--matchmaker", "--matchmaker-port", str(mm), "--max-players", "2", "--wait", "600",
                             "--no-bots", "--max-rooms", "4096"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, KEY_ENV: key.hex()})
    try:
        if "netcode host:" not in host.stdout.readline():
            raise RuntimeError(f"netcode host did not start: {host.stderr.read()}")
        from ..aio.driver import run
        return run(_throughput(f"http://127.0.0.1:{mm}", tickets))
    finally:
        host.terminate()
        host.wait(timeout=60)


def bench(quick: bool = False, progress=None) -> dict:
    warmup, seconds = (3.0, 4.0) if quick else (4.0, 8.0)
    steps = (1, 2, 4, 6) if quick else (1, 2, 3, 4, 6, 8, 10, 12)
    key = os.urandom(32)
    repeats = 1 if quick else 3
    held_host, held_serve, rows_host, rows_serve, mms = [], [], [], [], []
    for _ in range(repeats):
        h, rh = matches_held(host_run, steps, warmup=warmup, seconds=seconds, key=key)
        s, rs = matches_held(serve_run, steps, warmup=warmup, seconds=seconds)
        held_host.append(h)
        held_serve.append(s)
        rows_host.append(rh)
        rows_serve.append(rs)
        mms.append(matchmaker_run(500 if quick else 2000, key))
        if progress:
            progress()
    med = lambda xs, k: float(np.median([x[k] for x in xs]))  # noqa: E731
    metrics = {
        "matches_held_host_workers2": float(np.median(held_host)),
        "matches_held_serve_per_match": float(np.median(held_serve)),
        "host_to_serve_ratio": float(np.median(held_host)) / max(1.0, float(np.median(held_serve))),
        "matchmaker_tickets_per_s": med(mms, "tickets_per_s"),
        "matchmaker_assign_p50_ms": med(mms, "assign_p50_ms"),
        "matchmaker_assign_p99_ms": med(mms, "assign_p99_ms"),
    }
    return {"suite": "host", "metrics": metrics,
            "runs": {"host": rows_host, "serve": rows_serve, "matchmaker": mms,
                     "held_host": held_host, "held_serve": held_serve},
            "scenario": {"players_per_match": PLAYERS, "npcs": NPCS, "tick_rate": 60, "budget_ms": BUDGET_MS,
                         "steps": list(steps), "warmup_s": warmup, "seconds": seconds, "repeats": repeats,
                         "bots": "one process per match, decode every 3rd snapshot"}}
