"""`netcode soak`: a long run of a state-sync server under a churning bot swarm, checked for slow rot.

Design:

- The server runs in its **own process** (``python -m netcode.cli.soak --child ...``, a thin wrapper
  around ``ServerRunner``), not in the bots' process: its RSS is then the server's alone (the
  swarm and the lag proxy allocate too), its tick times are not inflated by the bots' work on the
  same event loop, a crash or a kill is a real one, and whatever it writes to stderr (tracebacks)
  is captured. It is not plain ``netcode serve`` because that only reports a tick p99 over its
  last 4096 ticks; the child prints one JSON line per tick-time window (exact p50/p99/max of the
  ticks in that window) and its counters, and stops cleanly when its stdin closes (so it never
  outlives the soak).
- The bots (``netcode.aio.bots.Swarm``) run in this process, through an in-process lag proxy
  with the chosen ``netsim`` profile, with a behaviour mix and churn (bots leave and rejoin; those
  disconnects are *expected*, any other is *unexpected*).
- This process samples the server's VmRSS from ``/proc/PID/status`` every second.

The verdict fails (exit 1, a ``SOAK FAILED: ...`` line) on: any unexpected disconnect, the server
exiting early, a traceback/exception on the server's stderr or inside the swarm, tick p99 drifting
upwards (median p99 of the last third of the post-warm-up windows above the first third's by more
than ``--max-tick-drift`` percent *and* more than ``--tick-drift-floor-ms``), or RSS growing more
than ``--max-memory-growth`` percent between the end of the warm-up (60 s or 10 % of the run,
whichever is shorter) and the end of the run (each side the median RSS over one tick window).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import time

from .options import TICK_RATES, float_at_least, int_in

SAMPLE_S = 1.0
STARTUP_TIMEOUT_S = 30.0
LOOP_LAG_WARN_MS = 100.0  # the swarm's loop this late: the harness, not the server, is the bottleneck
TRANSPORT_TIMEOUT_S = 5.0
MIN_DRIFT_TICKS = 500  # a window's p99 is judged for drift only over at least this many ticks  # TransportConfig.timeout: how long bots take to notice a dead server


def read_rss_kb(pid: int | str = "self") -> int | None:
    """VmRSS of a process in KiB from /proc (None where there is no /proc or the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


MIN_WARMUP_S = 20.0  # joins, caches and allocator pools settle in this long: RSS before it says nothing


def warmup_seconds(duration: float) -> float:
    """The warm-up before memory growth counts: 10 % of the run, at least 20 s and at most 60 s. A run too
    short to leave two memory windows after it gets no memory verdict (it says so), rather than a warm-up
    so short that the server's start-up growth reads as a leak."""
    return max(MIN_WARMUP_S, min(60.0, 0.1 * duration))


def window_seconds(duration: float, window: float = 30.0) -> float:
    """Tick-time window length: ``window`` (30 s), shrunk for short runs so there are at least ~6."""
    return max(1.0, min(window, duration / 6.0))


# ----------------------------------------------------------------------------------------- child


async def _child_main(args) -> int:
    """The server process: ServerRunner plus JSON lines on stdout; ends when stdin closes."""
    import threading

    import numpy as np

    from ..aio.driver import set_on_signals
    from ..aio.serve import ServerRunner
    from ..game import load_game
    from ..statesync.server import ServerConfig, StateSyncServer

    loop = asyncio.get_running_loop()
    exceptions = [0]

    def on_exception(loop, context):
        exceptions[0] += 1
        loop.default_exception_handler(context)  # prints the traceback to stderr

    loop.set_exception_handler(on_exception)
    config = ServerConfig(tick_rate=args.tick, max_clients=args.max_clients)
    game = load_game(args.game)
    options = {"npcs": args.npcs} if "npcs" in game.options else {}  # the arena's NPC drones; other games: none
    core = StateSyncServer.for_game(game, config, seed=args.seed, options=options, spec=args.game)
    runner = await ServerRunner.start(core, args.host, args.port, args.record)
    ticker = runner.core.ticker
    # room for a whole window of tick durations (the default ring keeps 4096)
    ticker.window = max(ticker.window, int(args.tick * args.window * 1.5) + 16)
    ticker._durations = np.zeros(ticker.window, dtype=np.float64)
    ticker.clear_durations()

    def emit(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    host, port = runner.address
    emit({"kind": "ready", "host": host, "port": port, "pid": os.getpid()})
    stop = asyncio.Event()

    def wait_stdin() -> None:
        # Read the file descriptor, not sys.stdin.buffer: a daemon thread blocked in the buffered reader holds
        # its lock, and an interpreter shutdown while stdin is open can abort on it (seen once: exit -6 after
        # the clean "final" line, "_enter_buffered_busy: could not acquire lock for <stdin>").
        try:
            fd = sys.stdin.fileno()
            while os.read(fd, 4096):
                pass
        except (OSError, ValueError):
            pass
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:  # the loop closed first (a signal stopped us)
            pass

    threading.Thread(target=wait_stdin, daemon=True).start()
    set_on_signals(stop, signal.SIGTERM, signal.SIGINT)
    start = time.monotonic()
    window_start = start
    next_window = start + args.window
    deadline = start + args.max_duration
    traced = None  # the tracemalloc snapshot at the end of the warm-up (--trace-memory)
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            if args.trace_memory_after >= 0 and traced is None and time.monotonic() - start >= args.trace_memory_after:
                import tracemalloc

                tracemalloc.start(1)  # from here on: what is allocated after the warm-up and still held
                traced = tracemalloc.take_snapshot()
            try:
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, min(SAMPLE_S, next_window - time.monotonic())))
            except asyncio.TimeoutError:
                pass
            now = time.monotonic()
            s = runner.core.stats()
            if now >= next_window - 1e-3:
                t = ticker.stats()
                emit({"kind": "window", "t0": window_start - start, "t1": now - start, "ticks": t["samples"],
                      "p50_ms": t["p50_ms"], "p99_ms": t["p99_ms"], "max_ms": t["max_ms"], "mean_ms": t["mean_ms"],
                      "clients": s["clients"], "overruns": s["overruns"], "skipped": s["skipped"],
                      "rss_kb": read_rss_kb()})
                ticker.clear_durations()
                window_start = now
                next_window += args.window
            emit({"kind": "sample", "t": now - start, "clients": s["clients"], "away": s["away"],
                  "tick": s["tick"], "overruns": s["overruns"], "rss_kb": read_rss_kb(),
                  "exceptions": exceptions[0]})
    finally:
        stats = runner.core.stats()
        await runner.close()
        stats.pop("recent_shots", None)
        stats["exceptions"] = exceptions[0]
        transport = runner.core.transport
        stats["transport"] = {"dropped": dict(getattr(transport, "dropped", {})),
                              "handshakes": dict(getattr(transport, "handshakes", {}))}
        stats["counters"] = {k: v for k, v in getattr(runner.core, "counters", {}).items()}
        emit({"kind": "final", "stats": stats, "growth_sites": _growth_sites(traced)})
    return 0


def _growth_sites(before, top: int = 10) -> list | None:
    """The allocation sites that grew most since ``before`` (a tracemalloc snapshot): [file:line, KiB, blocks]."""
    if before is None:
        return None
    import tracemalloc

    diff = tracemalloc.take_snapshot().compare_to(before, "lineno")
    grown = [d for d in diff if d.size_diff > 0][:top]
    return [[f"{d.traceback[0].filename}:{d.traceback[0].lineno}", round(d.size_diff / 1024, 1), d.count_diff]
            for d in grown]


def _child(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m netcode.cli.soak --child")
    p.add_argument("--child", action="store_true")
    p.add_argument("--game", default="arena")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--npcs", type=int, default=2000)
    p.add_argument("--tick", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-clients", type=int, default=64)
    p.add_argument("--window", type=float, default=30.0)
    p.add_argument("--max-duration", type=float, default=86400.0)
    p.add_argument("--record", default=None)
    p.add_argument("--trace-memory-after", type=float, default=-1.0)
    args = p.parse_args(argv)
    from ..aio.driver import run
    return run(_child_main(args))


# ------------------------------------------------------------------------------------------ soak


def _median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2) if n else math.nan


def tick_drift(windows: list[dict], warmup: float, min_ticks: int = 500) -> dict | None:
    """Median p99 of the first vs last third of the post-warm-up windows.

    None when there are fewer than 3 such windows of at least ``min_ticks`` ticks each: the p99 of a
    shorter window is its one or two slowest ticks (a join's full snapshot), noise rather than drift.
    """
    ws = [w for w in windows if w["t0"] >= warmup - 1e-6 and w["ticks"] >= min_ticks]
    if len(ws) < 3:
        return None
    k = max(1, len(ws) // 3)
    first, last = _median([w["p99_ms"] for w in ws[:k]]), _median([w["p99_ms"] for w in ws[-k:]])
    return {"windows": len(ws), "first_p99_ms": first, "last_p99_ms": last,
            "drift_pct": (last - first) / first * 100 if first > 0 else 0.0, "drift_ms": last - first}


def memory_growth(samples: list[tuple[float, int]], warmup: float, span: float = 30.0) -> dict | None:
    """RSS just after the warm-up vs at the end of the run, each the median over ``span`` seconds.

    Medians over a window on both sides (rather than single samples) keep one transient step at
    either end from deciding the verdict alone; the least-squares trend is reported beside it.
    """
    after = [(t, kb) for t, kb in samples if t >= warmup]
    if len(after) < 2 or after[-1][0] - after[0][0] < 2 * span:
        return None  # not enough of the run after the warm-up for two windows that don't overlap
    t_first, t_last = after[0][0], after[-1][0]
    base = _median([kb for t, kb in after if t <= t_first + span])
    end = _median([kb for t, kb in after if t >= t_last - span])
    # least-squares slope after the warm-up: a leak is a steady climb, a warm-up a step
    ts, ks = [t for t, _ in after], [kb / 1024 for _, kb in after]
    mt, mk = sum(ts) / len(ts), sum(ks) / len(ks)
    var = sum((t - mt) ** 2 for t in ts)
    slope = sum((t - mt) * (k - mk) for t, k in zip(ts, ks)) / var * 60 if var > 0 else 0.0
    return {"warmup_s": warmup, "span_s": span, "rss_start_mb": base / 1024, "rss_end_mb": end / 1024,
            "rss_peak_mb": max(kb for _, kb in samples) / 1024, "growth_pct": (end - base) / base * 100,
            "slope_mb_per_min": slope}


_ERROR_WORDS = ("traceback", "exception", "error")


async def soak(duration: float, bots: int = 64, profile: str | None = "wifi", npcs: int = 2000, churn: float = 6.0,
               tick: int = 60, seed: int = 1, mix: dict[str, int] | None = None, decode_every: int = 4,
               window: float = 30.0, max_memory_growth: float = 5.0, max_tick_drift: float = 50.0,
               tick_drift_floor_ms: float = 1.0, record: str | None = None, kill_server_at: float | None = None,
               warmup: float | None = None, json_path: str | None = None, quiet: bool = False,
               game: str = "arena", trace_memory: bool = False) -> dict:
    """Run the soak; returns the report (``report["ok"]``, ``report["failures"]``)."""
    from ..aio.bots import Swarm

    def say(line: str) -> None:
        if not quiet:
            print(line, flush=True)

    loop = asyncio.get_running_loop()
    local_errors: list[str] = []

    def on_exception(loop, context):
        exc = context.get("exception")
        local_errors.append(f"{type(exc).__name__}: {exc}" if exc else str(context.get("message")))
        loop.default_exception_handler(context)

    old_handler = loop.get_exception_handler()
    loop.set_exception_handler(on_exception)
    # --duration 0: until Ctrl-C; windows and warm-up then take their long-run lengths
    win = window_seconds(duration or 3600.0, window)
    warm = warmup_seconds(duration or 3600.0) if warmup is None else float(warmup)
    cmd = [sys.executable, "-m", "netcode.cli.soak", "--child", "--game", game, "--npcs", str(npcs), "--tick", str(tick),
           "--seed", str(seed), "--max-clients", str(max(64, bots + 16)), "--window", str(win),
           "--max-duration", str(duration + 120 if duration else 30 * 86400)]
    if record:
        cmd += ["--record", record]
    if trace_memory:
        cmd += ["--trace-memory-after", str(warm)]
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    windows: list[dict] = []
    samples: list[tuple[float, int]] = []  # (t since bots started, server RSS KiB)
    stderr_lines: list[str] = []
    final: dict | None = None
    sites: list | None = None  # the server's growing allocation sites (--trace-memory)
    ready: dict | None = None
    failures: list[str] = []
    server_exit: dict | None = None

    async def read_stderr() -> None:
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                stderr_lines.append(line)

    async def read_stdout(first: asyncio.Future) -> None:
        nonlocal final, sites
        async for raw in proc.stdout:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            kind = obj.get("kind")
            if kind == "ready" and not first.done():
                first.set_result(obj)
            elif kind == "window":
                windows.append(obj)
            elif kind == "final":
                final = obj["stats"]
                sites = obj.get("growth_sites")
        if not first.done():
            first.set_result(None)

    first: asyncio.Future = loop.create_future()
    readers = [asyncio.create_task(read_stderr()), asyncio.create_task(read_stdout(first))]
    swarm = None
    played = 0.0
    try:
        try:
            ready = await asyncio.wait_for(first, STARTUP_TIMEOUT_S)
        except asyncio.TimeoutError:
            ready = None
        if ready is None:
            await asyncio.sleep(0.2)
            raise RuntimeError("the server did not start: " + (" | ".join(stderr_lines[-5:]) or "no output"))
        server = (ready["host"], ready["port"])
        say(f"soak: server pid {proc.pid} on {server[0]}:{server[1]} ({tick} Hz, {npcs} NPCs); {bots} bots"
            f"{f' through {profile}' if profile else ''}, churn {churn:g}/min, {duration:g} s; tick windows of "
            f"{win:g} s, warm-up {warm:g} s")
        swarm = Swarm(server, bots, "mixed", seed, decode_every, through=profile, mix=mix, churn=churn)
        await swarm.start()
        stop = asyncio.Event()
        t0 = time.monotonic()

        async def monitor() -> None:
            nonlocal server_exit
            killed = False
            seen = 0
            while not stop.is_set():
                now = time.monotonic() - t0
                kb = read_rss_kb(proc.pid) if proc.returncode is None else None
                if kb is not None:
                    samples.append((now, kb))
                if kill_server_at is not None and not killed and now >= kill_server_at:
                    killed = True
                    say(f"soak: fault injection: killing the server (SIGKILL) at {now:.1f} s")
                    proc.kill()
                if proc.returncode is not None and server_exit is None:
                    server_exit = {"t": now, "returncode": proc.returncode}
                    say(f"soak: the server exited (code {proc.returncode}) at {now:.1f} s; waiting "
                        f"{TRANSPORT_TIMEOUT_S + 1:g} s for the bots to notice")
                    await asyncio.sleep(TRANSPORT_TIMEOUT_S + 1.0)
                    stop.set()
                    return
                while seen < len(windows):
                    w = windows[seen]
                    seen += 1
                    c = swarm.counts()
                    say(f"soak [{w['t1']:7.1f}s] clients {w['clients']:3d}  tick p50 {w['p50_ms']:.2f} ms  "
                        f"p99 {w['p99_ms']:.2f} ms  max {w['max_ms']:.2f} ms  RSS {(w['rss_kb'] or 0) / 1024:.1f} MB  "
                        f"disconnects {c['expected_disconnects']} expected / {c['unexpected_disconnects']} unexpected")
                try:
                    await asyncio.wait_for(proc.wait(), SAMPLE_S)
                except asyncio.TimeoutError:
                    pass

        mon = asyncio.create_task(monitor())
        try:
            played = await swarm.run(duration, quiet=True, stop=stop)
        except asyncio.CancelledError:  # Ctrl-C: judge what ran so far
            played = time.monotonic() - t0
            say(f"soak: interrupted after {played:.0f} s; judging what ran")
        stop.set()
        await mon
    finally:
        summary = await swarm.finish(played) if swarm is not None else None
        if proc.returncode is None:
            proc.stdin.close()  # the child closes cleanly and prints its final stats
            try:
                await asyncio.wait_for(proc.wait(), 15.0)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                failures.append("the server did not stop within 15 s of being asked")
        await asyncio.wait(readers, timeout=5.0)
        loop.set_exception_handler(old_handler)

    # ---------------------------------------------------------------------------------- verdict
    counts = {k: summary[k] for k in ("expected_disconnects", "unexpected_disconnects", "bots_lost", "reconnects",
                                      "reconnects_token", "reconnects_new", "rejoined_slot_kept")}
    if counts["unexpected_disconnects"]:
        reasons = sorted({r["lost"] for r in summary["per_bot"] if r["lost"]})
        failures.append(f"{counts['unexpected_disconnects']} unexpected disconnect(s) "
                        f"({counts['bots_lost']} bots lost: {'; '.join(reasons[:3])})")
        for r in summary["per_bot"]:
            for d in r.get("loss_details", []):  # what the bot's client (and the proxy) saw when it was lost
                say(f"soak: bot {r['bot']} lost: {json.dumps(d, sort_keys=True)}")
    if server_exit is not None:
        failures.append(f"the server exited early (code {server_exit['returncode']}) at {server_exit['t']:.1f} s")
    exceptions = [ln for ln in stderr_lines if any(w in ln.lower() for w in _ERROR_WORDS)]
    if exceptions:
        failures.append(f"{len(exceptions)} error line(s) on the server's stderr, first: {exceptions[0][:160]}")
    if final is not None and final.get("exceptions"):
        failures.append(f"{final['exceptions']} unhandled exception(s) in the server's event loop")
    bot_errors = list(summary["errors"]) + local_errors
    if bot_errors:
        failures.append(f"{len(bot_errors)} exception(s) in the bot swarm, first: {bot_errors[0][:160]}")
    drift = tick_drift(windows, warm, MIN_DRIFT_TICKS)
    if drift is not None and drift["drift_pct"] > max_tick_drift and drift["drift_ms"] > tick_drift_floor_ms:
        failures.append(f"tick p99 drifted up {drift['drift_pct']:+.0f} % ({drift['first_p99_ms']:.2f} -> "
                        f"{drift['last_p99_ms']:.2f} ms; bound {max_tick_drift:g} % and {tick_drift_floor_ms:g} ms)")
    # memory over the part of the run the server was alive for
    alive = [(t, kb) for t, kb in samples if server_exit is None or t < server_exit["t"]]
    mem = memory_growth(alive, warm, win)
    if mem is not None and mem["growth_pct"] > max_memory_growth:
        failures.append(f"server RSS grew {mem['growth_pct']:+.1f} % after the {warm:g} s warm-up "
                        f"({mem['rss_start_mb']:.1f} -> {mem['rss_end_mb']:.1f} MB; bound {max_memory_growth:g} %)")
    if not windows and server_exit is None:
        failures.append("no tick-time window was reported by the server")
    rss_windows = []
    for w in windows:
        in_w = [kb for t, kb in samples if w["t0"] <= t <= w["t1"] + SAMPLE_S]
        rss_windows.append({"t0": w["t0"], "t1": w["t1"], "rss_mb": (max(in_w) if in_w else (w["rss_kb"] or 0)) / 1024})
    report = {
        "ok": not failures, "failures": failures,
        "scenario": {"duration_s": duration, "bots": bots, "profile": profile, "npcs": npcs, "churn_per_min": churn,
                     "tick_hz": tick, "seed": seed, "mix": mix or "the game's default", "decode_every": decode_every,
                     "window_s": win, "warmup_s": warm, "max_memory_growth_pct": max_memory_growth,
                     "max_tick_drift_pct": max_tick_drift, "tick_drift_floor_ms": tick_drift_floor_ms,
                     "kill_server_at": kill_server_at, "loop_lag_warn_ms": LOOP_LAG_WARN_MS},
        "played_s": played, "server_pid": proc.pid, "server_exit": server_exit,
        "server_returncode": proc.returncode,
        "tick_windows": windows, "tick_drift": drift,
        "memory": mem, "memory_sites": sites, "rss_windows": rss_windows, "rss_samples": [[round(t, 2), kb] for t, kb in samples],
        "disconnects": counts,
        "errors": {"server_stderr": stderr_lines[-50:], "server_error_lines": len(exceptions),
                   "bots": bot_errors},
        "server_final": final,
        "bots": {k: v for k, v in summary.items() if k != "per_bot"}, "per_bot": summary["per_bot"],
    }
    if not quiet:
        print_report(report)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=2)
    return report


def print_report(r: dict) -> None:
    sc = r["scenario"]
    print(f"\nsoak: {sc['bots']} bots{' through ' + sc['profile'] if sc['profile'] else ''}, churn "
          f"{sc['churn_per_min']:g}/min, {sc['npcs']} NPCs, {sc['tick_hz']} Hz, {r['played_s']:.0f} s played")
    print(f"{'window':>15}  {'clients':>7}  {'ticks':>6}  {'p50 ms':>7}  {'p99 ms':>7}  {'max ms':>7}  {'RSS MB':>7}")
    for w, m in zip(r["tick_windows"], r["rss_windows"]):
        print(f"{w['t0']:6.0f}-{w['t1']:6.0f} s  {w['clients']:7d}  {w['ticks']:6d}  {w['p50_ms']:7.2f}  "
              f"{w['p99_ms']:7.2f}  {w['max_ms']:7.2f}  {m['rss_mb']:7.1f}")
    d = r["tick_drift"]
    if d is None:
        print(f"tick p99 drift: not judged (needs 3 windows of >= {MIN_DRIFT_TICKS} ticks after the warm-up; "
              f"run longer than ~{3 * MIN_DRIFT_TICKS / sc['tick_hz'] * 2:.0f} s)")
    else:
        print(f"tick p99 drift: {d['first_p99_ms']:.2f} ms (first third) -> {d['last_p99_ms']:.2f} ms (last third), "
              f"{d['drift_pct']:+.0f} % (bound {sc['max_tick_drift_pct']:g} % and {sc['tick_drift_floor_ms']:g} ms)")
    m = r["memory"]
    if m is None:
        print(f"memory: not judged: less than 2 x {sc['window_s']:g} s of RSS samples after the "
              f"{sc['warmup_s']:g} s warm-up (run longer than ~{sc['warmup_s'] + 2 * sc['window_s']:.0f} s)")
    else:
        print(f"memory: server RSS {m['rss_start_mb']:.1f} MB after the {m['warmup_s']:g} s warm-up -> "
              f"{m['rss_end_mb']:.1f} MB at the end (medians over {m['span_s']:g} s) ({m['growth_pct']:+.1f} %, bound {sc['max_memory_growth_pct']:g} %),"
              f" peak {m['rss_peak_mb']:.1f} MB, trend {m['slope_mb_per_min']:+.2f} MB/min")
        sites = r.get("memory_sites")
        if sites:
            print("memory: what the server allocated after the warm-up and still holds, largest first (tracemalloc):")
            for where, kib, blocks in sites:
                print(f"  {kib:+10.1f} KiB  {blocks:+8d} blocks  {where}")
        elif m["growth_pct"] > sc["max_memory_growth_pct"]:
            print("memory: run again with --trace-memory to see the allocation sites that grew (it slows the "
                  "server: tracemalloc)")
    c = r["disconnects"]
    print(f"disconnects: {c['expected_disconnects']} expected (churn), {c['unexpected_disconnects']} unexpected; "
          f"reconnects {c['reconnects']} ({c['reconnects_token']} with token, {c['rejoined_slot_kept']} got their slot "
          f"back; {c['reconnects_new']} as new players)")
    b = r["bots"]
    if b.get("loop_lag_ms_p99", 0) > LOOP_LAG_WARN_MS:
        print(f"warning: the bots' own event loop ran late (p99 {b['loop_lag_ms_p99']:.0f} ms, max "
              f"{b['loop_lag_ms_max']:.0f} ms): this machine cannot drive {sc['bots']} bots and the proxy in one "
              f"process and also host the server; RTTs and the server's tick times are inflated by CPU contention "
              f"(try fewer --bots or a higher --decode-every)")
    print(f"bots: snapshot rate median {b['snapshot_rate_hz_median']:.1f} Hz, RTT median {b['rtt_ms_median'] or 0:.1f} ms, "
          f"{b['kbit_in_per_bot']:.1f} kbit/s in per bot")
    f = r["server_final"]
    if f:
        print(f"server: {f.get('joins', 0)} joins, {f.get('rejoins', 0)} rejoins, {f.get('players removed', 0)} players "
              f"removed, overruns {f.get('overruns', 0)}, skipped ticks {f.get('skipped', 0)}, dropped datagrams "
              f"{f.get('dropped_datagrams', 0)}")
    e = r["errors"]
    print(f"errors: {e['server_error_lines']} on the server's stderr, {len(e['bots'])} in the bot swarm")
    for line in [ln for ln in e["server_stderr"] if any(w in ln.lower() for w in _ERROR_WORDS)][:5]:
        print(f"  server: {line[:200]}")
    for line in e["bots"][:5]:
        print(f"  bots: {line[:200]}")
    if r["ok"]:
        print(f"SOAK PASSED: {r['played_s']:.0f} s, no unexpected disconnects, no exceptions, tick p99 and memory "
              f"within bounds", flush=True)
    else:
        print("SOAK FAILED: " + "; ".join(r["failures"]), flush=True)


# ------------------------------------------------------------------------------------------- cli


def _mix_arg(text: str) -> dict[str, int]:
    from ..bots import parse_mix
    try:
        return parse_mix(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``netcode soak`` to the CLI's subparsers."""
    from ..netsim.link import PROFILES

    s = subparsers.add_parser("soak", help="long run under a churning bot swarm; fails on disconnects, "
                                           "exceptions, tick drift or memory growth")
    s.add_argument("--duration", type=float_at_least(0), required=True, metavar="S",
                   help="seconds of play (0 = until Ctrl-C, then judged)")
    s.add_argument("--bots", type=int_in(1, 5000), default=64)
    s.add_argument("--profile", default="wifi", choices=[*PROFILES, "none"],
                   help="netsim profile of the lag proxy in front of the server ('none': connect directly)")
    s.add_argument("--game", default="arena", metavar="NAME|MODULE:ATTR", help="the game to serve (default arena)")
    s.add_argument("--npcs", type=int_in(0), default=2000, help="arena: NPC drones")
    s.add_argument("--churn", type=float_at_least(0), default=6.0, metavar="PER_MIN",
                   help="leave-and-rejoin events per minute across the swarm (0: none)")
    s.add_argument("--mix", type=_mix_arg, default=None, metavar="B=W,...",
                   help="behaviour weights (default: the game's mix; the arena's is idle=1,wander=2,fight=5)")
    s.add_argument("--tick", type=int_in(*TICK_RATES), default=60)
    s.add_argument("--seed", type=int_in(0), default=1)
    s.add_argument("--decode-every", type=int_in(1), default=4, metavar="N",
                   help="bots decode (and ack) every N-th snapshot, so one process can drive many")
    s.add_argument("--window", type=float_at_least(1), default=30.0, metavar="S",
                   help="tick-time window (shrunk for short runs to duration/6)")
    s.add_argument("--max-memory-growth", type=float, default=5.0, metavar="PCT")
    s.add_argument("--max-tick-drift", type=float, default=50.0, metavar="PCT",
                   help="fail if the last third's median window p99 exceeds the first third's by this much ...")
    s.add_argument("--tick-drift-floor-ms", type=float, default=1.0, metavar="MS",
                   help="... and by at least this many ms")
    s.add_argument("--warmup", type=float_at_least(0), default=None, metavar="S",
                   help="seconds before memory growth counts (default: 10 %% of the run, at least 20 s, at most 60 s)")
    s.add_argument("--record", metavar="DIR", default=None, help="record the match's replay (default: no)")
    s.add_argument("--kill-server-at", type=float_at_least(0), default=None, metavar="S",
                   help="fault injection: SIGKILL the server after S seconds (the soak must then fail)")
    s.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    s.add_argument("--trace-memory", action="store_true",
                   help="trace the server's allocations from the warm-up on and print the sites that grew most "
                        "(tracemalloc: slows the server, so tick times are not comparable)")
    s.set_defaults(func=_cmd_soak)
    return s


def _cmd_soak(args) -> int:
    from ..aio.driver import run

    from .options import trust_all
    if not trust_all([args.game], "netcode soak"):  # the bots here play the game the server process names
        return 2
    try:
        report = run(soak(args.duration, bots=args.bots, profile=None if args.profile == "none" else args.profile,
                          npcs=args.npcs, churn=args.churn, tick=args.tick, seed=args.seed, mix=args.mix,
                          decode_every=args.decode_every, window=args.window,
                          max_memory_growth=args.max_memory_growth, max_tick_drift=args.max_tick_drift,
                          tick_drift_floor_ms=args.tick_drift_floor_ms, record=args.record,
                          kill_server_at=args.kill_server_at, warmup=args.warmup, json_path=args.json,
                          game=args.game, trace_memory=args.trace_memory))
    except RuntimeError as e:
        print(f"SOAK FAILED: {e}", file=sys.stderr)
        return 1
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    if "--child" in sys.argv[1:]:
        sys.exit(_child(sys.argv[1:]))
    p = argparse.ArgumentParser(prog="python -m netcode.cli.soak")
    add_parser(p.add_subparsers(dest="command", required=True))
    a = p.parse_args(["soak", *sys.argv[1:]])
    sys.exit(a.func(a))
