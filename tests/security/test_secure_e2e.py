"""The secure transport end to end over real loopback UDP, through the commands a user types:
`netcode token --new-key`, `netcode serve --key-file`, `netcode bots --key-file` and a client with a token file."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from netcode.bench.processes import free_port

pytestmark = pytest.mark.e2e


def netcode(*args, **kw):
    return subprocess.run([sys.executable, "-m", "netcode", *args], capture_output=True, text=True, timeout=60, **kw)


def test_a_keyed_server_admits_bots_and_a_client_with_tokens_and_says_it_is_secure(tmp_path):
    key = tmp_path / "server.key"
    assert netcode("token", "--new-key", str(key)).returncode == 0
    assert (key.stat().st_mode & 0o777) == 0o600
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "netcode", "serve", "--key-file", str(key), "--port", str(port),
                               "--npcs", "20", "--duration", "12", "--no-record"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        token = tmp_path / "ann.token"
        made = netcode("token", "--key-file", str(key), "--server", f"127.0.0.1:{port}", "--name", "ann",
                       "--out", str(token))
        assert made.returncode == 0 and token.stat().st_size == 2048, made.stderr
        bots = netcode("bots", "--server", f"127.0.0.1:{port}", "--key-file", str(key), "--count", "2",
                       "--duration", "3")
        assert bots.returncode == 0, bots.stdout + bots.stderr
        client = subprocess.run([sys.executable, "-m", "client_demo", "--token", str(token), "--headless",
                                 "--duration", "3"], capture_output=True, text=True, timeout=60)
        assert client.returncode == 0 and "snapshots" in client.stdout, client.stdout + client.stderr
        # without a token the same server says nothing and the client gives up
        bare = subprocess.run([sys.executable, "-m", "client_demo", "--server", f"127.0.0.1:{port}", "--headless",
                               "--duration", "1.5"], capture_output=True, text=True, timeout=60)
        assert bare.returncode == 1 and "no answer from" in bare.stdout
    finally:
        out, err = server.communicate(timeout=30)
    assert "secure (netcode.io 1.02 tokens for 127.0.0.1:" in out and "Traceback" not in err


def test_an_insecure_server_says_so_on_its_start_line():
    out = netcode("serve", "--port", "0", "--duration", "0.5", "--no-record")
    assert out.returncode == 0 and "INSECURE development transport" in out.stdout
