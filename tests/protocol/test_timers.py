"""Every endpoint's timer is exact (Endpoint.get_timer): two endpoints woken only by their own timers and by the
datagrams between them connect, talk, keep each other alive while idle, and time out when one goes silent,
and no wake-up finds its timer's work undone (a driver in virtual time would spin on that timer)."""
from __future__ import annotations

from collections import Counter

import pytest

from netcode.protocol import (Channel, ClientProtocol, ConnectError, Disconnected, DisconnectReason, MessageReceived,
                              ServerProtocol)
from netcode.protocol.secure_client import SecureClientProtocol
from netcode.protocol.secure_server import SecureServerProtocol, ServerSecurity
from netcode.security import issue_token, pack_user_data

SERVER = ("10.0.0.1", 40000)
CLIENT = ("10.0.0.2", 5000)
KEY = bytes(range(32))
UNIX = 1_800_000_000
LATENCY = 0.003


def _plain():
    return ServerProtocol(max_clients=4), ClientProtocol(SERVER, payload=b"p")


def _secure():
    token = issue_token(KEY, 7, [SERVER], UNIX, expire_seconds=60, timeout_seconds=5,
                        user_data=pack_user_data({"name": "t"})).to_bytes()
    return (SecureServerProtocol(ServerSecurity(KEY, [SERVER]), 4, unix_offset=UNIX),
            SecureClientProtocol(token, payload=b"p"))


@pytest.mark.parametrize("make", [_plain, _secure], ids=["plain", "secure"])
def test_endpoints_woken_only_by_their_timers_never_spin(make):
    server, client = make()
    ends = {SERVER: server, CLIENT: client}
    events = {SERVER: [], CLIENT: []}
    flight: list = []  # (arrival, data, src, dst)
    server_last_heard = [0.0]
    client.connect(0.0)
    now, wakes, silent_from, sent, ended_at = 0.0, Counter(), 1.5, False, None
    for _ in range(20_000):
        timers = [t for t in (server.get_timer(), client.get_timer() if now < silent_from else None)
                  if t is not None]
        timers += [f[0] for f in flight]
        if not timers:
            break
        now = max(now, min(timers))
        if now >= 9.0:
            break
        wakes[now] += 1
        assert wakes[now] <= 3, f"woken {wakes[now]} times at {now}"
        for f in [f for f in flight if f[0] <= now]:
            flight.remove(f)
            if f[3] == SERVER or now < silent_from:  # from 1.5 s on the client hears and says nothing
                ends[f[3]].receive_datagram(f[1], f[2], now)
                if f[3] == SERVER:
                    server_last_heard[0] = now
        for addr, end in ends.items():
            if addr == CLIENT and now >= silent_from:
                continue
            end.update(now)
            for data, dst in end.datagrams_to_send(now):
                flight.append((now + LATENCY, data, addr, dst))
            for e in end.events():
                events[addr].append(e)
                if type(e) is Disconnected and addr == SERVER:
                    ended_at = now
        if client.connected and not sent and now >= 0.5:
            client.send(Channel.RELIABLE, b"hello")
            sent = True
    else:
        raise AssertionError("20,000 wake-ups: a timer was never served")
    assert MessageReceived(0, Channel.RELIABLE, b"hello") in events[SERVER]
    ended = [e for e in events[SERVER] if type(e) is Disconnected]
    assert [e.reason for e in ended] == [DisconnectReason.of(DisconnectReason.TIMEOUT)]
    # the client's last datagram reached the server before 1.5 s + latency; the server's timeout is 5 s: it ended
    # at that datagram's arrival + 5 s exactly, woken by the timeout itself
    last_heard = server_last_heard[0]
    assert ended_at == last_heard + 5.0
    assert len(wakes) < 1_000  # keep-alives at 10 Hz each way and the handshake: no wake-up was wasted on a spin


@pytest.mark.parametrize("clock_ahead, expected", [(0.25, 0.75), (-10.0, 1.0)],
                         ids=["expire timestamp while requesting", "token lifetime"])
def test_a_secure_client_woken_only_by_its_timer_gives_up_when_its_token_expires(clock_ahead, expected):
    # No server answers. The token lives 1 s (expire - create) and its expire timestamp is Unix time UNIX + 1; the
    # client's clock reads Unix time UNIX + clock_ahead at 0.0. It gives up at the earlier of the two, woken by its
    # timer at that instant, not at its next connect retry after it.
    token = issue_token(KEY, 7, [SERVER], UNIX, expire_seconds=1, timeout_seconds=5).to_bytes()
    client = SecureClientProtocol(token, unix_offset=UNIX + clock_ahead)
    client.connect(0.0)
    now, failed_at, requests = 0.0, None, []
    for _ in range(100):
        t = client.get_timer()
        if t is None:
            break
        now = max(now, t)  # (-inf before the first request: due at once)
        client.update(now)
        requests += [now for _ in client.datagrams_to_send(now)]
        if client.events():
            failed_at = now
    assert failed_at == expected
    assert client.deny_reason == str(ConnectError.TOKEN_EXPIRED) and client.get_timer() is None
    # a request at each 0.1 s retry until then, none at the expiry or after it
    assert len(requests) >= 7 and max(requests) < expected and max(requests) > expected - 0.1 - 1e-9
