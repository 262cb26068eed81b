"""Lockstep over real loopback UDP: the asyncio server front and bots, in one event loop (a few seconds)."""
import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

from netcode.aio.driver import run
from netcode.bench.processes import free_port
from netcode.aio.lockstep import run_lockstep_bots, serve_lockstep
from netcode.replay import info, verify

from crash import sigkill_once_recorded

ROOT = Path(__file__).resolve().parents[2]


def test_serve_and_bots_play_a_lockstep_match_over_loopback(tmp_path):
    sjson, bjson = tmp_path / "server.json", tmp_path / "bots.json"

    async def main():
        ready = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve_lockstep("127.0.0.1", 0, frame_rate=30, input_delay=4, players_per_match=3,
                                                   matches=4, duration=8.0, json_path=str(sjson), stats_every=60,
                                                   ready=ready.set_result, until_empty=True,
                                                   record_dir=str(tmp_path / "replays")))
        runner = await ready
        bots = await run_lockstep_bots(runner.address, 6, 3.5, json_path=str(bjson), simulating=4, quiet=True)
        stats = await server
        return bots, stats

    bots, stats = run(main(), loop="asyncio")
    assert bots["connected_throughout"] == 6
    assert bots["synced"] == 4  # every simulating bot passed its checksum handshake
    assert stats["desyncs"] == 0 and stats["frames"] > 100 and stats["matches"] == 2
    reports = [r for r in bots["per_bot"] if r["simulate"]]
    assert all(r["checksums"] >= 2 for r in reports)
    assert json.loads(sjson.read_text())["frames"] == stats["frames"]
    assert json.loads(bjson.read_text())["bots"] == 6
    # each match was recorded, and the server's stop completed the files (END record, clean)
    files = sorted((tmp_path / "replays").glob("*-lockstep-*.ncr"))
    assert len(files) == 2
    for path in files:
        r = verify(path)
        assert r.ok and r.clean and r.ticks > 50


def test_sigkilled_lockstep_serve_leaves_replays_that_verify(tmp_path):
    """A real `netcode serve --mode lockstep` records each match; SIGKILL mid-match loses at most the
    last second: the file reads and verifies up to its last flushed record."""
    port = free_port()
    record = tmp_path / "replays"
    proc = subprocess.Popen([sys.executable, "-m", "netcode", "serve", "--mode", "lockstep", "--port", str(port),
                             "--players", "2", "--frame-rate", "30", "--input-delay", "4", "--record", str(record),
                             "--stats", "60"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "lockstep server on" in proc.stdout.readline()
        bots = run(run_lockstep_bots(("127.0.0.1", port), 2, 3.0, simulating=2, quiet=True), loop="asyncio")
        assert bots["connected_throughout"] == 2 and bots["synced"] == 2
    finally:  # the match goes on with its players away
        sigkill_once_recorded(proc, lambda: next(record.glob("*-lockstep-*.ncr"), None), 120)
    assert proc.returncode == -signal.SIGKILL
    (path,) = record.glob("*-lockstep-*.ncr")
    d = info(path)
    assert d["mode"] == "lockstep" and not d["clean"] and d["last_tick"] >= 120
    r = verify(path)
    assert r.ok and not r.clean and r.checksums_checked == r.ticks >= 120


def test_sigterm_stops_a_lockstep_serve_cleanly_with_its_stats(tmp_path):
    out = tmp_path / "server.json"
    proc = subprocess.Popen([sys.executable, "-m", "netcode", "serve", "--mode", "lockstep", "--port", str(free_port()),
                             "--duration", "60", "--no-record", "--json", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "lockstep server on" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert json.loads(out.read_text())["frames"] == 0
