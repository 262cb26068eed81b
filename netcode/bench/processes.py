"""Benchmarks that need real processes: a server process and a bot-swarm process on loopback UDP."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile


def free_port() -> int:
    """A UDP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server_and_bots(server_args: list[str], bots_args: list[str], timeout: float) -> tuple[dict, dict, int]:
    """Start `python -m <server_args> --json F`, wait for its "server on" line, run
    `python -m <bots_args> --json G` to completion, wait for the server; return (server JSON, bots JSON,
    bots exit code). The server is killed if anything goes wrong, so no process outlives the call."""
    with tempfile.TemporaryDirectory() as tmp:
        sjson, bjson = os.path.join(tmp, "server.json"), os.path.join(tmp, "bots.json")
        server = subprocess.Popen([sys.executable, "-m", *server_args, "--json", sjson],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            if "server on" not in line:
                raise RuntimeError(f"server did not start: {line}{server.stderr.read()}")
            bots = subprocess.run([sys.executable, "-m", *bots_args, "--json", bjson],
                                  capture_output=True, text=True, timeout=timeout)
            server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        with open(sjson) as f:
            s = json.load(f)
        with open(bjson) as f:
            b = json.load(f)
    return s, b, bots.returncode
