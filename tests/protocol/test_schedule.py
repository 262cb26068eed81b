"""A server's flush visits the connections with something to do, not all of them (netcode.protocol.schedule), and
idle connections still get their keep-alives, timeouts and reassembly expiry from the timer alone."""
from __future__ import annotations

from netcode.protocol import Channel, ClientProtocol, Disconnected, DisconnectReason, MessageReceived, ServerProtocol
from netcode.protocol.config import TransportConfig
from netcode.protocol.connection import Connection
from netcode.wire import packet as wp

SADDR = ("127.0.0.1", 9)


def _addr(i: int):
    return ("127.0.0.1", 1000 + i)


def _connect(n: int, config: TransportConfig | None = None):
    """A server deferring acks (as DatagramDriver does) and n clients connected to it at time 0; their events taken."""
    server = ServerProtocol(max_clients=n, config=config)
    server.defer_acks()
    clients = [ClientProtocol(SADDR, config=config, nonce=i + 1) for i in range(n)]
    now = 0.0
    for i, c in enumerate(clients):
        c.connect(now)
        while not c.connected:
            for d, _ in c.datagrams_to_send(now):
                server.receive_datagram(d, _addr(i), now)
            server.update(now)
            for d, a in server.datagrams_to_send(now):
                if a == _addr(i):
                    c.receive_datagram(d, SADDR, now)
            server.settle(now)
            c.update(now)
    server.events()
    for c in clients:
        c.events()
    return server, clients


def _flush(server, handler, now):
    """What DatagramDriver._flush does: update, events to the handler, datagrams, settle; then the timer."""
    server.update(now)
    events = server.events()
    if events:
        handler(events)
    out = server.datagrams_to_send(now)
    server.settle(now)
    return out, server.get_timer()


def test_a_datagram_visits_only_its_connection(monkeypatch):
    server, clients = _connect(50)
    send = server.send

    def echo(events):
        for e in events:
            if type(e) is MessageReceived:
                send(e.client_id, e.channel, e.data)

    _flush(server, echo, 0.0)  # every connection's first timer worked out
    _flush(server, echo, 0.01)  # the handshakes' acks (ack_delay) sent: the idle ones owe nothing until keep-alive
    visits = []
    datagrams = Connection.datagrams
    ours = set(map(id, server.connections.values()))  # (the clients' connections flush through the same method)
    monkeypatch.setattr(Connection, "datagrams",
                        lambda self, now, out: (id(self) in ours and visits.append(self), datagrams(self, now, out)))
    c, now, answered = clients[7], 0.02, 0
    c.send(Channel.RELIABLE, b"ping")
    for _ in range(20):
        visits.clear()
        for d, _ in c.datagrams_to_send(now):
            server.receive_datagram(d, _addr(7), now)
        out, _ = _flush(server, echo, now)
        assert visits == [server.connections[7]]  # not the 49 idle ones
        for d, a in out:
            assert a == _addr(7)
            c.receive_datagram(d, SADDR, now)
        for e in c.events():
            if type(e) is MessageReceived:
                answered += 1
                c.send(Channel.RELIABLE, b"ping")
        now += 0.001  # well inside every idle connection's keep-alive interval
    assert answered == 20
    # the heap holds one live entry per connection, plus few stale ones
    assert len(server._due.timers) <= 2 * len(server.connections) + 16


def test_idle_connections_get_keepalives_and_time_out_from_the_timer_alone():
    config = TransportConfig(timeout=2.0, keepalive_interval=0.1)
    server, clients = _connect(6, config)
    active = clients[0]
    sent = {i: [] for i in range(6)}
    ended = {}
    send = server.send

    def echo(events):
        for e in events:
            if type(e) is MessageReceived:
                send(e.client_id, e.channel, e.data)
            elif type(e) is Disconnected:
                ended[e.client_id] = (now, e.reason)

    now, timer, next_ping = 0.0, 0.0, 0.0
    active.send(Channel.RELIABLE, b"ping")
    for _ in range(10_000):  # (bounded: a timer that a flush at that instant does not serve would spin here)
        if now >= 3.0:
            break
        # wake as a driver does: at the server's timer, or when the active client's datagram arrives
        wake_on_ping = next_ping <= timer
        now = next_ping if wake_on_ping else max(timer, now)
        if wake_on_ping:
            active.update(now)
            for d, _ in active.datagrams_to_send(now):
                server.receive_datagram(d, _addr(0), now)
            next_ping = now + 0.05
        out, timer = _flush(server, echo, now)
        assert timer is not None
        for d, a in out:
            i = a[1] - 1000
            sent[i].append(now)
            if i == 0:
                active.receive_datagram(d, SADDR, now)
        for e in active.events():
            if type(e) is MessageReceived:
                active.send(Channel.RELIABLE, b"ping")
    assert now >= 3.0  # every wake-up moved time on: a flush at its timer did what the timer was for
    assert 0 not in ended  # the one that talks stays
    for i in range(1, 6):
        at, reason = ended[i]
        assert reason == DisconnectReason.of(DisconnectReason.TIMEOUT)
        assert 2.0 <= at <= 2.0 + 0.02  # at its timeout, not at some later flush
        gaps = [b - a for a, b in zip(sent[i], sent[i][1:]) if b <= 2.0]
        assert len(gaps) >= 15 and max(gaps) <= 0.1 + 1e-9  # keep-alives every keepalive_interval, from the timer


def test_an_incomplete_message_expires_from_the_timer_alone():
    config = TransportConfig(timeout=30.0, reassembly_timeout=1.0)
    server, clients = _connect(2, config)
    c = clients[1]
    c.send(Channel.RELIABLE, bytes(3 * wp.MAX_UNFRAGMENTED))  # fragments over several datagrams
    first = c.datagrams_to_send(0.0)[0][0]
    server.receive_datagram(first, _addr(1), 0.0)
    ended = {}

    def note(events):
        for e in events:
            if type(e) is Disconnected:
                ended[e.client_id] = (now, e.reason)

    now, timer = 0.0, 0.0
    for _ in range(1000):
        if 1 in ended or now >= 5.0:
            break
        now = max(timer, now)
        _, timer = _flush(server, note, now)
    at, reason = ended[1]
    assert reason == DisconnectReason.of(DisconnectReason.PROTOCOL)
    assert 1.0 <= at <= 1.0 + 1e-6
    assert 0 not in ended


def test_a_removed_connection_is_unlisted():
    server, clients = _connect(3)
    conn = server.connections[1]
    server.get_timer()
    server.disconnect(1)
    assert conn not in server._due.touched and conn.due_queue is None and conn.timer_stamp == -1
    conn.touch()  # a removed connection never lists itself again
    assert conn not in server._due.touched
    assert server.get_timer() is not None
    assert all(e[2] is not conn for e in server._due.timers if e[1] == e[2].timer_stamp)


def test_an_ack_owed_at_once_leaves_in_the_same_flush():
    """A receiver that got _ACK_EVERY packets without sending builds an ack-only packet at once (PROTOCOL.md): a
    scheduled connection that built one while receiving is visited by that very flush, not the next."""
    from netcode.protocol.connection import _ACK_EVERY
    server, clients = _connect(4)
    c = clients[2]
    _flush(server, lambda events: None, 0.0)  # every connection scheduled: none is listed as touched
    _flush(server, lambda events: None, 0.01)
    assert not server._due.touched
    now, stream = 0.02, []
    for i in range(_ACK_EVERY):
        c.send(Channel.UNRELIABLE, b"x%d" % i)
        stream += [d for d, _ in c.datagrams_to_send(now)]
    assert len(stream) == _ACK_EVERY
    for d in stream:
        server.receive_datagram(d, _addr(2), now)
    server.update(now)
    out = server.datagrams_to_send(now)  # before settle(): what the receive itself made due
    assert [a for _, a in out] == [_addr(2)]
