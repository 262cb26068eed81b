"""A game defined here, outside netcode/, goes through state sync, lockstep and replay verification with no
change to the core: the Game interface is all the netcode needs.

The game is Tag (tests/tag_game.py, the one docs/GAME_API.md builds): no optional capability at all.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netcode.game import announce, capabilities, load_game, spec_of
from netcode.lockstep import LockstepClient, LockstepConfig, LockstepServer
from netcode.netsim.link import LinkConfig
from netcode.replay import MatchRecorder, info, verify
from netcode.statesync.client import StateSyncClient
from netcode.statesync.server import ServerConfig, StateSyncServer
from netcode.netsim.virtual import VirtualNetwork

from tag_game import GAME, WITH_BOTS, TagGame, Walker

HERE = Path(__file__).resolve().parents[1]  # tests/: the Tag game lives there
ROOT = HERE.parent


SPEC = "tag_game:TagGame"


def walker(i: int):
    """A scripted player (the game itself has no bots): walks a square, sprints now and then."""
    return Walker(i).decide


def test_the_plugin_is_a_game_with_no_capabilities():
    g = load_game(SPEC)
    assert type(g).__name__ == "TagGame" and capabilities(g) == ()
    assert spec_of(GAME) == SPEC and announce(GAME, GAME.make_config(mode="state", max_players=4, tick_rate=30))["game"]


def test_state_sync_match_records_and_verifies(tmp_path):
    net = VirtualNetwork(LinkConfig(latency=0.02, jitter=0.005, loss=0.05), seed=3, step=1 / 120)
    config = ServerConfig(tick_rate=30, max_clients=4)
    server = StateSyncServer.for_game(GAME, config, seed=11, secret=b"t" * 32, spec=SPEC)
    rec = MatchRecorder.attach(server, path=tmp_path / "tag.ncr", keyframe_every_s=2)
    net.add(("server", 0), server)
    clients = []
    for i in range(3):
        c = StateSyncClient(("server", 0), name=f"p{i}", nonce=i + 1)
        c.connect(0.0)
        net.add(("client", i), c)
        clients.append((c, walker(i)))

    def play(now):
        for c, decide in clients:
            if c.welcome is not None:
                c.next_input = decide(int(now * 30))

    net.on_step.append(play)
    net.advance(6.0)
    rec.close()
    for c, _ in clients:
        assert c.welcome.game is GAME or type(c.welcome.game) is TagGame
        assert c.latest is not None and len(c.latest) == 3 and c.latest.n_fields == 3
        # what the client holds is the server's entity view of the tick
        assert set(c.latest.ids.tolist()) == set(np.flatnonzero(server.world.active).tolist())
    assert server.world.tags > 0  # the players met and tagged each other
    d = info(tmp_path / "tag.ncr")
    assert d["game"] == SPEC and d["mode"] == "state" and d["player_count"] == 3
    r = verify(tmp_path / "tag.ncr")
    assert r.ok and r.clean and r.checksums_checked >= 170 and r.keyframes_checked >= 2


def test_lockstep_match_stays_in_sync_and_its_replay_verifies(tmp_path):
    net = VirtualNetwork(LinkConfig(latency=0.03, jitter=0.01, loss=0.1), seed=5, step=1 / 120)
    server = LockstepServer(LockstepConfig(players_per_match=3, start_players=3, frame_rate=15, seed=9,
                                           record_dir=str(tmp_path), match_frames=150), game=GAME, spec=SPEC,
                            secret=b"l" * 32)
    net.add(("server", 0), server)
    clients = []
    for i in range(3):
        decide = walker(i)
        c = LockstepClient(("server", 0), name=f"p{i}", nonce=10 + i, brain=lambda cl, d=decide: d(cl.input_frame))
        c.connect(0.0)
        net.add(("client", i), c)
        clients.append(c)
    net.advance(13.0)
    server.shutdown()
    assert all(c.frame == 150 for c in clients)
    frames = {}
    for c in clients:
        for f, crc in c.checksums.items():
            frames.setdefault(f, set()).add(crc)
    assert len(frames) == 10 and all(len(v) == 1 for v in frames.values())  # every checksum frame agreed
    assert server.counters["desync reports"] == 0 and server.results[0]["checksum"] == GAME.checksum(clients[0].world)
    (path,) = tmp_path.glob("tag-lockstep-*.ncr")
    r = verify(path)
    assert r.ok and r.clean and r.ticks == 150


def test_served_from_the_command_line_by_spec(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    out = subprocess.run([sys.executable, "-m", "netcode", "games", SPEC, "--json"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert row["name"] == "tag" and row["modes"] == ["state", "lockstep"] and row["input_bytes"] == 1
    out = subprocess.run([sys.executable, "-m", "netcode", "serve", "--game", SPEC, "--tick", "30", "--port", "0",
                          "--max-clients", "8",
                          "--duration", "1", "--stats", "5", "--record", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and "state-sync server on" in out.stdout and ", tag," in out.stdout, out.stderr
    (path,) = tmp_path.glob("tag-state-*.ncr")
    verify_cmd = [sys.executable, "-m", "netcode", "replay", "verify", str(path)]
    out = subprocess.run(verify_cmd + ["--game", SPEC], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and out.stdout.startswith("ok:"), out.stdout + out.stderr
    # a game the file names is not imported unless we say we trust it; without it on the path, one line too
    for extra, cmd_env, words in (([], env, "which is not a built-in game; pass --game tag_game:TagGame"),
                                  (["--game", SPEC], dict(os.environ, PYTHONPATH=str(ROOT)),
                                   "game 'tag_game:TagGame' is not installed here")):
        out = subprocess.run(verify_cmd + extra, cwd=ROOT, capture_output=True, text=True, timeout=60, env=cmd_env)
        assert out.returncode == 2 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert words in out.stderr, out.stderr
    out = subprocess.run(verify_cmd, capture_output=True, text=True, timeout=60, env=dict(env, NETCODE_GAMES="tag_game"))
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("spec,words", [("nope", "is not installed here"), ("netcode:GAME", "is not there"),
                                        ("bad spec!", "is not a built-in game")])
def test_unknown_games_are_refused_in_one_line(spec, words):
    out = subprocess.run([sys.executable, "-m", "netcode", "serve", "--game", spec, "--duration", "1"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2 and words in out.stderr and len(out.stderr.strip().splitlines()) == 1


class _LockstepOnly(TagGame):
    name = "lockstep-only"
    modes = ("lockstep",)


LOCKSTEP_ONLY = _LockstepOnly()


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_mode_the_game_does_not_play_is_refused_in_one_line(command, capfd):
    from netcode.cli import main

    code = main([command, "--game", "test_game_plugin:LOCKSTEP_ONLY", "--duration", "1",
                 *(["--no-client"] if command == "demo" else ["--no-record"])])
    err = capfd.readouterr().err.strip()
    assert code == 2 and err == f"netcode {command}: lockstep-only does not support state mode (it supports lockstep)"


def test_one_capability_more_and_the_netcode_plays_it_with_bots():
    from netcode.bots import add_virtual_bots

    assert capabilities(WITH_BOTS) == ("bots",)
    net = VirtualNetwork(LinkConfig(latency=0.02), seed=4, step=1 / 120)
    server = StateSyncServer.for_game(WITH_BOTS, ServerConfig(tick_rate=30, max_clients=4), seed=2, secret=b"b" * 32)
    net.add(("server", 0), server)
    bots = add_virtual_bots(net, ("server", 0), 3, seed=1)
    start = None

    def snap(now):
        nonlocal start
        if start is None and server.world.active.sum() == 3:
            start = server.world.pos.copy()

    net.on_step.append(snap)
    net.advance(4.0)
    assert all(b.welcome is not None and b.latest is not None for b in bots)
    assert start is not None and (server.world.pos != start).any(axis=1).sum() == 3  # every bot walked


def test_the_walkthrough_shows_the_real_file():
    """Every code block of docs/GAME_API.md that says it comes from tests/tag_game.py is in that file, verbatim."""
    import re

    doc = (ROOT / "docs" / "GAME_API.md").read_text()
    source = (HERE / "tag_game.py").read_text()
    blocks = re.findall(r"```python\n# tests/tag_game\.py\n(.*?)```", doc, re.S)
    assert len(blocks) >= 5
    for block in blocks:
        for part in block.split("    ...\n"):
            assert part.strip("\n") in source, part[:200]


def test_a_peer_cannot_make_us_import_a_module_we_did_not_choose(monkeypatch):
    """A server's WELCOME (or a replay header) names a spec; only trusted ones are imported (importing runs code)."""
    from netcode.game import resolve
    from netcode.game.registry import NotPlayable

    monkeypatch.delenv("NETCODE_GAMES", raising=False)
    info = {"game": "this:exit", "game_version": 1, "config": {}}
    with pytest.raises(NotPlayable, match="not a built-in game; pass --game this:exit"):
        resolve(info)
    assert "this" not in sys.modules  # never imported (importing `this` prints the Zen of Python)
    rules = GAME.make_config(mode="state", max_players=4, tick_rate=30).to_dict()
    info = {"game": "tag_game:GAME", "game_version": 1, "config": rules}
    with pytest.raises(NotPlayable, match="not a built-in game"):
        resolve(info)
    monkeypatch.setenv("NETCODE_GAMES", "other, tag_game")  # a module trusts every game in it
    game, config = resolve(info)
    assert game is GAME and config.max_players == 4
