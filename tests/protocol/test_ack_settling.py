"""Answer first, account later: with defer_acks() the acks a datagram carries wait for settle(), and the
connection ends up exactly where it would have without the deferral."""
import random

from netcode.protocol import Channel, MessageReceived
from netcode.protocol.config import TransportConfig

from helpers import CADDR, SADDR, connected_pair


def _echo_run(defer: bool, loss: float, rounds: int, config=None):
    """The client streams numbered messages, the server echoes them; every flush answers what it received,
    settling (when deferring) after its datagrams left, as DatagramDriver does. Seeded loss both ways."""
    rng = random.Random(3)
    s, c, now = connected_pair(config, defer)
    got = []
    wire_cs, wire_sc = [], []
    sent = 0
    for _ in range(rounds):
        now += 0.002
        for _ in range(3):
            c.send(Channel.RELIABLE, sent.to_bytes(4, "little"))
            sent += 1
        for ep, inbox, outbox, addr in ((s, wire_cs, wire_sc, CADDR), (c, wire_sc, wire_cs, SADDR)):
            for d in inbox:
                ep.receive_datagram(d, addr, now)
            inbox.clear()
            ep.update(now)
            for e in ep.events():
                if type(e) is MessageReceived:
                    if ep is s:
                        s.send(e[0], e[1], e[2])
                    else:
                        got.append(int.from_bytes(e[2], "little"))
            outbox.extend(d for d, _ in ep.datagrams_to_send(now) if rng.random() >= loss)
            if defer:
                ep.settle(now)
    return s, c, got, sent


def test_deferred_acks_wait_for_settle_and_then_count_as_before():
    s, c, now = connected_pair(defer=True)
    c.send(Channel.RELIABLE, b"ping")
    for d, _ in c.datagrams_to_send(now):
        s.receive_datagram(d, CADDR, now)
    (e,) = s.events()
    s.send(e[0], e[1], e[2])
    for d, _ in s.datagrams_to_send(now + 0.001):
        c.receive_datagram(d, SADDR, now + 0.002)
    conn = c.connection
    samples = conn.stats.rtt_samples
    assert [x[2] for x in c.events()] == [b"ping"]
    assert conn._inflight and conn.stats.rtt_samples == samples  # the ack waits for settle
    c.settle(now + 0.002)
    assert not conn._inflight and not conn._open_ids and conn.stats.rtt_samples == samples + 1


def test_a_message_the_settled_ack_lets_in_is_sent_at_the_next_flush():
    config = TransportConfig(reliable_window=1)
    s, c, now = connected_pair(config, defer=True)
    c.send(Channel.RELIABLE, b"first")
    c.send(Channel.RELIABLE, b"second")  # beyond the window of 1: waits
    for d, _ in c.datagrams_to_send(now):
        s.receive_datagram(d, CADDR, now)
    s.update(now)
    assert [x[2] for x in s.events()] == [b"first"]
    now += 0.006  # past the ack delay: the server sends an ack-only packet
    for d, _ in s.datagrams_to_send(now):
        c.receive_datagram(d, SADDR, now)
    assert c.connection._waiting and c.get_timer() > now
    c.settle(now)
    assert not c.connection._waiting and c.get_timer() == 0.0  # a driver's timer flushes at once
    for d, _ in c.datagrams_to_send(now):
        s.receive_datagram(d, CADDR, now)
    assert [x[2] for x in s.events()] == [b"second"]


def test_under_loss_deferral_delivers_the_same_stream_as_immediate_acks():
    runs = {defer: _echo_run(defer, loss=0.1, rounds=1500) for defer in (False, True)}
    for defer, (s, c, got, sent) in runs.items():
        assert got == list(range(len(got))) and len(got) > sent - 200, defer  # in order, none lost
        assert c.connection.stats.resent > 0  # the loss was real
    (_, c0, got0, _), (_, c1, got1, _) = runs[False], runs[True]
    assert got0 == got1
    # the same acks processed a flush later: no resend for a message whose ack was waiting
    assert c1.connection.stats.resent == c0.connection.stats.resent
    assert c1.connection.stats.packets_lost == c0.connection.stats.packets_lost
