"""One ordinary client can't deny service to the others (issue: "no denial of service from one client").

Each case has honest clients that must stay connected and keep receiving while one client abuses the
server, in virtual time."""
from __future__ import annotations

from netcode.netsim.link import LinkConfig
from netcode.netsim.virtual import VirtualNetwork
from netcode.protocol.ratelimit import Bucket, RateLimit
from netcode.statesync import messages as msg
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import ConnectionLost, GameEvents

from helpers import arena_server


def test_a_token_bucket_allows_its_burst_then_its_rate_and_flags_abuse():
    b = Bucket(RateLimit(rate=2.0, burst=3.0, abuse=4, window=10.0))
    assert [b.take(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert b.take(0.5) and not b.take(0.5)  # one token back after half a second at 2/s
    assert not b.abusive and not b.take(0.5) and not b.take(0.5)
    assert b.abusive and b.dropped == 5


def test_a_tick_of_many_events_goes_out_in_messages_of_bounded_size():
    items = [["chat", 7, i % 64, "x" * 200] for i in range(500)] + [["chat", 7, 1, "y" * 40_000]]
    chunks = msg.encode_events(items, 16 * 1024)
    assert len(chunks) > 1 and all(len(c) <= 16 * 1024 for c in chunks)
    back = [item for c in chunks for item in msg.decode_packed(c)]
    assert back == items[:500]  # in order; the one item no message could hold is dropped


def test_a_chat_flood_is_dropped_and_its_sender_cut_while_the_others_play_on():
    net = VirtualNetwork(LinkConfig(latency=0.01), seed=4, step=1 / 240)
    server = arena_server(npc_count=20)
    net.add(("server", 0), server)
    clients = []
    for i in range(4):
        c = StateSyncClient(("server", 0), name=f"p{i}", nonce=i + 1)
        c.connect(0.0)
        net.add(("client", i), c)
        clients.append(c)
    net.run_until(lambda: all(c.welcome is not None for c in clients), 5.0)
    flooder, honest = clients[0], clients[1:]
    for i in range(500):  # 500 oversized lines in one tick: once, this cut every client
        flooder.send_chat(f"{i:03d}" + "!" * 200)
    flooder.send_chat("ok")
    heard = {id(c): [] for c in honest}
    lost = {id(c): [] for c in honest}

    def listen(now):
        for c in honest:
            for e in c.events():
                if isinstance(e, GameEvents):
                    heard[id(c)] += [ev for ev in e.events if ev[0] == "chat"]
                elif isinstance(e, ConnectionLost):
                    lost[id(c)].append(e.reason)

    net.on_step.append(listen)
    net.advance(3.0)
    for c in honest:
        assert c.connected and not lost[id(c)]  # nobody else lost the server
        assert 1 <= len(heard[id(c)]) <= 6  # the burst got through, the flood did not
    assert server.counters["chat lines dropped (rate limit)"] > 50  # then it was cut: the rest never counted
    assert server.counters["disconnected: chat flood"] == 1 and not flooder.connected
    # and the honest ones still get snapshots on time
    ticks = [c.latest_tick for c in honest]
    net.advance(1.0)
    assert all(c.latest_tick >= t + 50 for c, t in zip(honest, ticks))


def test_an_honest_chatter_is_never_limited():
    net = VirtualNetwork(LinkConfig(latency=0.01), seed=5, step=1 / 240)
    server = arena_server()
    net.add(("server", 0), server)
    c = StateSyncClient(("server", 0), name="talker", nonce=9)
    c.connect(0.0)
    net.add(("client", 0), c)
    net.run_until(lambda: c.welcome is not None, 5.0)
    for _ in range(10):  # a line every 1.5 s
        c.send_chat("hello")
        net.advance(1.5)
    assert server.counters["chat lines dropped (rate limit)"] == 0 and c.connected


def test_a_lockstep_request_flood_is_answered_from_a_bounded_budget_and_cut():
    """A 10-byte REQUEST asks for up to 8 KB of bundles; 200 of them a second used to hold the server at 99 %
    CPU and make the honest players' frames up to 2 s late."""
    from netcode.bots import LockstepBrain
    from netcode.lockstep import LockstepClient, LockstepConfig, LockstepServer
    from netcode.lockstep import messages as m
    from netcode.protocol import Channel

    net = VirtualNetwork(LinkConfig(latency=0.02), seed=6, step=1 / 240)
    server = LockstepServer(LockstepConfig(players_per_match=4), secret=b"r" * 32)
    net.add(("server", 0), server)
    clients = []
    for i in range(4):
        c = LockstepClient(("server", 0), name=f"p{i}", nonce=20 + i, brain=LockstepBrain(i))
        c.connect(0.0)
        net.add(("client", i), c)
        clients.append(c)
    net.run_until(lambda: all(c.frame > 60 for c in clients), 20.0)
    attacker, honest = clients[0], clients[1:]
    conn = attacker.transport.connection

    def flood(now):
        if attacker.transport.connected:
            conn.send(Channel.UNRELIABLE, m.encode_request(1, 255))  # every step: ~240 a second

    net.on_step.append(flood)
    frames = [c.frame for c in honest]
    player = server.players[attacker.welcome["client_id"]]
    net.advance(4.0)
    # the budget answered a burst and then its rate; the rest were dropped and the flooder cut
    assert player.counters.requests_dropped > 100
    assert server.counters["disconnected: request flood"] == 1 and not attacker.transport.connected
    assert player.counters.bytes_out < 24_000 + 6_000 * 4 + 64_000  # burst + rate + what the frames themselves cost
    for c, f0 in zip(honest, frames):  # the others played on, on time: 15 frames a second
        assert c.transport.connected and c.frame >= f0 + 55


def test_join_then_leave_reserves_no_lockstep_seat():
    """Join-then-leave once reserved every seat of every match for the whole 60 s rejoin grace."""
    from netcode.lockstep import LockstepClient, LockstepConfig, LockstepServer

    net = VirtualNetwork(LinkConfig(latency=0.01), seed=8, step=1 / 240)
    server = LockstepServer(LockstepConfig(players_per_match=4, max_matches=1), secret=b"j" * 32)
    net.add(("server", 0), server)
    for i in range(12):  # three matches' worth of seats, taken and dropped one after another
        c = LockstepClient(("server", 0), name=f"x{i}", nonce=300 + i)
        c.connect(net.now)
        net.add(("x", i), c)
        net.run_until(lambda: c.welcome is not None, 2.0)
        c.disconnect()
        net.advance(0.2)
        net.remove(("x", i))
    assert server.counters["seats freed: left before playing"] == 12 and not server.away
    honest = []
    for i in range(4):
        c = LockstepClient(("server", 0), name=f"p{i}", nonce=400 + i)
        c.connect(net.now)
        net.add(("client", i), c)
        honest.append(c)
    assert net.run_until(lambda: all(c.frame > 30 for c in honest), 10.0)  # all four seated, the match plays


def test_a_connection_that_never_plays_gives_its_seat_back():
    """Keep-alives alone used to hold a state-sync slot forever (one IP took all 64)."""
    net = VirtualNetwork(LinkConfig(latency=0.01), seed=9, step=1 / 240)
    server = arena_server()
    net.add(("server", 0), server)
    idle = StateSyncClient(("server", 0), name="squatter", nonce=1)
    idle.send_inputs = lambda now: []  # connects, answers keep-alives, never plays
    player = StateSyncClient(("server", 0), name="player", nonce=2)
    for i, c in enumerate((idle, player)):
        c.connect(0.0)
        net.add(("client", i), c)
    net.advance(server.config.join_timeout + 1.0)
    assert server.counters["disconnected: no input after joining"] == 1
    assert not idle.connected and player.connected


def test_holding_acks_back_cannot_buy_more_rewind_than_the_cap():
    """The allowance was min(1 s, rtt + 0.3 s) with the RTT the client's acks produce: holding acks back bought
    a full second of rewind. The RTT it uses is capped (RewindConfig.max_rtt)."""
    import numpy as np

    from netcode.rewind import CLAMPED, OK, LagCompensator, RewindConfig

    comp = LagCompensator(RewindConfig(), tick_rate=60, snapshot_every=1, n_entities=4)
    for t in range(1, 80):
        comp.record(t, np.zeros((4, 2), np.int32), np.ones(4, bool))
    cur = 80
    honest = comp.apply_limits(0, cur - 24, 0, 0.15, cur)  # 150 ms RTT + 250 ms interpolation: as claimed
    assert honest.status == OK
    greedy = comp.apply_limits(0, cur - 58, 0, 0.95, cur)  # an RTT of 950 ms from held-back acks asks ~0.97 s
    allowed = RewindConfig().max_rtt + RewindConfig().max_interp + RewindConfig().tolerance
    assert greedy.status == CLAMPED and abs((cur - greedy.tick - greedy.frac / 65536) / 60 - allowed) < 1 / 60
