"""Football, the second built-in game: its physics, determinism, prediction of the ball, lockstep under loss,
replays, and both modes from the command line."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from netcode.bots import LockstepBrain, make_brain
from netcode.games.football import (GAME, INPUTS, FootballConfig, Goal, Kick, World, add_player, checksum,
                                    remove_player, step)
from netcode.game.fixed import SUBPX
from netcode.lockstep import LockstepClient, LockstepConfig, LockstepServer
from netcode.netsim.link import LinkConfig
from netcode.prediction import Predictor
from netcode.replay import MatchRecorder, verify
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import SnapshotReceived, Welcome
from netcode.statesync.server import ServerConfig, StateSyncServer
from netcode.netsim.virtual import VirtualNetwork

from netcode.bench.processes import free_port


def inputs(cfg, **per_slot):
    a = INPUTS.zeros(cfg.max_players)
    for slot, values in per_slot.items():
        a[int(slot[1:])] = values
    return a


def bot_match(players=6, ticks=1800, tick_rate=60, seed=4):
    cfg = GAME.make_config(mode="state", max_players=players, tick_rate=tick_rate)
    w = World.new(cfg, seed)
    for _ in range(players):
        add_player(w)
    bots = [make_brain(GAME, seed * 10 + i, "play") for i in range(players)]
    events, sums = [], []
    for _ in range(ticks):
        packed = np.array([b.from_world(w, s) for s, b in enumerate(bots)], dtype=np.uint64)
        events += step(w, INPUTS.unpack_many(packed))
        sums.append(checksum(w))
    return w, events, sums


def test_a_bot_match_has_kicks_and_goals_and_stays_on_the_pitch():
    w, events, sums = bot_match()
    kicks = [e for e in events if type(e) is Kick]
    goals = [e for e in events if type(e) is Goal]
    assert len(kicks) >= 10 and goals and int(w.score.sum()) == len(goals)
    assert int(w.goals.sum()) <= len(goals)  # own goals credit nobody
    assert len(set(sums)) == len(sums)  # the match never stood still
    cfg = w.config
    assert (w.pos >= cfg.player_radius * SUBPX).all() and (w.pos[:, 0] <= (cfg.width - cfg.player_radius) * SUBPX).all()
    again = bot_match()
    assert again[2] == sums  # same seed, same inputs: the same match


def test_the_state_round_trips_exactly_and_bad_bytes_are_refused():
    w, _, _ = bot_match(ticks=300)
    data = GAME.world_to_bytes(w)
    back = GAME.world_from_bytes(w.config, data)
    assert GAME.world_to_bytes(back) == data and checksum(back) == checksum(w)
    for bad in (b"", data[:-1], data + b"\0", b"\xff" * len(data)):
        with pytest.raises(ValueError):
            GAME.world_from_bytes(w.config, bad)
    assert FootballConfig.from_dict(w.config.to_dict()) == w.config
    with pytest.raises(ValueError, match="unknown football rules"):
        FootballConfig.from_dict({**w.config.to_dict(), "offside": 1})
    forged = w.copy()
    forged.ball[0] = 2**31 - 1  # a ball no match reaches: its bytes are refused, not simulated into an overflow
    with pytest.raises(ValueError, match="ball state out of range"):
        GAME.world_from_bytes(w.config, forged.to_bytes())
    other = GAME.make_config(mode="state", max_players=6, tick_rate=60, goal_width=300)
    with pytest.raises(ValueError, match="other rules"):
        GAME.world_from_bytes(other, data)


def test_charged_kicks_go_further_and_the_ball_rolls_to_rest():
    cfg = GAME.make_config(mode="state", max_players=2, tick_rate=60)
    results = {}
    for hold in (1, 30, 60):
        w = World.new(cfg, 1)
        add_player(w, 0)
        w.pos[0] = (200 * SUBPX, 200 * SUBPX)
        w.ball[:] = (222 * SUBPX, 200 * SUBPX)  # touching, on the player's right, off the line of the goal
        for _ in range(hold):
            step(w, inputs(cfg, s0=(0, 0, 1, 0)))  # hold kick, aim +x
        ev = step(w, inputs(cfg, s0=(0, 0, 0, 0)))  # release
        (kick,) = [e for e in ev if type(e) is Kick]
        remove_player(w, 0)  # out of the ball's way when it comes back off the boards
        path = 0  # the distance rolled, boards and all
        for _ in range(1800):
            before = w.ball.copy()
            step(w)
            path += int(np.abs(w.ball - before).sum())
        assert (w.ball_vel == 0).all()  # friction stopped it
        results[hold] = (kick.power, path)
    assert results[1][0] < results[30][0] < results[60][0] == cfg.kick_max
    assert results[1][1] < results[30][1] < results[60][1]


def test_running_into_the_ball_dribbles_it_and_a_goal_restarts_play():
    cfg = GAME.make_config(mode="state", max_players=2, tick_rate=60)
    w = World.new(cfg, 1)
    add_player(w, 0)  # home: attacks the right goal
    w.pos[0] = (1400 * SUBPX, 500 * SUBPX)
    w.ball[:] = (1430 * SUBPX, 500 * SUBPX)
    scored = []
    for _ in range(600):
        scored += [e for e in step(w, inputs(cfg, s0=(0, 2, 0, 0))) if type(e) is Goal]  # run right
        if scored:
            break
    assert scored and scored[0].team == 0 and scored[0].scorer == 0 and w.goals[0] == 1
    assert tuple(w.ball // SUBPX) == (cfg.width // 2, cfg.height // 2) and w.kickoff == cfg.kickoff_ticks
    x = int(w.pos[0, 0])
    assert x < cfg.width * SUBPX // 2  # back in the home half for the kick-off
    ball = w.ball.copy()
    for _ in range(cfg.kickoff_ticks - 1):
        step(w, inputs(cfg, s0=(0, 2, 1, 0)))
    assert (w.ball == ball).all()  # the ball rests during the kick-off
    remove_player(w, 0)
    assert not w.active.any() and w.touch == -1


def test_players_push_each_other_apart():
    cfg = GAME.make_config(mode="state", max_players=2, tick_rate=60)
    w = World.new(cfg, 1)
    add_player(w, 0)
    add_player(w, 1)
    w.pos[0] = (500 * SUBPX, 500 * SUBPX)
    w.pos[1] = (560 * SUBPX, 500 * SUBPX)
    for _ in range(120):
        step(w, inputs(cfg, s0=(0, 2, 0, 0), s1=(128, 2, 0, 0)))  # run into each other
    gap = int(w.pos[1, 0]) - int(w.pos[0, 0])
    assert 2 * cfg.player_radius * SUBPX - 2 * SUBPX <= gap <= 2 * cfg.player_radius * SUBPX + SUBPX


def test_simulation_is_identical_in_another_process():
    code = ("import numpy as np\nfrom test_football import bot_match\n_, _, s = bot_match(ticks=400)\nprint(s[-1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(__import__("pathlib").Path(__file__).parent))
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == bot_match(ticks=400)[2][-1]


def test_prediction_meets_the_ball_exactly_when_we_play_it_alone():
    """Alone on the pitch over a 100 ms link, our predicted player and ball match the server's at every
    snapshot that holds our inputs, through touches and charged kicks."""
    net = VirtualNetwork(LinkConfig(latency=0.05), seed=2, step=1 / 240)
    server = StateSyncServer.for_game(GAME, ServerConfig(), seed=3, secret=b"f" * 32)
    net.add(("server", 0), server)
    c = StateSyncClient(("server", 0), name="me", nonce=1)
    c.connect(0.0)
    net.add(("client", 0), c)
    state = {"pred": None, "brain": make_brain(GAME, 5, "play"), "seen": -1, "checked": 0}
    kicks: set = set()

    def app(now):
        kicks.update((e.tick, e.player) for e in server.recent_events if type(e) is Kick)
        p = state["pred"]
        if p is not None:
            for ti in c.sent_inputs:
                if ti.tick > state["seen"]:
                    state["seen"] = ti.tick
                    p.on_input(ti.tick, ti.input)
        for e in c.events():
            if isinstance(e, Welcome):
                state["pred"] = Predictor(e.game, e.config, e.slot)
            elif isinstance(e, SnapshotReceived) and state["pred"] is not None:
                p = state["pred"]
                predicted = p.history.get(e.tick)
                rows, present = p.rows_of(e.table)
                if predicted is not None and present.all() and e.input_tick == e.tick and e.tick > 120:
                    assert predicted.tolist() == rows.tolist(), e.tick
                    state["checked"] += 1
                p.on_snapshot(e.tick, e.table, now, e.input_tick)
        if state["pred"] is not None and state["pred"].ready:  # play from what we predict, as a player does
            c.next_input = state["brain"].from_world(state["pred"].model.world, c.welcome.slot)

    net.on_step.append(app)
    net.advance(10.0)
    assert state["checked"] > 400
    assert state["pred"].stats.corrections == 0
    assert {p for _, p in kicks} == {c.welcome.slot} and len(kicks) >= 2  # we really played the ball
    assert int(server.world.score[c.welcome.slot % 2]) >= 1  # and scored, predicted all the way


def test_lockstep_football_stays_in_sync_at_10_percent_loss_and_its_replay_verifies(tmp_path):
    net = VirtualNetwork(LinkConfig(latency=0.04, jitter=0.01, loss=0.10), seed=7, step=1 / 120)
    server = LockstepServer(LockstepConfig(players_per_match=6, start_players=6, seed=3, record_dir=str(tmp_path),
                                           match_frames=450), game=GAME, secret=b"F" * 32)
    net.add(("server", 0), server)
    clients = []
    kicks: set = set()
    net.on_step.append(lambda now: kicks.update((e.tick, e.player) for e in clients[0].frame_events if type(e) is Kick))
    for i in range(6):
        c = LockstepClient(("server", 0), name=f"p{i}", nonce=50 + i, brain=LockstepBrain(i, "play"))
        c.connect(0.0)
        net.add(("client", i), c)
        clients.append(c)
    net.advance(34.0)
    server.shutdown()
    assert all(c.frame == 450 for c in clients)
    frames = {}
    for c in clients:
        for f, crc in c.checksums.items():
            frames.setdefault(f, set()).add(crc)
    assert len(frames) == 30 and all(len(v) == 1 for v in frames.values())
    assert server.counters["desync reports"] == 0
    result = server.results[0]
    assert result["checksum"] == checksum(clients[0].world)
    # the bots really played: inputs were not all empty (how many kicks a seed sees moves with any change in the
    # transport's timing, 1 to 5 over network seeds 7-12)
    assert len(kicks) >= 1
    (path,) = tmp_path.glob("football-lockstep-*.ncr")
    r = verify(path)
    assert r.ok and r.clean and r.ticks == 450


def test_state_sync_football_replay_records_and_verifies(tmp_path):
    net = VirtualNetwork(LinkConfig(latency=0.03, loss=0.05), seed=8, step=1 / 240)
    server = StateSyncServer.for_game(GAME, ServerConfig(), seed=6, secret=b"g" * 32)
    rec = MatchRecorder.attach(server, path=tmp_path / "f.ncr", keyframe_every_s=2)
    net.add(("server", 0), server)
    from netcode.bots import add_virtual_bots

    add_virtual_bots(net, ("server", 0), 4, seed=3)
    net.advance(8.0)
    rec.close()
    r = verify(tmp_path / "f.ncr")
    assert r.ok and r.clean and r.keyframes_checked >= 3 and r.checksums_checked >= 450
    # what the viewer plays it with (it asks for shot audits; football has none to give)
    from netcode.replay import Playback, seek

    pb = Playback(tmp_path / "f.ncr", audit=True)
    for _ in range(300):
        pb.step()
    assert pb.tick == 300 and pb.world.active.sum() == 4
    assert checksum(pb.world) == checksum(seek(tmp_path / "f.ncr", 300))  # stepping and seeking agree


def test_both_modes_from_the_command_line_and_their_replays_verify(tmp_path):
    # The servers stop when the bots have left (--until-empty; --duration only bounds a broken run): a fixed
    # duration ended a match under bots whose own start took over 2 s on a loaded runner.
    for mode, extra_serve, extra_bots in (("state", [], []),
                                          ("lockstep", ["--players", "4", "--match-frames", "90"],
                                           ["--mode", "lockstep"])):
        port = free_port()
        rec = tmp_path / mode
        server = subprocess.Popen([sys.executable, "-m", "netcode", "serve", "--game", "football", "--mode", mode,
                                   "--port", str(port), "--stats", "30", "--record", str(rec), "--duration", "60",
                                   "--until-empty", *extra_serve],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert "server on" in server.stdout.readline()
            bots = subprocess.run([sys.executable, "-m", "netcode", "bots", "--server", f"127.0.0.1:{port}",
                                   "--count", "4", "--duration", "4", "--json", str(tmp_path / f"{mode}.json"),
                                   *extra_bots], capture_output=True, text=True, timeout=60)
            server.communicate(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
        assert bots.returncode == 0, bots.stdout + bots.stderr
        summary = json.loads((tmp_path / f"{mode}.json").read_text())
        assert summary["connected_throughout"] == 4
        (path,) = rec.glob(f"football-{mode}-*.ncr")
        out = subprocess.run([sys.executable, "-m", "netcode", "replay", "verify", str(path)], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith("ok:"), out.stdout + out.stderr
