"""`netcode demo` in both modes, as `make demo` runs it without a display: server, bots and a headless client."""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode,server_line,client_line", [
    ("state", "state-sync server on", "client: "),
    ("lockstep", "lockstep server on", "client: played "),
])
def test_demo_hosts_a_match_and_the_headless_client_plays_it(mode, server_line, client_line):
    out = subprocess.run([sys.executable, "-m", "netcode", "demo", "--mode", mode, "--clients", "2", "--npcs", "50",
                          "--duration", "4", "--headless"], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stdout + out.stderr
    assert server_line in out.stdout and "Traceback" not in out.stderr
    assert client_line in out.stdout
    if mode == "lockstep":
        assert "handshake ok, desyncs 0" in out.stdout
