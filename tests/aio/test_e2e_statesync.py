"""`netcode serve` and `netcode bots` as real processes over loopback UDP."""
import json
import subprocess
import sys

import pytest

from netcode.bench.processes import free_port

pytestmark = pytest.mark.e2e


def test_serve_and_32_bots_for_6_seconds(tmp_path):
    port = free_port()
    # --fixed-rate: this checks the configured 60 Hz; with adaptation (the default) a bots process that falls
    # behind on a busy machine acks late, looks like a queue, and rightly gets fewer snapshots
    server = subprocess.Popen([sys.executable, "-m", "netcode", "serve", "--port", str(port), "--npcs", "500",
                               "--duration", "30", "--until-empty", "--stats", "2",
                               "--json", str(tmp_path / "server.json"), "--record", str(tmp_path / "replays"),
                               "--fixed-rate"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "server on" in server.stdout.readline()
        bots = subprocess.run([sys.executable, "-m", "netcode", "bots", "--server", f"127.0.0.1:{port}",
                               "--count", "32", "--duration", "6", "--json", str(tmp_path / "bots.json")],
                              capture_output=True, text=True, timeout=90)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert bots.returncode == 0, bots.stdout + bots.stderr
    summary = json.loads((tmp_path / "bots.json").read_text())
    assert summary["connected_throughout"] == 32
    for bot in summary["per_bot"]:
        assert bot["lost"] is None
        assert bot["missing_baseline"] == 0
    # The configured 60 Hz, as the bots saw it. 32 bots share one process and the suite's other worker shares
    # the two cores, so a bot that falls behind counts fewer (a median of 42.7 Hz on one slow runner): the
    # bound catches a server that stops sending, halves its rate or sends too often, not a slow host; how
    # steady the rate is, is `netcode bench statesync`'s.
    rates = sorted(bot["snapshot_rate_hz"] for bot in summary["per_bot"])
    assert rates[0] > 20 and rates[len(rates) // 2] > 35 and rates[-1] <= 65, rates
    stats = json.loads((tmp_path / "server.json").read_text())
    # A stall beyond the catch-up limit (5 ticks) skips ticks; on a shared 2-core runner another test's process
    # can cause one (measured: 1-3 overruns in 14 s with one busy-loop process beside it, before and after the
    # same change; 18 of 826 ticks, 2.2 %, with another real-time end-to-end test beside it), so how often is a
    # benchmark's question. Here: the server kept its clock, never fell far behind.
    assert stats["skipped"] <= 0.05 * stats["tick"], stats
    assert stats["measured_s"] < 20, stats["measured_s"]  # --until-empty: it stopped when the bots left
    # each process says what share of a core it used (netcode bench statesync reports both): a single-threaded
    # process that ticked or played for seconds used some, and never much more than one core
    assert 1 < stats["cpu_pct"] < 150 and 1 < summary["cpu_pct"] < 150, (stats["cpu_pct"], summary["cpu_pct"])
    assert summary["loop_lag_ms_p99"] >= 0
    assert "Traceback" not in err


def test_serve_rejects_bad_flags_with_one_line():
    out = subprocess.run([sys.executable, "-m", "netcode", "serve", "--tick", "500", "--duration", "1", "--no-record"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_bots_reject_bad_server_address():
    out = subprocess.run([sys.executable, "-m", "netcode", "bots", "--server", "nowhere"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "HOST:PORT" in out.stderr and "Traceback" not in out.stderr
