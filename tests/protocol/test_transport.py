"""Transport over the seeded simulator, in virtual time."""
import pytest

from netcode.netsim.link import LinkConfig
from netcode.protocol import (Channel, ClientProtocol, ClientState, ConnectError, ConnectFailed, Connected,
                              Disconnected, DisconnectReason, LocalProtocolError, MessageReceived, SendQueueFull,
                              ServerProtocol, TransportConfig)
from netcode.netsim.virtual import VirtualNetwork
from netcode.wire import packet as wp

SERVER = ("10.0.0.1", 9000)
SECRET = b"s" * 32


def client_addr(i):
    return ("10.0.1.%d" % (i + 1), 5000 + i)


class Collector:
    """Wraps an endpoint and keeps its events."""

    def __init__(self, ep):
        self.ep = ep
        self.log = []

    def __getattr__(self, name):
        return getattr(self.ep, name)

    def update(self, now):
        self.ep.update(now)
        self.log.extend(self.ep.events())

    def messages(self, channel=None):
        return [e.data for e in self.log if isinstance(e, MessageReceived) and (channel is None or e.channel == channel)]


def setup(n_clients=1, link=None, seed=1, max_clients=8, config=None, version=wp.PROTOCOL_VERSION):
    net = VirtualNetwork(link or LinkConfig(latency=0.01), seed=seed)
    server = Collector(ServerProtocol(max_clients=max_clients, config=config, secret=SECRET, accept_payload=b"hello"))
    net.add(SERVER, server)
    clients = []
    for i in range(n_clients):
        c = Collector(ClientProtocol(SERVER, config=config, payload=b"c%d" % i, nonce=1000 + i, version=version))
        c.connect(net.now)
        net.add(client_addr(i), c)
        clients.append(c)
    return net, server, clients


def test_handshake_connects_and_carries_payloads():
    net, server, (c,) = setup()
    assert net.run_until(lambda: c.connected, 1.0)
    assert c.accept_payload == b"hello"
    joined = [e for e in server.log if isinstance(e, Connected)]
    assert len(joined) == 1 and joined[0].payload == b"c0" and joined[0].addr == client_addr(0)
    assert c.client_id == joined[0].client_id


def test_deny_when_full():
    net, server, clients = setup(n_clients=3, max_clients=2)
    net.advance(1.0)
    states = sorted(c.state for c in clients)
    assert states == [ClientState.DENIED, ClientState.CONNECTED, ClientState.CONNECTED]
    denied = [c for c in clients if c.state == ClientState.DENIED][0]
    assert any(isinstance(e, ConnectFailed) and e.reason is ConnectError.SERVER_FULL for e in denied.log)


def test_deny_on_version_mismatch():
    net, server, (c,) = setup(version=wp.PROTOCOL_VERSION + 1)
    net.advance(0.5)
    assert c.state == ClientState.DENIED
    assert c.deny_reason == "wrong protocol version"
    assert not server.connections


def test_handshake_survives_loss():
    net, server, clients = setup(n_clients=4, link=LinkConfig(latency=0.02, loss=0.3), seed=7)
    assert net.run_until(lambda: all(c.connected for c in clients), 5.0)
    assert len(server.connections) == 4


def test_reliable_10000_exactly_once_in_order_under_loss_dup_reorder():
    link = LinkConfig(latency=0.03, jitter=0.01, loss=0.2, duplicate=0.1, reorder=0.1, reorder_delay=0.02)
    net, server, (c,) = setup(link=link, seed=3)
    assert net.run_until(lambda: c.connected, 5.0)
    cid = c.client_id
    sent = [b"m%05d" % i + bytes(i % 40) for i in range(10000)]
    pending = list(reversed(sent))
    sent_back = list(reversed(sent))

    def pump(now):
        # push as fast as backpressure allows, in both directions
        while pending and c.connection.can_send_reliable():
            c.send(Channel.RELIABLE, pending.pop())
        while sent_back and server.connections[cid].can_send_reliable():
            server.send(cid, Channel.RELIABLE, sent_back.pop())

    net.on_step.append(pump)
    assert net.run_until(lambda: len(server.messages()) == 10000 and len(c.messages()) == 10000, 120.0)
    assert server.messages() == sent
    assert c.messages() == sent
    stats = c.connection.stats
    assert stats.duplicate_packets > 0 and stats.resent > 0
    assert 0.1 < stats.loss < 0.3
    # the other way, counted by sequence numbers (20 % lost, a copy of 10 % of them might come through)
    for st in (stats, server.connections[cid].stats):
        assert 0.1 < st.loss_in < 0.25, st.loss_in


@pytest.mark.parametrize("loss", [0.0, 0.05, 0.2])
def test_loss_in_counts_the_peers_packets_that_never_came(loss):
    """Each side's loss_in, from the sequence numbers of what it received, is the link's loss; duplicates and
    reordered packets do not count as lost."""
    link = LinkConfig(latency=0.03, jitter=0.01, loss=loss, duplicate=0.05, reorder=0.1, reorder_delay=0.02)
    net, server, (c,) = setup(link=link, seed=11)
    assert net.run_until(lambda: c.connected, 5.0)
    net.on_step.append(lambda now: c.send(Channel.UNRELIABLE, b"x" * 20))  # a stream both ways (acks back)
    net.advance(15.0)
    for st in (c.connection.stats, server.connections[c.client_id].stats):
        assert st.packets_in > 1000
        # with 5 % duplicated, a lost packet's copy comes through 5 % of the time
        assert abs(st.loss_in - loss * (1 - 0.05 * (1 - loss))) < 0.02, (loss, st.loss_in)


def test_large_message_fragmented_under_loss():
    net, server, (c,) = setup(link=LinkConfig(latency=0.02, loss=0.1), seed=5)
    assert net.run_until(lambda: c.connected, 5.0)
    big = bytes((i * 7 + 3) & 0xFF for i in range(40 * 1024))
    huge = bytes(range(256)) * 256  # 64 KiB
    c.send(Channel.RELIABLE, big)
    c.send(Channel.RELIABLE, b"after")
    c.send(Channel.RELIABLE, huge)
    assert net.run_until(lambda: len(server.messages()) == 3, 30.0)
    assert server.messages() == [big, b"after", huge]


def test_message_too_large_is_a_local_error():
    net, server, (c,) = setup()
    assert net.run_until(lambda: c.connected, 1.0)
    with pytest.raises(LocalProtocolError):
        c.send(Channel.RELIABLE, bytes(300 * 1024))
    with pytest.raises(LocalProtocolError):
        c.send(Channel.UNRELIABLE, bytes(1200))


def test_backpressure_reports_instead_of_growing():
    cfg = TransportConfig(reliable_window=16, send_queue_limit=32)
    net, server, (c,) = setup(config=cfg, link=LinkConfig(latency=0.05))
    assert net.run_until(lambda: c.connected, 1.0)
    for i in range(16 + 32):
        c.send(Channel.RELIABLE, b"x%d" % i)
    assert not c.connection.can_send_reliable()
    with pytest.raises(SendQueueFull):
        c.send(Channel.RELIABLE, b"overflow")
    assert net.run_until(lambda: len(server.messages()) == 48, 10.0)
    assert c.connection.can_send_reliable()


def test_sequenced_never_goes_backwards():
    link = LinkConfig(latency=0.02, jitter=0.015, loss=0.1, duplicate=0.1, reorder=0.3, reorder_delay=0.03)
    net, server, (c,) = setup(link=link, seed=11)
    assert net.run_until(lambda: c.connected, 5.0)
    cid = c.client_id
    counter = iter(range(100000))

    def pump(now):
        server.send(cid, Channel.SEQUENCED, b"%d" % next(counter))

    net.on_step.append(pump)
    net.advance(5.0)
    got = [int(m) for m in c.messages(Channel.SEQUENCED)]
    assert len(got) > 500  # heavy jitter at a 1 ms send interval makes many stale
    assert all(a < b for a, b in zip(got, got[1:]))


def test_unreliable_delivered_best_effort():
    net, server, (c,) = setup(link=LinkConfig(latency=0.01, loss=0.5), seed=2)
    assert net.run_until(lambda: c.connected, 5.0)
    for i in range(200):
        c.send(Channel.UNRELIABLE, b"u%d" % i)
        net.step()
    net.advance(0.2)
    got = server.messages(Channel.UNRELIABLE)
    assert 50 < len(got) < 150


def test_timeouts_fire_on_both_sides():
    cfg = TransportConfig(timeout=2.0)
    net, server, (c,) = setup(config=cfg)
    assert net.run_until(lambda: c.connected, 1.0)
    net.advance(3.0)  # keep-alives hold the connection while idle
    assert c.connected and len(server.connections) == 1
    net.sim.set_default(LinkConfig(loss=1.0))  # cut the cable
    net.advance(2.5)
    assert c.state == ClientState.DISCONNECTED
    assert any(isinstance(e, Disconnected) and e.reason is DisconnectReason.TIMEOUT for e in c.log)
    assert not server.connections
    assert any(isinstance(e, Disconnected) and e.reason is DisconnectReason.TIMEOUT for e in server.log)


def test_disconnect_is_sent_redundantly_and_frees_slot():
    net, server, (c,) = setup(link=LinkConfig(latency=0.01, loss=0.5), seed=4)
    assert net.run_until(lambda: c.connected and server.connections, 5.0)
    c.disconnect()
    net.advance(0.2)
    assert not server.connections
    assert any(isinstance(e, Disconnected) and e.reason is DisconnectReason.REMOTE_CLOSED for e in server.log)


def test_server_disconnect_reaches_client():
    net, server, (c,) = setup()
    assert net.run_until(lambda: c.connected, 1.0)
    server.disconnect(c.client_id)
    net.advance(0.1)
    assert c.state == ClientState.DISCONNECTED
    assert any(isinstance(e, Disconnected) and e.reason is DisconnectReason.REMOTE_CLOSED for e in c.log)


def test_rtt_and_jitter_estimates():
    net, server, (c,) = setup(link=LinkConfig(latency=0.05, jitter=0.005))
    assert net.run_until(lambda: c.connected, 1.0)
    net.on_step.append(lambda now: c.send(Channel.UNRELIABLE, b"ping"))
    net.advance(3.0)
    st = c.connection.stats
    assert 0.095 < st.rtt < 0.12
    assert st.jitter < 0.02
    assert st.bytes_out > 0 and st.packets_in > 0


def test_resend_timeout_follows_every_rtt_sample():
    """The RFC 6298 timeout is worked out once per RTT sample (resend_timeout caches it): each new sample shows."""
    net, server, (c,) = setup(link=LinkConfig(latency=0.05, jitter=0.005))
    assert net.run_until(lambda: c.connected, 1.0)
    conn, cfg = c.connection, c.connection.config

    def expected():
        st = conn.stats
        if not st.rtt_samples:
            return cfg.max_resend
        return min(max(st.rtt + 4 * st.jitter + cfg.ack_delay, cfg.min_resend), cfg.max_resend)

    assert conn.resend_timeout() == pytest.approx(expected())
    for sample in (0.02, 0.09, 0.3, 0.001):
        conn.stats.add_rtt_sample(sample)
        assert conn.resend_timeout() == pytest.approx(expected())


def test_loss_estimate_counts_runs_as_single_samples():
    """_judge_losses counts a run of delivered packets at once (ConnectionStats.add_delivered): the estimate and
    counters are those of one add_loss_sample per packet."""
    import random

    from netcode.protocol.stats import ConnectionStats

    rng = random.Random(3)
    one_by_one, runs = ConnectionStats(), ConnectionStats()
    for _ in range(300):
        n = rng.randrange(0, 8)
        for _ in range(n):
            one_by_one.add_loss_sample(False)
        if n:
            runs.add_delivered(n)
        if rng.random() < 0.3:
            one_by_one.add_loss_sample(True)
            runs.add_loss_sample(True)
    assert runs.packets_acked == one_by_one.packets_acked and runs.packets_lost == one_by_one.packets_lost
    assert runs.loss == pytest.approx(one_by_one.loss, rel=1e-9)


def test_reconnect_from_same_address_replaces_old_connection():
    net, server, (c,) = setup()
    assert net.run_until(lambda: c.connected, 1.0)
    c2 = Collector(ClientProtocol(SERVER, payload=b"again", nonce=99))
    c2.connect(net.now)
    net.add(client_addr(0), c2)
    assert net.run_until(lambda: c2.connected, 1.0)
    assert len(server.connections) == 1
    assert any(isinstance(e, Disconnected) and e.reason is DisconnectReason.REPLACED for e in server.log)


def test_same_seed_same_behaviour():
    def run(seed):
        link = LinkConfig(latency=0.02, jitter=0.01, loss=0.1, duplicate=0.05, reorder=0.1, reorder_delay=0.01)
        net, server, (c,) = setup(link=link, seed=seed)
        net.run_until(lambda: c.connected, 5.0)
        for i in range(300):
            c.send(Channel.RELIABLE, b"%d" % i)
        net.advance(3.0)
        st = c.connection.stats
        return (st.packets_out, st.packets_in, st.resent, st.duplicate_packets, round(st.rtt, 9),
                server.connections[c.client_id].stats.as_dict())

    assert run(21) == run(21)
    assert run(21) != run(22)


def test_the_transport_benchs_sans_io_round_trip_really_echoes():
    """`netcode bench transport`'s socket-free ping-pong (the Python floor under our RTT) raises unless every
    message came back, on both transports."""
    from netcode.bench.transport import sansio_round_trip_us

    for secure in (False, True):
        assert sansio_round_trip_us(secure, 300) > 0


def test_the_transport_benchs_server_pass_connects_every_idle_client_and_echoes():
    """`netcode bench transport`'s per-pass cost beside idle connections raises unless every idle client connected
    and every ping was answered; the server then holds them all, each still connected after the passes."""
    from netcode.bench import transport

    made = []
    real = transport.ServerProtocol

    def keep(*a, **kw):
        made.append(real(*a, **kw))
        return made[-1]

    transport.ServerProtocol = keep
    try:
        assert transport.server_pass_us(20, 200) > 0
    finally:
        transport.ServerProtocol = real
    assert len(made[0].connections) == 21


def test_the_transport_benchs_answer_time_runs_time_each_answer():
    """The instrumented ping-pong runs of `netcode bench transport` (real sockets, a few hundred ms each) report how
    long the client took to answer, for ours and the bare client; an answer is part of a round trip, never more."""
    from netcode.bench.transport import measure

    for mode in ("bare", "netcode"):
        r = measure(mode, 1, 0.3, "asyncio", answer=True)
        assert r["messages"] > 100
        assert 0 < r["answer_p50_us"] < r["rtt_p50_us"]
