"""Bad input on a command line gets one clear line on stderr and a non-zero exit, never a traceback.

Each case runs the command's own entry point (``netcode.cli.main``) in this process, as ``python -m netcode``
does, and a few run as real subprocesses too (the exit status and stderr a shell sees). The line names the
flag as the user typed it, says what was expected and what was given; nothing else is printed to stderr.
"""
from __future__ import annotations

import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest

from netcode.cli import main

CASES = [
    (["serve", "--max-clients", "0"], "--max-clients: must be 1..2048, got 0"),
    (["serve", "--port", "70000"], "--port: must be 1..65535 (or 0: any free port), got 70000"),
    (["serve", "--port", "-1"], "--port: must be 1..65535 (or 0: any free port), got -1"),
    (["serve", "--tick", "0"], "--tick: must be 10..128, got 0"),
    (["serve", "--tick", "1000"], "--tick: must be 10..128, got 1000"),
    (["serve", "--view-radius", "-5"], "--view-radius: must be >= 1, got -5"),
    (["serve", "--budget-kbps", "-1"], "--budget-kbps: must be >= 1, got -1"),
    (["serve", "--stats", "-2"], "--stats: must be > 0, got -2"),
    (["serve", "--stats", "0"], "--stats: must be > 0, got 0"),
    (["serve", "--duration", "-1"], "--duration: must be >= 0, got -1"),
    (["serve", "--snapshot-rate", "0"], "--snapshot-rate: must be 1..128, got 0"),
    (["serve", "--tick", "sixty"], "--tick: expected an integer, got 'sixty'"),
    (["serve", "--bogus"], "netcode serve: unrecognized arguments: --bogus (see netcode serve --help)"),
    (["serve", "--game", "football", "--npcs", "10"], "--npcs: football has no NPCs"),
    (["serve", "--set", "weapon_damage=-3"], "netcode serve: "),
    (["demo", "--npcs", "-5"], "--npcs: must be >= 0, got -5"),
    (["demo", "--clients", "-1"], "--clients: must be 0..256, got -1"),
    (["demo", "--duration", "-3"], "--duration: must be >= 0, got -3"),
    (["demo", "--port", "65536"], "--port: must be 1..65535 (or 0: any free port), got 65536"),
    (["bots", "--server", "127.0.0.1:0"], "--server: port must be in 1..65535, got 0"),
    (["bots", "--server", "127.0.0.1:9", "--count", "0"], "--count: must be 1..5000, got 0"),
    (["bots", "--server", "127.0.0.1:9", "--duration", "-1"], "--duration: must be >= 0, got -1"),
    (["bots", "--server", "127.0.0.1:9", "--mode", "lockstep", "--mix", "idle=1"],
     "--mix: state sync only (not with --mode lockstep)"),
    (["replay", "verify", "--workers", "-1", "x.ncr"], "--workers: must be 0..64, got -1"),
    (["bench", "nope"], "netcode bench: unknown suite 'nope'"),
    (["soak", "--duration", "-1"], "--duration: must be >= 0, got -1"),
    (["soak", "--duration", "5", "--bots", "0"], "--bots: must be 1..5000, got 0"),
    (["soak", "--duration", "5", "--game", "nope"], "netcode soak: game 'nope' is not installed here"),
    (["lagsim", "--listen", "127.0.0.1:x", "--upstream", "127.0.0.1:9"], "--listen: port must be a number"),
    (["frobnicate"], "netcode: argument COMMAND: invalid choice: 'frobnicate'"),
    (["serve", "--host", "0.0.0.0", "--port", "0"],
     "netcode serve: binding 0.0.0.0 without a private key would serve anyone on the network insecurely"),
    (["serve", "--key-file", "/nonexistent.key"], "netcode serve: /nonexistent.key: No such file or directory"),
    (["serve", "--public-address", "1.2.3.4:5"], "netcode serve: --public-address needs a private key"),
    (["serve", "--protocol-id", "-3"], "--protocol-id: must be 0..18446744073709551615"),
    (["token", "--server", "127.0.0.1:40000"], "netcode token: no private key"),
    (["bots", "--server", "127.0.0.1:9", "--key-file", "/nonexistent.key"], "netcode bots: /nonexistent.key: "),
]


def run(args, timeout=60):
    return subprocess.run([sys.executable, "-m", "netcode", *args], capture_output=True, text=True, timeout=timeout)


def one_line(out) -> str:
    err = out.stderr.strip()
    assert out.returncode != 0, out.stdout + out.stderr
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    return err


def run_here(args, capfd):
    """``netcode ARGS`` in this process: its exit status and what it wrote (an exception fails the test, as a
    traceback would)."""
    try:
        code = main(args)
    except SystemExit as e:  # argparse's usage errors exit
        code = e.code
    out = capfd.readouterr()
    return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)


@pytest.mark.parametrize("args,words", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_one_clear_line_and_a_non_zero_exit(args, words, capfd):
    err = one_line(run_here(args, capfd))
    assert words in err, err


# one of each kind: a bad value, a bad type, an unknown flag, an unknown command, a bad file, and commands
# with parsers of their own (replay, lagsim, soak)
SUBPROCESS_CASES = [(a, w) for a, w in CASES if " ".join(a) in {
    "serve --port 70000", "serve --tick sixty", "serve --bogus", "frobnicate", "serve --key-file /nonexistent.key",
    "bots --server 127.0.0.1:0", "replay verify --workers -1 x.ncr", "soak --duration -1",
    "lagsim --listen 127.0.0.1:x --upstream 127.0.0.1:9"}]
assert len(SUBPROCESS_CASES) == 9  # a renamed case must not drop out silently


@pytest.mark.parametrize("args,words", SUBPROCESS_CASES, ids=[" ".join(a) for a, _ in SUBPROCESS_CASES])
def test_the_same_as_a_process_sees_it(args, words):
    err = one_line(run(args))
    assert words in err, err


@pytest.mark.parametrize("command", [["serve"], ["serve", "--mode", "lockstep"], ["demo", "--no-client"]])
def test_a_port_in_use_says_which_and_leaves_no_replay(command, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        record = ["--record", str(tmp_path)]
        out = run([*command, "--port", str(port), "--duration", "2", *record])
    err = one_line(out)
    assert f"cannot listen on 127.0.0.1:{port}" in err and "in use" in err, err
    assert not list(tmp_path.iterdir())  # a failed bind leaves no empty replay behind
