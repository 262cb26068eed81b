"""The secure transport end to end over real loopback UDP, through the commands a user types:
`netcode token --new-key`, `netcode serve --key-file`, `netcode bots --key-file` and a client with a token file."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

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
    replays = tmp_path / "replays"
    server = subprocess.Popen([sys.executable, "-m", "netcode", "serve", "--key-file", str(key), "--port", str(port),
                               "--npcs", "20", "--duration", "60", "--record", str(replays)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = server.stdout.readline()
        assert "secure (netcode.io 1.02 tokens for 127.0.0.1:" in started, started + server.stderr.read()
        token = tmp_path / "ann.token"
        made = netcode("token", "--key-file", str(key), "--server", f"127.0.0.1:{port}", "--name", "ann",
                       "--out", str(token))
        assert made.returncode == 0 and token.stat().st_size == 2048, made.stderr
        # the bots, the client with its token file and one without a token play at the same time
        bots = subprocess.Popen([sys.executable, "-m", "netcode", "bots", "--server", f"127.0.0.1:{port}",
                                 "--key-file", str(key), "--count", "2", "--duration", "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        bare = subprocess.Popen([sys.executable, "-m", "client_demo", "--server", f"127.0.0.1:{port}", "--headless",
                                 "--duration", "1.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        client = subprocess.run([sys.executable, "-m", "client_demo", "--token", str(token), "--headless",
                                 "--duration", "3"], capture_output=True, text=True, timeout=60)
        assert client.returncode == 0 and "snapshots" in client.stdout, client.stdout + client.stderr
        bots_out, bots_err = bots.communicate(timeout=60)
        assert bots.returncode == 0, bots_out + bots_err
        # without a token the same server says nothing and the client gives up
        bare_out, _ = bare.communicate(timeout=60)
        assert bare.returncode == 1 and "no answer from" in bare_out, bare_out
    finally:
        # SIGTERM (docker stop, Kubernetes) ends it as its duration would: the replay closed, exit 0
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0 and "Traceback" not in err, err
    files = list(replays.glob("*.ncr"))
    assert len(files) == 1
    info = netcode("replay", "info", "--json", str(files[0]))
    assert info.returncode == 0 and json.loads(info.stdout)["clean"] is True, info.stdout + info.stderr


def test_an_insecure_server_says_so_on_its_start_line():
    out = netcode("serve", "--port", "0", "--duration", "0.5", "--no-record")
    assert out.returncode == 0 and "INSECURE development transport" in out.stdout
