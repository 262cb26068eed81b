"""Spoofing, amplification and fuzzing of the transport endpoints."""
import random

from netcode.netsim.link import LinkConfig
from netcode.protocol import Channel, ClientProtocol, ServerProtocol
from netcode.netsim.virtual import VirtualNetwork
from netcode.wire import packet as wp

SERVER = ("10.0.0.1", 9000)
SECRET = b"k" * 32


def test_spoofed_requests_allocate_nothing_and_never_amplify():
    server = ServerProtocol(max_clients=4, secret=SECRET)
    rng = random.Random(1)
    sent_bytes = 0
    for i in range(2000):
        addr = ("203.0.113.%d" % rng.randrange(256), rng.randrange(1024, 65536))
        req = wp.encode_request(rng.getrandbits(64))
        sent_bytes += len(req)
        server.receive_datagram(req, addr, now=1.0 + i * 0.001)
        # a spoofer can't see the challenge, so it guesses a cookie
        resp = wp.encode_response(rng.getrandbits(64), int(2e3), rng.randbytes(16), b"")
        sent_bytes += len(resp)
        server.receive_datagram(resp, addr, now=1.0 + i * 0.001)
        for data, to in server.datagrams_to_send(1.0 + i * 0.001):
            assert to == addr
            assert len(data) <= len(req)
    assert not server.connections
    assert server.handshakes["accepted"] == 0
    assert server.handshakes["bad cookie"] == 2000


def test_cookie_bound_to_address_and_expiry():
    server = ServerProtocol(max_clients=4, secret=SECRET)
    real, spoof = ("198.51.100.1", 4000), ("198.51.100.2", 4000)
    server.receive_datagram(wp.encode_request(5), real, 0.0)
    [(challenge, _)] = server.datagrams_to_send(0.0)
    nonce, expiry, mac = wp.decode_challenge(challenge)
    # replayed from another address: denied
    server.receive_datagram(wp.encode_response(nonce, expiry, mac, b""), spoof, 0.1)
    assert not server.connections
    # too late: denied
    server.receive_datagram(wp.encode_response(nonce, expiry, mac, b""), real, 60.0)
    assert not server.connections
    # in time from the right address: accepted
    server.receive_datagram(wp.encode_response(nonce, expiry, mac, b""), real, 0.2)
    assert len(server.connections) == 1


def test_reply_never_larger_than_request_for_any_pre_handshake_datagram():
    server = ServerProtocol(max_clients=1, secret=SECRET, accept_payload=bytes(wp.MAX_CONNECT_PAYLOAD))
    addr = ("192.0.2.9", 1)
    req = wp.encode_request(1)
    server.receive_datagram(req, addr, 0.0)
    [(challenge, _)] = server.datagrams_to_send(0.0)
    assert len(challenge) <= len(req)
    _, expiry, mac = wp.decode_challenge(challenge)
    resp = wp.encode_response(1, expiry, mac, b"")
    server.receive_datagram(resp, addr, 0.0)
    [(accept, _)] = server.datagrams_to_send(0.0)
    assert len(accept) <= len(resp)
    # short requests (not padded) get no answer at all
    server.receive_datagram(req[:40], ("192.0.2.10", 1), 0.0)
    assert server.datagrams_to_send(0.0) == [] or all(a != ("192.0.2.10", 1) for _, a in server.datagrams_to_send(0.0))


def _mutations(rng, samples):
    """Random datagrams and mutations of real ones: bit flips, truncation, extension, splices."""
    while True:
        r = rng.random()
        if r < 0.25 or not samples:
            yield rng.randbytes(rng.randrange(0, 1400))
            continue
        base = bytearray(rng.choice(samples))
        if r < 0.5:
            for _ in range(rng.randrange(1, 6)):
                if base:
                    i = rng.randrange(len(base))
                    base[i] ^= 1 << rng.randrange(8)
        elif r < 0.65:
            base = base[:rng.randrange(len(base) + 1)]
        elif r < 0.8:
            base += rng.randbytes(rng.randrange(1, 64))
        else:
            # keep a valid prefix (and session) so the fuzz reaches the message parser
            cut = rng.randrange(4, max(5, len(base)))
            base = base[:cut] + rng.randbytes(rng.randrange(0, 200))
        yield bytes(base)


def test_fuzz_100k_datagrams_nothing_escapes_and_real_client_stays():
    net = VirtualNetwork(LinkConfig(latency=0.005), seed=9)
    server = net.add(SERVER, ServerProtocol(max_clients=8, secret=SECRET))
    client = ClientProtocol(SERVER, nonce=42)
    client.connect(0.0)
    caddr = ("10.0.1.1", 5000)
    net.add(caddr, client)
    assert net.run_until(lambda: client.connected, 1.0)
    samples = []

    # capture real traffic both ways to mutate
    orig_server_send = server.datagrams_to_send
    orig_client_send = client.datagrams_to_send

    def tap_server(now):
        out = orig_server_send(now)
        samples.extend(d for d, _ in out[:2])
        return out

    def tap_client(now):
        out = orig_client_send(now)
        samples.extend(d for d, _ in out[:2])
        return out

    server.datagrams_to_send = tap_server
    client.datagrams_to_send = tap_client
    received = []

    def app(now):
        client.send(Channel.RELIABLE, b"r%d" % int(now * 1000))
        client.send(Channel.SEQUENCED, b"s")
        for cid in list(server.connections):
            server.send(cid, Channel.UNRELIABLE, b"u")
        received.extend(server.events())
        client.events()
        del samples[:-200]

    net.on_step.append(app)
    net.advance(0.2)
    rng = random.Random(1234)
    gen = _mutations(rng, samples)
    attacker = ("10.6.6.6", 666)
    n = 0
    while n < 100_000:
        for _ in range(200):
            d = next(gen)
            # half from strangers, half spoofing the real client's address
            server.receive_datagram(d, attacker if n % 2 else caddr, net.now)
            client.receive_datagram(next(gen), SERVER if n % 3 else attacker, net.now)
            n += 1
        net.step()
    net.advance(1.0)
    assert client.connected
    assert len(server.connections) == 1
    assert sum(server.dropped.values()) > 50_000
    assert sum(client.dropped.values()) > 50_000
    # the real client's reliable stream kept flowing through the attack
    assert len([e for e in received if getattr(e, "channel", None) == Channel.RELIABLE]) > 400


def test_a_replayed_challenge_response_does_not_reopen_a_closed_connection():
    server = ServerProtocol(max_clients=4, secret=SECRET)
    addr = ("198.51.100.7", 4000)
    server.receive_datagram(wp.encode_request(9), addr, 0.0)
    [(challenge, _)] = server.datagrams_to_send(0.0)
    nonce, expiry, mac = wp.decode_challenge(challenge)
    response = wp.encode_response(nonce, expiry, mac, b"")
    server.receive_datagram(response, addr, 0.1)
    [client_id] = server.connections
    # a duplicate while connected: our ACCEPT was lost, it is answered again (same connection)
    server.datagrams_to_send(0.1)
    server.receive_datagram(response, addr, 0.2)
    assert list(server.connections) == [client_id]
    accepts = [d for d, _ in server.datagrams_to_send(0.2) if d[3] == wp.ACCEPT]
    assert [wp.decode_accept(d)[2] for d in accepts] == [client_id]
    server.disconnect(client_id)
    server.events()
    # the same response replayed while the cookie is still valid: no new connection, no reply
    server.receive_datagram(response, addr, 0.5)
    assert not server.connections and not server.events()
    assert server.handshakes["replayed response"] == 1
    assert not [d for d, _ in server.datagrams_to_send(0.5) if d[3] == wp.ACCEPT]
    # a real reconnect from that address handshakes with a fresh nonce and is accepted
    server.receive_datagram(wp.encode_request(10), addr, 0.6)
    [(challenge, _)] = [x for x in server.datagrams_to_send(0.6) if x[0][3] == wp.CHALLENGE]
    server.receive_datagram(wp.encode_response(*wp.decode_challenge(challenge), b""), addr, 0.7)
    assert len(server.connections) == 1
    # ... and the old response replayed now must not cut that new, live session
    [live] = server.connections
    server.receive_datagram(response, addr, 0.8)
    assert list(server.connections) == [live] and server.handshakes["replayed response"] == 2
    assert not any(type(e).__name__ == "Disconnected" for e in server.events())


def _handshake(server, addr, nonce, now):
    server.receive_datagram(wp.encode_request(nonce), addr, now)
    replies = [d for d, to in server.datagrams_to_send(now) if to == addr]
    if not replies or replies[0][3] != wp.CHALLENGE:
        return replies[0][3] if replies else None
    server.receive_datagram(wp.encode_response(*wp.decode_challenge(replies[0]), b""), addr, now)
    return [d for d, to in server.datagrams_to_send(now) if to == addr][0][3]


def test_one_host_cannot_take_every_slot():
    """One IP used to take all 64 slots with keep-alives alone, and a genuine client was refused."""
    from netcode.protocol import TransportConfig

    server = ServerProtocol(max_clients=64, secret=SECRET, config=TransportConfig(max_per_host=16))
    answers = [_handshake(server, ("203.0.113.9", 2000 + i), 100 + i, 0.01 * i) for i in range(64)]
    assert answers.count(wp.ACCEPT) == 16 and answers.count(wp.DENY) == 48
    assert _handshake(server, ("198.51.100.20", 5000), 999, 1.0) == wp.ACCEPT  # a genuine client gets in
    # a slot freed by that host can be taken by it again
    server.disconnect(next(iter(server.connections)))
    assert _handshake(server, ("203.0.113.9", 9999), 5, 1.1) == wp.ACCEPT
    # loopback is exempt by default (a local swarm is many clients on one host), unless asked
    local = ServerProtocol(max_clients=64, secret=SECRET, config=TransportConfig(max_per_host=4))
    assert all(_handshake(local, ("127.0.0.1", 3000 + i), i, 0.0) == wp.ACCEPT for i in range(10))
    strict = ServerProtocol(max_clients=64, secret=SECRET, config=TransportConfig(max_per_host=4, cap_loopback=True))
    assert [_handshake(strict, ("127.0.0.1", 3000 + i), i, 0.0) for i in range(6)].count(wp.ACCEPT) == 4


def test_resends_back_off_while_the_peer_is_silent():
    """A silent peer used to get every message in flight again every 0.2 s (~140 resends/s) until it timed out."""
    net = VirtualNetwork(LinkConfig(latency=0.01), seed=3, step=0.005)
    server = ServerProtocol(max_clients=4, secret=SECRET)
    client = ClientProtocol(SERVER)
    net.add(SERVER, server)
    net.add(("198.51.100.30", 7000), client)
    client.connect(0.0)
    net.run_until(lambda: client.connected, 2.0)
    [cid] = server.connections
    net.remove(("198.51.100.30", 7000))  # the client goes silent (gone, not disconnected)
    for i in range(30):
        server.send(cid, Channel.RELIABLE, b"m%d" % i)
    conn = server.connections[cid]
    net.advance(4.0)  # before the 5 s timeout
    # without back-off: 30 messages x ~20 resends; with it ~5 each (0.2, 0.4, 0.8, 1.6 s apart)
    assert 0 < conn.stats.resent <= 30 * 7, conn.stats.resent
