"""Connection-level limits: in-flight packets, buffered bytes, replayed old datagrams, closed state."""
from netcode.protocol.config import TransportConfig
from netcode.protocol.connection import Connection
from netcode.protocol.events import Channel


def pair(cfg=None):
    cfg = cfg or TransportConfig()
    s_ev, c_ev = [], []
    srv = Connection(0, "c", 99, cfg, 0.0, s_ev, is_server=True)
    cli = Connection(0, "s", 99, cfg, 0.0, c_ev, is_server=False)
    return srv, cli, s_ev, c_ev


def run(cli, srv, seconds, latency, stop=lambda: False, step=0.002):
    """Both ends flushed every `step`; datagrams arrive `latency` later, no loss."""
    now, wire = 0.0, []
    while now < seconds and not stop():
        now += step
        for conn, to in ((cli, srv), (srv, cli)):
            out = []
            conn.datagrams(now, out)
            wire.extend((now + latency, to, d) for d, _ in out)
        wire.sort(key=lambda w: w[0])
        while wire and wire[0][0] <= now:
            _, to, d = wire.pop(0)
            to.receive_payload(d, now)
    return now


def test_a_one_way_bulk_stream_is_acked_without_spurious_resends():
    srv, cli, s_ev, _ = pair()
    for i in range(1024):  # 2,048 fragments: more packets than the ack ring in one burst
        cli.send(Channel.RELIABLE, bytes([i % 256]) * 2400)
    run(cli, srv, 10.0, 0.005, stop=lambda: not cli._open_ids)
    assert len(s_ev) == 1024 and not cli._open_ids
    assert cli.stats.resent == 0 and cli.stats.packets_lost == 0


def test_out_of_order_complete_messages_count_against_the_buffer_limit():
    from netcode.wire import packet as wp
    cfg = TransportConfig(reassembly_bytes=1 << 20)
    srv, cli, s_ev, _ = pair(cfg)
    # a peer that never sends message 0 but streams later ones: they wait, but not without bound
    for seq, ident in enumerate(range(1, 4000)):
        body = wp.encode_reliable(ident & 0xFFFF, bytes(1100))
        srv.receive_payload(wp.seal_payload(cli.send_key, seq & 0xFFFF, 0xFFFF, 0, 0, body), seq * 0.001)
    assert srv._complete_bytes <= cfg.reassembly_bytes
    assert srv.stats.dropped_reassembly > 0 and not s_ev


def test_a_replayed_ancient_datagram_is_stale_not_the_newest():
    from netcode.wire import packet as wp
    srv, cli, s_ev, _ = pair()
    old = wp.seal_payload(cli.send_key, 100, 0xFFFF, 0, 0, wp.encode_unreliable(b"old"))
    for seq in range(40_000):
        srv.receive_payload(wp.seal_payload(cli.send_key, seq & 0xFFFF, 0xFFFF, 0, 0, b""), seq * 0.001)
    srv.receive_payload(old, 40.0)  # 16-bit wrap makes packet 100 look 25,000 ahead
    assert s_ev == [] and srv.stats.stale_packets == 1
    srv.receive_payload(wp.seal_payload(cli.send_key, 40_000 & 0xFFFF, 0xFFFF, 0, 0, wp.encode_unreliable(b"new")), 40.1)
    assert [e.data for e in s_ev] == [b"new"]


def test_nothing_is_delivered_after_the_connection_closed():
    from netcode.wire import packet as wp
    srv, cli, s_ev, _ = pair()
    srv.receive_disconnect()
    srv.receive_payload(wp.seal_payload(cli.send_key, 1, 0xFFFF, 0, 0, wp.encode_unreliable(b"late")), 0.1)
    assert s_ev == []


def test_max_message_size_holds_for_small_messages_too():
    import pytest
    from netcode.protocol.events import LocalProtocolError
    srv, cli, _, _ = pair(TransportConfig(max_message_size=100))
    with pytest.raises(LocalProtocolError):
        cli.send(Channel.RELIABLE, bytes(1000))
