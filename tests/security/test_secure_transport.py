"""The secure transport (netcode.io 1.02 connection layer) in virtual time: who gets in, and that nothing
forged, tampered, replayed or sent with the wrong key or token changes a live session."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st

from netcode.protocol.events import Channel, ConnectError, ConnectFailed, Connected, Disconnected, MessageReceived
from netcode.protocol.secure_client import SecureClientProtocol
from netcode.protocol.secure_server import SecureServerProtocol, ServerSecurity
from netcode.security import issue_token, pack_user_data
from netcode.security import packets as sp

KEY = bytes(range(32))
SERVER = ("10.0.0.1", 40000)
ALICE = ("10.0.0.2", 5000)
MALLORY = ("10.0.0.66", 6666)
UNIX = 1_800_000_000  # virtual time 0 is this Unix second


def server(max_clients=4, key=KEY, accept=b"welcome", **kw):
    return SecureServerProtocol(ServerSecurity(key, [SERVER]), max_clients, accept_payload=accept,
                                unix_offset=UNIX, **kw)


def token(client_id=7, key=KEY, servers=(SERVER,), now=UNIX, expire=30, **user):
    return issue_token(key, client_id, servers, now, expire_seconds=expire,
                       user_data=pack_user_data(user or {"name": "alice"})).to_bytes()


class Wire:
    """Endpoints by address; every datagram is delivered after ``delay`` (tap: every datagram seen)."""

    def __init__(self, delay=0.005):
        self.ends, self.now, self.delay = {}, 0.0, delay
        self.flight: list = []
        self.tap: list = []  # (data, src, dst)
        self.events = {}

    def add(self, addr, end):
        self.ends[addr] = end
        self.events[addr] = []
        return end

    def inject(self, data, src, dst):
        self.flight.append((self.now + self.delay, data, src, dst))

    def run(self, seconds, step=0.005):
        end = self.now + seconds
        while self.now < end:
            self.now += step
            for when, data, src, dst in [f for f in self.flight if f[0] <= self.now]:
                self.flight.remove((when, data, src, dst))
                if dst in self.ends:
                    self.ends[dst].receive_datagram(data, src, self.now)
            for addr, e in self.ends.items():
                e.update(self.now)
                for data, dst in e.datagrams_to_send(self.now):
                    self.tap.append((data, addr, dst))
                    self.inject(data, addr, dst)
                self.events[addr].extend(e.events())


def connected_pair(**kw):
    w = Wire()
    srv = w.add(SERVER, server(**kw))
    cli = w.add(ALICE, SecureClientProtocol(token(), payload=b"hello"))
    cli.connect(0.0)
    w.run(0.2)
    assert cli.connected
    return w, srv, cli


def test_a_token_holder_connects_and_both_sides_see_the_other_payload_and_the_token_identity():
    w, srv, cli = connected_pair()
    joined = [e for e in w.events[SERVER] if isinstance(e, Connected)]
    assert len(joined) == 1 and joined[0].payload == b"hello" and joined[0].addr == ALICE
    assert joined[0].identity.client_id == 7 and joined[0].identity.fields == {"name": "alice"}
    assert [e for e in w.events[ALICE] if isinstance(e, Connected)][0].payload == b"welcome"
    cli.send(Channel.RELIABLE, b"ping")
    srv.send(0, Channel.UNRELIABLE, b"pong")
    w.run(0.1)
    assert MessageReceived(0, Channel.RELIABLE, b"ping") in w.events[SERVER]
    assert MessageReceived(0, Channel.UNRELIABLE, b"pong") in w.events[ALICE]
    # everything after the request is sealed: no plaintext of ours is on the wire
    assert not any(b"ping" in d or b"pong" in d or b"hello" in d for d, _, _ in w.tap)


def test_nothing_the_server_says_before_a_session_is_larger_than_the_request():
    w = Wire()
    w.add(SERVER, server())
    cli = w.add(ALICE, SecureClientProtocol(token(), payload=b"x" * 200))
    cli.connect(0.0)
    w.run(0.2)
    requests = [d for d, src, _ in w.tap if src == ALICE and d[0] == sp.REQUEST]
    before = [d for d, src, _ in w.tap if src == SERVER and d[0] & 0xF in (sp.CHALLENGE, sp.DENIED)]
    assert requests and before and all(len(r) == sp.REQUEST_BYTES == 1078 for r in requests)
    assert max(len(d) for d in before) < sp.REQUEST_BYTES


def test_forged_and_tampered_packets_are_dropped_and_counted_and_the_session_plays_on():
    w, srv, cli = connected_pair()
    # an on-path observer flips one byte of a real packet on its way, or makes one up with the right header
    tampered = bytearray(cli.connection.framing.seal_payload(bytes(10)))
    tampered[-20] ^= 0x01
    forged = bytes([0x15, 200]) + os.urandom(40)
    other_key = sp.PacketKey(os.urandom(32), srv.security.protocol_id).seal(sp.PAYLOAD, 10_000, b"\0" * 12)
    for data in (bytes(tampered), forged, other_key, bytes([0x16, 250]) + bytes(16)):  # the last: a disconnect
        w.inject(data, ALICE, SERVER)
    w.run(0.05)
    assert srv.dropped["packet does not decrypt"] == 4
    assert 0 in srv.connections and not [e for e in w.events[SERVER] if isinstance(e, Disconnected)]
    cli.send(Channel.RELIABLE, b"still here")
    w.run(0.1)
    assert MessageReceived(0, Channel.RELIABLE, b"still here") in w.events[SERVER]


def test_a_replayed_packet_is_refused_inside_the_window_and_long_after_it():
    w, srv, cli = connected_pair()
    cli.send(Channel.UNRELIABLE, b"move left")
    w.run(0.05)
    old = [d for d, src, _ in w.tap if src == ALICE and d[0] & 0xF == sp.PAYLOAD][-1]
    w.inject(old, ALICE, SERVER)  # at once: inside the 256-packet window
    w.run(0.02)
    assert srv.dropped["replayed packet"] == 1
    # a long session later: 70,000 packets on (past any 16-bit wrap), the old datagram is still refused
    cli.connection.framing.seq += 70_000
    cli.send(Channel.UNRELIABLE, b"move right")
    w.run(0.05)
    assert MessageReceived(0, Channel.UNRELIABLE, b"move right") in w.events[SERVER]
    w.inject(old, ALICE, SERVER)
    w.run(0.02)
    assert srv.dropped["replayed packet"] == 2
    assert w.events[SERVER].count(MessageReceived(0, Channel.UNRELIABLE, b"move left")) == 1


def test_a_token_sealed_with_another_key_gets_no_answer():
    w = Wire()
    srv = w.add(SERVER, server())
    cli = w.add(ALICE, SecureClientProtocol(token(key=os.urandom(32))))
    cli.connect(0.0)
    w.run(6.0, step=0.05)
    assert srv.dropped["connect token does not open with this key"] > 0 and not srv.connections
    assert not [d for d, src, _ in w.tap if src == SERVER]  # not a single byte said back
    assert [e.reason for e in w.events[ALICE] if isinstance(e, ConnectFailed)] == [ConnectError.TIMED_OUT]


def test_an_expired_token_is_refused_and_the_client_says_so():
    w = Wire()
    srv = w.add(SERVER, server())
    cli = w.add(ALICE, SecureClientProtocol(token(now=UNIX - 100, expire=30)))
    cli.connect(0.0)
    w.run(0.3)
    assert srv.dropped["request: token expired"] > 0 and not srv.connections
    # the client tries until its token's own lifetime (expire - create) is used up, then stops
    expired = SecureClientProtocol(token(expire=1))
    expired.connect(0.0)
    expired.update(1.5)
    assert [e.reason for e in expired.events()] == [ConnectError.TOKEN_EXPIRED]


def test_a_token_for_another_server_is_ignored():
    w = Wire()
    srv = w.add(SERVER, server())
    cli = w.add(ALICE, SecureClientProtocol(token(servers=[("10.9.9.9", 40000)]), via=SERVER))
    cli.connect(0.0)
    w.run(0.3)
    assert srv.dropped["token not for this server"] > 0 and not srv.connections


def test_a_token_seen_on_the_wire_is_worthless_from_another_address():
    w, srv, cli = connected_pair()
    request = next(d for d, src, _ in w.tap if src == ALICE and d[0] == sp.REQUEST)
    for _ in range(3):
        w.inject(request, MALLORY, SERVER)  # the observer replays Alice's request from its own address
    w.run(0.1)
    assert srv.handshakes["client id already connected"] + srv.handshakes["token used from another address"] >= 3
    assert list(srv.connections) == [0] and srv.connections[0].addr == ALICE
    assert not [d for d, src, dst in w.tap if src == SERVER and dst == MALLORY]
    # and after Alice left, her token still only works from Alice's address
    cli.disconnect()
    w.run(0.1)
    assert not srv.connections
    w.inject(request, MALLORY, SERVER)
    w.run(0.1)
    assert srv.handshakes["token used from another address"] >= 1 and not srv.connections


def test_a_replayed_handshake_never_disturbs_the_live_session():
    w, srv, cli = connected_pair()
    handshake = [d for d, src, _ in w.tap if src == ALICE and d[0] & 0xF in (sp.REQUEST, sp.RESPONSE)]
    for d in handshake * 3:
        w.inject(d, ALICE, SERVER)
    w.run(0.2)
    assert list(srv.connections) == [0] and srv.handshakes["accepted"] == 1
    assert not [e for e in w.events[SERVER] if isinstance(e, Disconnected)]
    cli.send(Channel.RELIABLE, b"fine")
    w.run(0.1)
    assert MessageReceived(0, Channel.RELIABLE, b"fine") in w.events[SERVER]


def test_a_full_server_denies_and_the_client_is_told():
    w = Wire()
    w.add(SERVER, server(max_clients=1))
    first = w.add(ALICE, SecureClientProtocol(token(client_id=1)))
    second = w.add(MALLORY, SecureClientProtocol(token(client_id=2)))
    first.connect(0.0)
    w.run(0.2)
    second.connect(w.now)
    w.run(0.3)
    assert first.connected and not second.connected
    assert [e.reason for e in w.events[MALLORY] if isinstance(e, ConnectFailed)] == [ConnectError.SERVER_FULL]


def test_the_client_tries_the_next_server_of_its_token_when_the_first_is_silent():
    w = Wire()
    w.add(SERVER, server())
    cli = w.add(ALICE, SecureClientProtocol(issue_token(KEY, 3, [("10.0.0.99", 1), SERVER], UNIX,
                                                        timeout_seconds=1).to_bytes()))
    cli.connect(0.0)
    w.run(1.6, step=0.01)
    assert cli.connected and cli.server_addr == SERVER


def test_a_client_that_completes_the_handshake_but_never_says_hello_is_dropped():
    w = Wire()
    srv = w.add(SERVER, server())
    # a token timeout longer than the hello deadline: the client is still alive when its hello is overdue
    cli = SecureClientProtocol(issue_token(KEY, 7, [SERVER], UNIX, timeout_seconds=30).to_bytes())
    cli.connect(0.0)
    # a hand-driven client: request and response only, then silence
    for _ in range(40):
        w.now += 0.005
        for d, _ in cli.datagrams_to_send(w.now):
            if d[0] == sp.REQUEST or d[0] & 0xF == sp.RESPONSE:
                srv.receive_datagram(d, ALICE, w.now)
        for d, _ in srv.datagrams_to_send(w.now):
            if cli.connection is None:
                cli.receive_datagram(d, SERVER, w.now)
        srv.update(w.now)
    assert cli.connection is not None and srv._hello and not srv.connections
    (created,) = [c._created for c in srv._hello.values()]
    # woken by its timer alone, the server drops it at its hello deadline, not at some later datagram or tick
    now, told = w.now, []
    for _ in range(1000):
        if not srv._hello:
            break
        now = max(now, srv.get_timer())
        srv.update(now)
        told = [d for d, addr in srv.datagrams_to_send(now) if addr == ALICE]
    assert now == created + srv.config.connect_timeout
    assert not srv._hello and not srv._by_addr and not srv.events()  # the application never saw it
    assert told and all(d[0] & 0xF == sp.DISCONNECT for d in told)  # and the client is told, not left guessing


def test_the_server_cuts_a_silent_client_after_the_token_timeout():
    w, srv, cli = connected_pair()
    del w.ends[ALICE]
    w.run(6.0, step=0.05)
    assert not srv.connections and [e for e in w.events[SERVER] if isinstance(e, Disconnected)]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=1300), st.sampled_from([ALICE, MALLORY]))
def test_no_datagram_crashes_the_secure_server_or_disturbs_a_session(data, src):
    srv = server()
    cli = SecureClientProtocol(token())
    cli.connect(0.0)
    now = 0.0
    for _ in range(20):
        now += 0.005
        for d, _ in cli.datagrams_to_send(now):
            srv.receive_datagram(d, ALICE, now)
        for d, _ in srv.datagrams_to_send(now):
            cli.receive_datagram(d, SERVER, now)
    assert 0 in srv.connections
    srv.receive_datagram(data, src, now)
    srv.update(now)
    assert 0 in srv.connections


def test_a_malformed_token_fails_in_one_line():
    bad = SecureClientProtocol(b"\0" * 2048)
    bad.connect(0.0)
    assert [e.reason for e in bad.events()] == [ConnectError.INVALID_TOKEN]
    assert "not a netcode 1.02 connect token" in bad.deny_reason
    with pytest.raises(ValueError):
        token(client_id=-1)
