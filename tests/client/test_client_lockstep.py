"""The demo client against a lockstep server: virtual time (no sockets, no sleeps), plus one loopback run."""
import asyncio
from collections import Counter

import attrs

import msgpack
import pytest

from client_demo.options import ClientOptions
from client_demo.app import _import_pygame, run_client
from client_demo.lockstep_session import LockstepSession
from client_demo.modes import ProbeSession, detect_mode, settle
from client_demo.render import BG, OUTSIDE, Renderer
from client_demo.scene import Toggles
from client_demo.session import ClientSession
from netcode.lockstep import LockstepClient, LockstepConfig, LockstepServer
from netcode.bots import LockstepBrain
from netcode.aio.lockstep import serve_lockstep
from netcode.netsim.link import LinkConfig
from netcode.games.arena import GAME, SUBPX, checksum
from netcode.netsim.virtual import VirtualNetwork

from helpers import arena_server

SERVER = ("server", 1)


class Net:
    """A LockstepServer, our session (auto-detecting, as the app runs it) and bots, over a VirtualNetwork."""

    def __init__(self, bots=2, link=None, lag=(0, 0, 0, 0), seed=1, rollback=0, **config):
        players = bots + 1
        config.setdefault("players_per_match", players)
        self.net = VirtualNetwork(link or LinkConfig(latency=0.01), seed=seed, step=1 / 120)
        self.server = LockstepServer(LockstepConfig(**config), game=GAME, secret=b"L" * 32)
        self.net.add(SERVER, self.server)
        self.session = ProbeSession(SERVER, "me", seed=seed, nonce=77, lag_ms=lag[0], jitter_ms=lag[1],
                                    loss_pct=lag[2], dup_pct=lag[3], rollback=rollback)
        self.net.add(("client", 0), self.session.endpoint)
        self.net.on_step.append(self._pump)
        self.session.start(self.net.now)
        self.ours, self.theirs = {}, {}  # world tick -> checksum, as each side reached it
        self.bots = []
        for i in range(bots):
            b = LockstepClient(SERVER, name=f"bot{i}", nonce=100 + i, brain=LockstepBrain(i + 1))
            b.connect(self.net.now)
            self.net.add(("bot", i), b)
            self.bots.append(b)

    def _pump(self, now):
        s = self.session
        s.on_events(s.endpoint.events(), now)
        self.session = settle(s)
        for b in self.bots:
            b.events()
        c = self.session.client
        w = getattr(c, "world", None)
        if getattr(c, "rb", None) is not None and w is not None and w.tick > c.rb.agreed:
            w = None  # a predicted frame: compared once it is agreed (its checksum report)
        if w is not None and w.tick not in self.ours:
            self.ours[w.tick] = checksum(w)
        for m in self.server.matches.values():
            if m.world.tick not in self.theirs:
                self.theirs[m.world.tick] = checksum(m.world)

    def advance(self, seconds):
        self.net.advance(seconds)

    @property
    def match(self):
        return next(iter(self.server.matches.values()))


def compared_frames(n: Net) -> int:
    """Every frame both worlds were seen at carries one checksum; returns how many frames were compared."""
    common = n.ours.keys() & n.theirs.keys()
    assert all(n.ours[t] == n.theirs[t] for t in common), sorted(t for t in common if n.ours[t] != n.theirs[t])[:5]
    return len(common)


def test_detects_lockstep_and_plays_the_servers_frames():
    n = Net(bots=2)
    n.advance(0.5)
    s = n.session
    assert isinstance(s, LockstepSession) and s.status == "playing"
    s.set_input(1, 0, 0, False)  # walk right
    x0 = None
    n.advance(1.0)
    sc = s.frame(n.net.now)
    x0 = sc.me[0]
    n.advance(2.0)
    assert compared_frames(n) > 30
    sc = s.frame(n.net.now)
    # our input travelled through the server's bundles: we walked right, in our world and in the server's
    assert sc.me[0] > x0 + 100 * SUBPX
    assert n.match.world.pos[s.client.slot, 0] == s.client.world.pos[s.client.slot, 0]
    assert sc.mode == "lockstep" and sc.others is not None and len(sc.others) >= 2
    # the server's ADVICE sets the input delay for the link: one frame on this 20 ms round trip
    assert sc.status_lines[0][0].startswith(f"frame {s.client.frame}  input delay 1 fr = 67 ms")
    assert "checksums sent" in sc.status_lines[1][0] and not any(warn for _, warn in sc.status_lines)
    assert any(line.startswith("frame ") for line in sc.net_lines)
    st = s.summary(n.net.now)
    assert st["mode"] == "lockstep" and st["frames_played"] > 30 and st["desyncs"] == 0
    assert st["checksums_sent"] >= 2 and st["handshake_ok"] is True
    assert n.server.stats()["desyncs"] == 0


def test_injected_lag_still_advances_with_input_delay_and_no_desync():
    n = Net(bots=1, lag=(150, 20, 5, 1), seed=3, input_delay=4)
    n.advance(1.0)
    s = n.session
    assert isinstance(s, LockstepSession)
    s.set_input(0, 1, 1024, True)
    n.advance(4.0)
    assert compared_frames(n) > 40
    st = s.summary(n.net.now)
    assert st["desyncs"] == 0 and st["input_delay_frames"] >= 3 and st["bad_messages"] == 0
    assert st["inputs_compared"] > 30 and st["rtt_ms"] > 140
    assert n.server.stats()["desyncs"] == 0
    assert "in sync" in s.desync_text() or "handshake ok" in s.desync_text()


def test_a_round_trip_longer_than_the_input_delay_is_warned_about_and_the_delay_grows_to_cover_it():
    n = Net(bots=1, lag=(200, 0, 0, 0))  # D = 2 frames = 133 ms < 200 ms
    n.advance(1.0)
    s = n.session
    s.client.config = attrs.evolve(s.client.config, adaptive_delay=False)  # first: keep the server's delay
    s.client.delay = 2  # (its first ADVICE may have raised it already)
    s.set_input(1, 0, 0, False)
    n.advance(3.0)
    sc = s.frame(n.net.now)
    assert sc.status_lines[-1] == ("your inputs arrive after their frames (delay + lead < round trip): the server "
                                   "moves them to the next frame", True)
    st = s.summary(n.net.now)
    # late inputs are carried into the next open frame; a frame goes without one of ours only when two late ones
    # met in the frame before it (they merge: here they arrive a frame late, on the edge of the frame schedule)
    assert st["inputs_filled_by_server"] > 0.25 * st["inputs_compared"] and st["desyncs"] == 0
    assert st["inputs_carried"] > 0.4 * st["inputs_compared"]
    assert n.server.client_stats()[0]["missing"] == 0
    # then follow the server's ADVICE: the delay grows a frame at a time until the round trip is covered
    s.client.config = attrs.evolve(s.client.config, adaptive_delay=True)
    n.advance(3.0)
    assert s.client.delay == 4  # ceil((200 ms + 4 ms margin) / 66.7 ms)
    before = s.client.counters.inputs_carried
    n.advance(2.0)
    assert s.client.counters.inputs_carried == before
    assert s.frame(n.net.now).status_lines[-1][1] is False and s.summary(n.net.now)["desyncs"] == 0


def test_a_desync_the_server_flags_is_shown_and_resynced():
    n = Net(bots=1)
    n.advance(1.5)
    s = n.session
    s.client.world.score[s.client.slot] += 1  # our world diverges from everyone else's
    n.advance(2.0)
    sc = s.frame(n.net.now)
    line, warn = sc.status_lines[1]
    assert "DESYNC flagged by the server: resynced 1x" in line and warn
    assert sc.notice and "resynced us" in sc.notice
    assert s.summary(n.net.now)["desyncs"] == 1 and n.server.stats()["desyncs"] == 1
    n.ours.clear()
    n.advance(1.5)
    assert compared_frames(n) > 10  # back in step with the server's world


def test_toggles_say_na_in_lockstep_and_match_end_is_shown():
    n = Net(bots=1, match_frames=45)
    n.advance(0.5)
    s = n.session
    s.toggles.prediction = False
    sc = s.frame(n.net.now)
    assert sc.notice and "prediction" in sc.notice and "n/a in lockstep" in sc.notice
    n.advance(3.5)
    sc = s.frame(n.net.now)
    assert sc.status == "ended" and sc.message.startswith("match over after 45 frames") and "C: new match" in sc.message
    assert s.token is None  # C joins a new match rather than the finished one
    st = s.summary(n.net.now)
    assert st["match_result"]["frames"] == 45 and st["server_missing"] is not None


def test_other_players_are_named_from_the_welcome_and_later_joins():
    n = Net(bots=1, players_per_match=3, start_players=2)
    n.advance(0.5)
    s = n.session
    late = LockstepClient(SERVER, name="latecomer", nonce=555, brain=LockstepBrain(9))
    late.connect(n.net.now)
    n.net.add(("bot", 9), late)
    n.advance(1.0)
    names = s.frame(n.net.now).names
    assert sorted(names.values()) == ["bot0", "latecomer", "me"]
    board = [row[0] for row in s.frame(n.net.now).scoreboard]
    assert sorted(board) == ["bot0", "latecomer", "me"]
    assert late.names == {s.client.slot: "me", n.bots[0].slot: "bot0", late.slot: "latecomer"}


def test_smoothing_slides_between_frames_and_i_turns_it_off():
    n = Net(bots=1)
    n.advance(0.5)
    s = n.session
    s.set_input(1, 0, 0, False)  # walk right: our x grows every frame
    n.advance(1.0)
    w, me = s.client.world, s.client.slot
    # stop just after a frame was played, then look at the picture across the next interval
    assert n.net.run_until(lambda: s.client.frame != s._shown_frame, 1.0)
    prev_x, cur_x = float(s._prev_pos[me, 0]), float(w.pos[me, 0])
    assert cur_x > prev_x
    t0 = n.net.now
    start = s.frame(t0).me[0]
    mid = s.frame(t0 + s.client.interval / 2).me[0]
    end = s.frame(t0 + s.client.interval * 1.01).me[0]
    assert start == prev_x and prev_x < mid < cur_x and end == cur_x
    s.toggles.interpolation = False
    sc = s.frame(t0 + s.client.interval / 2)
    assert sc.me[0] == cur_x and "smoothing between frames off" in sc.notice


def test_reconnect_uses_the_welcome_token_and_gets_the_same_slot():
    n = Net(bots=1)
    n.advance(1.0)
    s = n.session
    slot = s.client.slot
    cid = next(p.client_id for p in n.match.players if p.slot == slot)
    n.server.transport.disconnect(cid)
    n.advance(0.5)
    sc = s.frame(n.net.now)
    assert sc.status == "lost" and "press C to reconnect" in sc.message
    s.reconnect(n.net.now)
    n.net.add(("client", 0), s.endpoint)
    n.advance(1.5)
    assert s.status == "playing" and s.client.slot == slot
    n.ours.clear()
    n.advance(1.0)
    assert compared_frames(n) > 10


@pytest.mark.parametrize("expect", [None, "lockstep"])
def test_mode_detection_picks_state_for_a_state_sync_server(expect):
    net = VirtualNetwork(LinkConfig(latency=0.01), seed=4, step=0.002)
    server = arena_server(seed=4, secret=b"s" * 32, npc_count=5, width=1024, height=1024)
    net.add(SERVER, server)
    holder = [ProbeSession(SERVER, "me", seed=1, nonce=5, toggles=Toggles(net_graph=True), expect=expect)]
    net.add(("client", 0), holder[0].endpoint)

    def pump(now):
        s = holder[0]
        s.on_events(s.endpoint.events(), now)
        holder[0] = settle(s)
    net.on_step.append(pump)
    holder[0].start(net.now)
    net.advance(1.0)
    s = holder[0]
    if expect == "lockstep":  # --mode lockstep against a state-sync server: refused in words
        assert isinstance(s, ProbeSession) and s.status == "lost"
        assert s.message.startswith("the server runs state sync, not lockstep frame sync (drop --mode")
        return
    assert isinstance(s, ClientSession) and s.status == "playing" and s.toggles.net_graph
    assert s.frame(net.now).mode == "state"
    assert detect_mode(msgpack.packb({"mode": "lockstep", "frame_rate": 15})) == "lockstep"
    assert detect_mode(msgpack.packb({"mode": "state"})) == "state"
    assert detect_mode(b"\xc1garbage") is None and detect_mode(b"") is None


def test_no_server_is_a_clear_message():
    net = VirtualNetwork(LinkConfig(), step=0.01)
    s = ProbeSession(SERVER, "me", connect_timeout=0.5, nonce=3)
    net.add(("client", 0), s.endpoint)
    net.on_step.append(lambda now: s.on_events(s.endpoint.events(), now))
    s.start(net.now)
    net.advance(1.0)
    sc = s.frame(net.now)
    assert sc.status == "lost" and "is the server running?" in sc.message and "press C" in sc.message


def test_renders_a_nonempty_lockstep_frame(tmp_path):
    pg = _import_pygame()
    pg.display.init()
    try:
        surface = pg.display.set_mode((640, 360))
        n = Net(bots=3)
        n.advance(2.0)
        s = n.session
        s.toggles.net_graph = True
        s.toggles.help = True
        sc = s.frame(n.net.now)
        Renderer().draw(surface, sc, cursor=(300, 100))
        px = pg.surfarray.array3d(surface).reshape(-1, 3)
        background = (px == BG).all(axis=1) | (px == OUTSIDE).all(axis=1)
        assert (~background).mean() > 0.05
        pg.image.save(surface, str(tmp_path / "lockstep.png"))
        assert (tmp_path / "lockstep.png").stat().st_size > 1000
    finally:
        pg.display.quit()


def test_headless_client_plays_a_lockstep_server_over_loopback(capsys, tmp_path):
    async def main():
        ready = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve_lockstep("127.0.0.1", 0, frame_rate=15, players_per_match=1, matches=2,
                                                    duration=6.0, stats_every=60, ready=ready.set_result))
        runner = await ready
        try:
            return await run_client(ClientOptions(server=runner.address, name="probe", headless=True, duration=2.5,
                                                  lag=40, jitter=10, json_path=str(tmp_path / "c.json"), seed=4))
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)

    stats = asyncio.run(main())
    out = capsys.readouterr().out
    assert "error" not in stats, stats
    assert stats["mode"] == "lockstep" and stats["frames_played"] > 15 and stats["desyncs"] == 0
    assert stats["fps"] > 30 and stats["checksums_sent"] >= 1
    assert "the server runs lockstep frame sync" in out and "client: played" in out and "desyncs 0" in out


def test_rollback_shows_our_input_at_once_at_300_ms_and_the_hud_says_what_it_costs():
    n = Net(bots=2, lag=(300, 20, 2, 0), seed=4, rollback=8)
    n.advance(2.0)
    s = n.session
    assert isinstance(s, LockstepSession) and s.client.rb is not None
    s.set_input(1, 0, 0, False)
    n.advance(6.0)
    sc = s.frame(n.net.now)
    first, second = sc.status_lines[0][0], sc.status_lines[1][0]
    assert first.startswith(f"frame {s.client.frame}  predicted") and "lead" in first
    assert second.startswith("rollbacks ") and "re-simulated" in second and "prediction misses" in second
    st = s.summary(n.net.now)
    assert st["input_to_screen_frames_p50"] <= 1.0 and st["rollback_window"] == 8
    assert st["desyncs"] == 0 and st["checksums_sent"] >= 3 and n.server.stats()["desyncs"] == 0
    assert st["lead_ms"] > 250  # predicting about a round trip ahead
    assert any(line.startswith("rollback window 8:") for line in sc.net_lines)
    compared_frames(n)  # the frames our world agreed on equal the server's


class _Drawn(list):
    """The session's list of event lists to draw, keeping every list it was given (they change in place when a
    rollback takes an event back)."""

    def __init__(self):
        super().__init__()
        self.given = []

    def append(self, events):
        self.given.append(events)
        super().append(events)


def test_rollback_draws_each_frames_confirmed_events_taking_back_what_did_not_happen():
    """At 300 ms with rollback, what the session drew for each agreed frame (shown on prediction, minus what a
    rollback took back, plus what only a re-simulation produced) is exactly that frame's confirmed events."""
    n = Net(bots=3, lag=(300, 20, 2, 0), seed=6, rollback=8)
    n.advance(2.0)
    s = n.session
    c = s.client
    assert isinstance(s, LockstepSession) and c.rb is not None
    drawn, confirmed = _Drawn(), []
    s._unshown = drawn
    shown_from = c.rb.frame  # frames first stepped from here on are drawn into `drawn`
    told = c.on_confirmed
    c.on_confirmed = lambda client, f, events: (confirmed.extend(events), told(client, f, events))
    s.set_input(1, 0, 0, True)  # running and firing: some of our predicted hits miss players who turned
    n.advance(20.0)
    upto = c.rb.agreed
    in_range = lambda events: Counter(e for e in events if shown_from + 1 < e.tick <= upto)  # noqa: E731
    assert in_range(e for lst in drawn.given for e in lst) == in_range(confirmed)
    assert sum(in_range(confirmed).values()) > 50 and c.rb.canceled > 0
    st = s.summary(n.net.now)
    assert st["events_canceled"] == c.rb.canceled
    assert "events taken back" in s.frame(n.net.now).status_lines[1][0]
