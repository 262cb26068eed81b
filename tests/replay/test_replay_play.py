"""`netcode replay play`: the pygame replay viewer (client_demo/replay_viewer.py) under the dummy driver."""
import argparse
import os

import pytest

from client_demo.render import BG, OUTSIDE
from client_demo.replay_viewer import ReplayViewer, _pg, run_viewer
from netcode.replay import audit, seek
from netcode.cli.replay import add_parser as add_replay_parser
from netcode.games.arena import checksum

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "replays", "sample.ncr")


@pytest.fixture
def pg():
    pygame = _pg()
    pygame.display.init()
    pygame.font.init()
    yield pygame
    pygame.display.quit()


def key(pygame, k, mod=0):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod, unicode="", scancode=0))


def play(argv):
    p = argparse.ArgumentParser(prog="netcode")
    add_replay_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["replay", "play", *argv])
    return args.func(args)


def test_renders_a_nonempty_frame_with_a_rewound_shot_and_saves_a_screenshot(pg, tmp_path):
    surface = pg.display.set_mode((640, 360))
    # the first shot of the sample that hit a player with a rewind of more than 50 ms, two ticks later
    shot = next(a for a in audit(SAMPLE) if 0 <= a["hit"] < 4 and a["status"] == "ok" and a["rewind_ms"] > 50
                and a["tick"] > 300)
    v = ReplayViewer(SAMPLE, follow=shot["shooter"], start=shot["tick"] + 2, playing=False, size=(640, 360))
    audits = v.shot_audits()
    assert audits and audits[-1].tick == shot["tick"] and audits[-1].hit == shot["hit"]
    assert audits[-1].applied.status == "ok" and audits[-1].rewind_ms > 50 and audits[-1].near
    sc = v.scene()
    assert sc.me is not None and sc.my_slot == shot["shooter"] and len(sc.others) == 103  # 3 other players + 100 drones
    assert sc.tracers and sc.markers and sc.feed and len(sc.scoreboard) == 4
    v.draw(surface)
    px = pg.surfarray.array3d(surface).reshape(-1, 3)
    background = (px == BG).all(axis=1) | (px == OUTSIDE).all(axis=1)
    assert (~background).mean() > 0.05  # arena grid, walls, players, drones, tracers, ghosts, HUD, timeline
    path = tmp_path / "replay.png"
    pg.image.save(surface, str(path))
    assert pg.image.load(str(path)).get_size() == (640, 360)


def test_headless_run_plays_for_the_duration_and_saves_a_screenshot(tmp_path, capsys):
    path = tmp_path / "headless.png"
    assert play([SAMPLE, "--headless", "--duration", "0.6", "--speed", "4", "--follow", "1",
                 "--start", "600", "--screenshot", str(path), "--size", "480x320"]) == 0
    out = capsys.readouterr().out
    assert "showed ticks 600.." in out and "following bot0 (slot 1)" in out and "fps" in out
    assert path.exists() and path.stat().st_size > 1000
    stats = run_viewer(SAMPLE, headless=True, duration=0.5, speed=2, size=(320, 240), quiet=True)
    assert stats["frames"] > 5 and 20 <= stats["end_tick"] - stats["start_tick"] <= 2 * 60 * 0.5 * 1.3


def test_seeking_shows_the_same_world_as_playing_there():
    player = ReplayViewer(SAMPLE, playing=False)
    ticks = (0, 5, 7, 100, 250, 600, 1190, 1199, 1200, 1201, 1250, 1300, 1500, 1799, 1800)
    played = {}
    for t in ticks:
        while player.tick < t:
            assert player._advance()
        played[t] = player.checksum()
    assert not player._advance() and player.tick == 1800  # the end
    assert played[1201] == checksum(seek(SAMPLE, 1201))  # the replay module agrees
    seeker = ReplayViewer(SAMPLE, playing=False, start=1800)
    # back and forth, across the keyframe at 1200, short hops (stepped) and long jumps (keyframes)
    for t in (1300, 100, 1250, 1190, 0, 1800, 600, 1199, 1201, 1200, 5, 7, 250, 1500, 1799):
        seeker.seek(t)
        assert seeker.tick == t and seeker.checksum() == played[t], t
    # the feed, tracers and audits after a seek are those of playing there
    player = ReplayViewer(SAMPLE, playing=False, follow="bot2")
    while player.tick < 373:
        player._advance()
    seeker.follow = 2
    seeker.seek(373)
    a, b = player.scene(), seeker.scene()
    assert a.feed == b.feed and len(a.tracers) == len(b.tracers) and a.scoreboard == b.scoreboard
    assert [x.as_dict() for x in player.shot_audits()] == [x.as_dict() for x in seeker.shot_audits()]


def test_keys_change_speed_seek_follow_and_pause(pg, monkeypatch):
    # playback drops ticks it cannot simulate within a frame's budget; this test counts ticks, not speed
    monkeypatch.setattr("client_demo.replay_viewer.STEP_BUDGET", 60.0)
    pg.display.set_mode((640, 360))
    v = ReplayViewer(SAMPLE, start=600, size=(640, 360))
    assert v.playing and v.speed == 1 and v.follow == 0  # bot3 joined first
    for k in (pg.K_RIGHTBRACKET, pg.K_EQUALS):
        key(pg, k)
    v.handle_events()
    assert v.speed == 4
    key(pg, pg.K_MINUS)
    v.handle_events()
    assert v.speed == 2
    v.update(0.5)  # half a second at 2x = 60 ticks
    assert v.tick == 660
    for _ in range(6):
        key(pg, pg.K_LEFTBRACKET)
    v.handle_events()
    assert v.speed == 0.25
    for _ in range(7):
        key(pg, pg.K_KP_PLUS)
    v.handle_events()
    assert v.speed == 8
    # follow cycling: Tab through the players (by slot), Shift+Tab back, F free camera and back
    seen = []
    for _ in range(4):
        key(pg, pg.K_TAB)
        v.handle_events()
        seen.append(v.follow)
    assert seen == [1, 2, 3, 0]
    key(pg, pg.K_TAB, pg.KMOD_SHIFT)
    v.handle_events()
    assert v.follow == 3 and "following bot1 (slot 3)" in v.following_text()
    key(pg, pg.K_f)
    v.handle_events()
    assert v.follow is None and v.scene().me is None and v.following_text() == "free camera"
    key(pg, pg.K_f)
    v.handle_events()
    assert v.follow == 3 and v.scene().my_slot == 3
    # seeking keys
    key(pg, pg.K_SPACE)
    v.handle_events()
    assert not v.playing
    v.update(1.0)
    assert v.tick == 660
    key(pg, pg.K_RIGHT)
    v.handle_events()
    assert v.tick == 960
    key(pg, pg.K_LEFT)
    key(pg, pg.K_LEFT)
    v.handle_events()
    assert v.tick == 360
    key(pg, pg.K_5)
    v.handle_events()
    assert v.tick == 900
    key(pg, pg.K_PERIOD)
    v.handle_events()
    assert v.tick == 901
    key(pg, pg.K_END)
    v.handle_events()
    assert v.tick == 1800
    key(pg, pg.K_HOME)
    v.handle_events()
    assert v.tick == 0
    # a click on the timeline seeks there (the frame must be drawn once for the layout)
    v.draw(pg.display.get_surface())
    bar = v.timeline_rect()
    pixel = 1800 / bar.width + 1
    pg.event.post(pg.event.Event(pg.MOUSEBUTTONDOWN, button=1, pos=(bar.left + bar.width // 4, bar.centery)))
    v.handle_events()
    assert abs(v.tick - 450) <= pixel
    # dragging it seeks once per frame, to where the mouse is
    for x in (bar.left + bar.width // 2, bar.left + 3 * bar.width // 4):
        pg.event.post(pg.event.Event(pg.MOUSEMOTION, pos=(x, bar.centery), rel=(1, 0), buttons=(1, 0, 0)))
    pg.event.post(pg.event.Event(pg.MOUSEBUTTONUP, button=1, pos=(bar.left + 3 * bar.width // 4, bar.centery)))
    seeks = v.seeks
    v.handle_events()
    assert abs(v.tick - 1350) <= pixel and v.seeks == seeks + 1
    # a click on a player follows them
    v.follow = None
    v.cam = (float(v.world.pos[2, 0]), float(v.world.pos[2, 1]))
    v.draw(pg.display.get_surface())
    x, y = v.renderer.to_screen(*v.cam)
    pg.event.post(pg.event.Event(pg.MOUSEBUTTONDOWN, button=1, pos=(round(x) + 3, round(y) - 2)))
    v.handle_events()
    assert v.follow == 2
    key(pg, pg.K_h)
    v.handle_events()
    assert v.show_help
    key(pg, pg.K_ESCAPE)
    v.handle_events()
    assert not v.running


def test_playing_to_the_end_pauses_there(pg, monkeypatch):
    monkeypatch.setattr("client_demo.replay_viewer.STEP_BUDGET", 60.0)  # counts ticks, whatever the machine's speed
    v = ReplayViewer(SAMPLE, start=1790, speed=8)
    v.update(1.0)
    assert v.tick == 1800 and not v.playing
    v.toggle_play()  # play again from the start
    assert v.playing and v.tick == 0


@pytest.mark.parametrize("content", [None, b"", b"not a replay at all", b"NCREPLAY\x09\x00"])
def test_a_bad_file_is_one_line_and_exit_2(tmp_path, capsys, content):
    path = tmp_path / "bad.ncr"
    if content is not None:
        path.write_bytes(content)
    assert play([str(path), "--headless", "--duration", "1"]) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netcode replay: ") and "Traceback" not in cap.err
    assert cap.out == ""


@pytest.mark.parametrize("argv, words", [
    (["--follow", "nobody"], "no player 'nobody'"),
    (["--start", "99999"], "outside the replay"),
    (["--speed", "16"], "--speed"),
])
def test_bad_options_are_one_line_and_exit_2(capsys, argv, words):
    assert play([SAMPLE, "--headless", "--duration", "0.1", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
