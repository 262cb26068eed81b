"""The pygame demo client: renders under the dummy driver, runs headless against a server, fails politely."""
import asyncio
import json
import os
import socket
import subprocess
import sys

import pytest

from client_demo.options import ClientOptions
from client_demo.app import _import_pygame, has_display, run_client
from client_demo.bench import ScriptedMatch, frame_benchmark
from client_demo.render import BG, OUTSIDE, Renderer
from client_demo.session import ClientSession, Toggles
from netcode.aio.serve import ServerRunner
from netcode.netsim.link import LinkConfig
from netcode.games.arena import GAME, SimConfig
from netcode.statesync.server import ServerConfig, StateSyncServer
from netcode.netsim.virtual import VirtualNetwork

from helpers import arena_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def pg():
    pygame = _import_pygame()
    pygame.display.init()
    yield pygame
    pygame.display.quit()


def test_renders_a_nonempty_frame_and_saves_a_screenshot(pg, tmp_path):
    surface = pg.display.set_mode((640, 360))
    match = ScriptedMatch(80, toggles=Toggles(net_graph=True, ghost=True))
    match.warm(20)
    scene = match.session.frame(match.now)
    assert scene.status == "playing" and scene.me is not None and len(scene.others) == 79
    Renderer().draw(surface, scene, cursor=(400, 100))
    px = pg.surfarray.array3d(surface).reshape(-1, 3)
    background = (px == BG).all(axis=1) | (px == OUTSIDE).all(axis=1)
    assert (~background).mean() > 0.05  # players, drones, walls, grid, HUD, net graph
    me = pg.surfarray.array3d(surface)[320, 180]
    assert tuple(me) != BG  # we are drawn at the centre: the camera follows us
    path = tmp_path / "shot.png"
    pg.image.save(surface, str(path))
    loaded = pg.image.load(str(path))
    assert loaded.get_size() == (640, 360)


def test_the_frame_benchmark_draws_500_entities_and_times_each_part():
    r = frame_benchmark(500, frames=60)
    print(f"\n500 entities: {r['frame_ms_mean']:.2f} ms/frame (logic {r['logic_ms_mean']:.2f}, "
          f"render {r['render_ms_mean']:.2f})")
    assert r["visible_mean"] >= 450
    # the timing target (a frame well within 16.7 ms: ~5 ms on a 2-core VM) is the client benchmark's
    # (client_demo/bench.py), not a test's: a busy machine must not fail the suite. Here: it was measured.
    assert 0 < r["logic_ms_mean"] and 0 < r["render_ms_mean"] and r["frame_ms_mean"] >= r["logic_ms_mean"]


def _virtual_session(net, addr, **kw):
    s = ClientSession(("server", 1), "me", seed=1, nonce=31, **kw)
    net.add(addr, s.endpoint)

    def pump(now):
        s.on_events(s.endpoint.events(), now)

    net.on_step.append(pump)
    s.start(net.now)
    return s


def test_toggles_take_effect_on_the_next_frame():
    net = VirtualNetwork(LinkConfig(latency=0.05), seed=1, step=0.002)
    server = arena_server(seed=1, secret=b"c" * 32, npc_count=30, width=1024, height=1024)
    net.add(("server", 1), server)
    s = _virtual_session(net, ("client", 0))
    net.advance(1.5)
    s.set_input(1, 0, 0, False)
    net.advance(1.0)
    sc = s.frame(net.now)
    assert sc.others.mode == "interpolate"
    predicted = sc.me
    s.toggles.interpolation = False
    s.toggles.prediction = False
    sc = s.frame(net.now)
    assert sc.others.mode == "latest"
    auth = s.predictor.authoritative
    assert sc.me == (auth[0, 0], auth[0, 1])  # drawn from the newest snapshot: a round trip behind
    assert predicted[0] > sc.me[0] + 10 * 16  # the prediction was ahead (we walk right)
    s.toggles.ghost = True
    assert s.frame(net.now).ghost is not None
    label = s.lag_label()
    assert s.cycle_lag() == 50 and s.endpoint.added_rtt == pytest.approx(0.05) and label != s.lag_label()


def test_reconnect_after_a_disconnect_reclaims_the_player_with_the_token():
    net = VirtualNetwork(LinkConfig(latency=0.02), seed=2, step=0.002)
    server = arena_server(seed=2, secret=b"r" * 32, npc_count=0, width=1024, height=1024)
    net.add(("server", 1), server)
    s = _virtual_session(net, ("client", 0))
    net.advance(1.0)
    slot = s.welcome.slot
    server.transport.disconnect(s.welcome.client_id)
    net.advance(0.3)
    sc = s.frame(net.now)
    assert sc.status == "lost" and "press C to reconnect" in sc.message
    s.reconnect(net.now)
    net.add(("client", 0), s.endpoint)  # the app binds a new socket; here, the same address
    net.advance(1.0)
    assert s.status == "playing" and s.welcome.slot == slot
    assert server.counters["rejoins"] == 1


def test_headless_run_against_a_server_prints_measurements(capsys, tmp_path):
    async def main():
        sim = SimConfig.arena(npc_count=80, width=1536, height=1536)
        runner = await ServerRunner.start(StateSyncServer(GAME, sim, ServerConfig(), seed=3), "127.0.0.1", 0)
        try:
            return await run_client(ClientOptions(server=runner.address, name="probe", headless=True, duration=2.5,
                                                  lag=60, jitter=10, json_path=str(tmp_path / "c.json"),
                                                  screenshot=str(tmp_path / "s.png"), seed=4))
        finally:
            await runner.close()

    stats = asyncio.run(main())
    out = capsys.readouterr().out
    assert "error" not in stats, stats
    # real time on a shared runner: the bounds catch a client that stops receiving or drawing, not a slow
    # host (the frame-rate and snapshot-rate figures are `netcode bench`'s)
    assert stats["snapshots_per_s"] > 20 and stats["fps"] > 15
    assert 50 < stats["rtt_ms"] < 200  # loopback + 60 ms of injected round trip
    assert "fps" in out and "mean correction distance per second" in out and "kbit/s" in out
    assert json.loads((tmp_path / "c.json").read_text())["frames"] == stats["frames"]
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_server_going_away_is_reported_in_one_line(capsys):
    async def main():
        runner = await ServerRunner.start(StateSyncServer(GAME, SimConfig.arena(npc_count=0), ServerConfig(), seed=5),
                                          "127.0.0.1", 0)
        task = asyncio.create_task(run_client(ClientOptions(server=runner.address, name="probe", headless=True, duration=10,
                                                               render=False)))
        await asyncio.sleep(1.5)
        await runner.close()  # disconnects every client
        return await asyncio.wait_for(task, 8)

    stats = asyncio.run(main())
    out = capsys.readouterr().out
    assert stats["error"] and "closed by peer" in stats["error"]
    assert "connection problem: the server closed the connection (disconnected: closed by peer)" in out
    assert out.count("connection problem") == 1


def test_no_server_gives_a_clear_message_and_no_traceback():
    port = free_udp_port()
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    out = subprocess.run([sys.executable, "-m", "client_demo", "--server", f"127.0.0.1:{port}",
                          "--duration", "5", "--connect-timeout", "0.5"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    assert "no display found" in out.stdout  # no window possible: headless with a bot
    assert f"no answer from 127.0.0.1:{port} (is the server running?)" in out.stdout


def test_bad_arguments_are_one_line():
    out = subprocess.run([sys.executable, "-m", "client_demo", "--server", "nowhere"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2 and "HOST:PORT" in out.stderr and "Traceback" not in out.stderr


def test_display_detection(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    if sys.platform.startswith("linux"):
        assert not has_display()
        monkeypatch.setenv("DISPLAY", ":0")
        assert has_display()
        monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
        assert not has_display()


def test_keys_toggle_immediately_in_the_windowed_app(pg):
    from client_demo.app import ClientApp

    app = ClientApp(ClientOptions(server=("127.0.0.1", free_udp_port()), name="keys", size=(640, 360), mode="state"))
    app.open_display()  # the dummy driver stands in for a window
    for key in (pg.K_p, pg.K_r, pg.K_i, pg.K_g, pg.K_n, pg.K_h, pg.K_l):
        pg.event.post(pg.event.Event(pg.KEYDOWN, key=key, mod=0, unicode="", scancode=0))
    pg.event.post(pg.event.Event(pg.MOUSEBUTTONDOWN, button=1, pos=(10, 10)))
    app.frame(0.0)
    t = app.session.toggles
    assert (t.prediction, t.reconciliation, t.interpolation) == (False, False, False)
    assert t.ghost and t.net_graph and t.help
    assert app.session.lag[0] == 50 and app.session._controls.fire
    pg.event.post(pg.event.Event(pg.KEYDOWN, key=pg.K_ESCAPE, mod=0, unicode="", scancode=0))
    app.frame(0.1)
    assert not app.running


def _imports(path):
    import ast

    tree = ast.parse(open(path).read())
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            out.add(n.module.split(".")[0])
    return out


def test_layering_pygame_only_in_render_app_and_painters_and_no_io_in_netcode_client_logic():
    demo = os.path.join(ROOT, "client_demo")
    for sub in ("", "games"):
        for name in os.listdir(os.path.join(demo, sub)):
            if name.endswith(".py"):
                uses = "pygame" in _imports(os.path.join(demo, sub, name))
                assert uses == (name in ("render.py", "app.py") or name.endswith("paint.py")), name
    for name in ("prediction.py", "interpolation.py", "netsim/lagged.py"):
        imported = _imports(os.path.join(ROOT, "netcode", name))
        assert not imported & {"pygame", "asyncio", "socket", "time", "client_demo"}, (name, imported)


class _Echo:
    """A minimal sans-IO endpoint: answers every datagram at once, counts updates."""

    def __init__(self):
        self.got, self.out = [], []

    def receive_datagram(self, data, addr, now):
        self.got.append((data, now))
        self.out.append((b"re:" + data, addr))

    def update(self, now):
        return ["updated"]

    def datagrams_to_send(self, now):
        out, self.out = self.out, []
        return out

    def events(self):
        return []

    def get_timer(self):
        return None


def test_lagged_endpoint_delays_both_ways_and_changes_at_runtime():
    from netcode.netsim.lagged import LaggedEndpoint, symmetric_links

    inner = _Echo()
    ep = LaggedEndpoint(inner, *symmetric_links(lag_ms=100), seed=1)
    ep.receive_datagram(b"a", "srv", 0.0)
    assert ep.get_timer() == pytest.approx(0.05)  # the down link's delivery wakes the driver
    assert ep.update(0.049) == ["updated"] and inner.got == []
    ep.update(0.05)
    assert inner.got == [(b"a", 0.05)]
    assert ep.datagrams_to_send(0.05) == []  # the reply is on the up link now
    assert ep.get_timer() == pytest.approx(0.10)
    assert ep.datagrams_to_send(0.10) == [(b"re:a", "srv")]
    ep.set_links(*symmetric_links())  # preset 0: from now on, straight through
    ep.receive_datagram(b"b", "srv", 0.2)
    ep.update(0.2)
    assert ep.datagrams_to_send(0.2) == [(b"re:b", "srv")] and ep.added_rtt == 0
    lossy = LaggedEndpoint(_Echo(), *symmetric_links(loss_pct=50, dup_pct=10), seed=2)
    for i in range(400):
        lossy.receive_datagram(b"x", "srv", i * 0.01)
    st = lossy.stats()["down"]
    assert 150 < st["dropped_loss"] < 250 and st["duplicated"] > 0
    with pytest.raises(ValueError):
        symmetric_links(loss_pct=120)


def test_the_feed_shows_players_kills_and_sums_up_drone_kills():
    from client_demo.games import view_for

    config = GAME.make_config(mode="state", max_players=8, tick_rate=60)
    view = view_for(GAME, config)
    names = {0: "ann", 1: "bob"}.get
    assert view.feed_line(["kill", 10, 0, 1], lambda e: names(e, f"#{e}")) == "ann > bob"
    drone = config.max_players  # drone ids follow the player slots
    for victim in (drone, drone + 1, drone + 4):  # drones: held back, then summed up in one line
        assert view.feed_line(["kill", 11, 1, victim], lambda e: names(e, f"#{e}")) is None
    assert view.feed_line(["kill", 12, 0, drone + 9], lambda e: names(e, f"#{e}")) is None
    assert view.feed_summary(lambda e: names(e, f"#{e}")) == "drones down: 4 (bob 3, ann 1)"
    assert view.feed_summary(lambda e: names(e, f"#{e}")) is None  # nothing new since
