"""A real `netcode serve` killed with SIGKILL mid-match leaves a replay that info and verify accept."""
import json
import signal
import subprocess
import sys
import time

import pytest

from netcode.bench.processes import free_port

pytestmark = pytest.mark.e2e


def test_sigkill_mid_match_leaves_a_verifiable_replay(tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "netcode", "serve", "--port", str(port), "--npcs", "100",
                               "--record", str(tmp_path), "--stats", "100"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "recording to" in server.stdout.readline()
        bots = subprocess.Popen([sys.executable, "-m", "netcode", "bots", "--server", f"127.0.0.1:{port}",
                                 "--count", "4", "--duration", "4"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3.5)  # a real process, really running: the replay flushes at least every second
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        bots.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    [replay] = list(tmp_path.glob("*.ncr"))
    info = subprocess.run([sys.executable, "-m", "netcode", "replay", "info", str(replay), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    doc = json.loads(info.stdout)
    assert doc["clean"] is False  # no END record: it was killed
    assert doc["last_tick"] >= 60  # at least a second of play survived
    verify = subprocess.run([sys.executable, "-m", "netcode", "replay", "verify", str(replay)],
                            capture_output=True, text=True, timeout=120)
    # a killed server's file is not a whole match: verify says so and fails, unless told to accept a torn tail
    assert verify.returncode == 3 and verify.stdout.startswith("DAMAGED: salvaged part"), verify.stdout + verify.stderr
    assert "Traceback" not in verify.stderr
    verify = subprocess.run([sys.executable, "-m", "netcode", "replay", "verify", "--allow-truncated", str(replay)],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
