"""Measurement runs keep their results, and a client says in words what went wrong.

* ``netcode bots`` interrupted with Ctrl-C prints its summary and writes ``--json``; ``--duration 0`` runs until then;
* a client that cannot reach the server says so even when its ``--duration`` ends before the handshake times out;
* a client of one mode against a server of the other leaves with one sentence naming both.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from netcode.bench.processes import free_port
from netcode.lockstep import LockstepClient, LockstepConfig, LockstepServer
from netcode.lockstep.events import ConnectionLost as LockstepLost
from netcode.netsim.link import LinkConfig
from netcode.netsim.virtual import VirtualNetwork
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import ConnectionLost

from helpers import arena_server


def test_bots_interrupted_keep_their_summary_and_json(tmp_path):
    out = tmp_path / "bots.json"
    proc = subprocess.Popen([sys.executable, "-m", "netcode", "bots", "--server", f"127.0.0.1:{free_port()}",
                             "--count", "3", "--duration", "0", "--json", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # running "until Ctrl-C": the first progress line comes 2 s into the run (however slow the start was)
    assert proc.stdout.readline().startswith("bots: ") and proc.poll() is None
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "bots: 0/3 connected at the end" in stdout
    summary = json.loads(out.read_text())
    assert summary["interrupted"] is True and summary["bots"] == 3 and summary["duration_s"] >= 2.0


def test_a_client_that_cannot_reach_the_server_says_so_within_a_short_duration():
    out = subprocess.run([sys.executable, "-m", "client_demo", "--server", f"127.0.0.1:{free_port()}", "--headless",
                          "--duration", "1.5"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "no answer from 127.0.0.1:" in out.stdout and "within 1.5 s (is the server running?)" in out.stdout


def test_a_client_of_the_other_mode_leaves_saying_so():
    net = VirtualNetwork(LinkConfig(latency=0.01), seed=1, step=1 / 120)
    net.add(("state", 0), arena_server())
    net.add(("lockstep", 0), LockstepServer(LockstepConfig(players_per_match=2), secret=b"m" * 32))
    state_client = StateSyncClient(("lockstep", 0), name="s", nonce=1)
    lockstep_client = LockstepClient(("state", 0), name="l", nonce=2)
    for i, c in enumerate((state_client, lockstep_client)):
        c.connect(0.0)
        net.add(("client", i), c)
    net.advance(1.0)
    lost = [e for e in state_client.events() if isinstance(e, ConnectionLost)]
    assert [e.reason for e in lost] == ["the server runs lockstep frame sync, not state sync (use --mode lockstep)"]
    lost = [e for e in lockstep_client.events() if isinstance(e, LockstepLost)]
    assert [e.reason for e in lost] == ["the server runs state sync, not lockstep frame sync (use --mode state)"]
    assert not state_client.transport.connected and not lockstep_client.transport.connected
