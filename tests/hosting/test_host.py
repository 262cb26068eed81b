"""The host: many rooms of either mode on one transport, routed by the connect token, in virtual time."""
from __future__ import annotations

from netcode.hosting.factory import RoomFactory
from netcode.hosting.host import Host, HostConfig
from netcode.hosting.rooms import RoomSpec
from netcode.lockstep.client import LockstepClient
from netcode.netsim.link import LinkConfig
from netcode.netsim.virtual import VirtualNetwork
from netcode.protocol.secure_server import SecureServerProtocol, ServerSecurity
from netcode.protocol.server import ServerProtocol
from netcode.security.issuer import LocalIssuer
from netcode.statesync.client import StateSyncClient

KEY = bytes(range(7, 39))
HOST = ("10.2.0.1", 7000)
UNIX = 1_800_000_000


def secure_host(**config):
    transport = SecureServerProtocol(ServerSecurity(KEY, [HOST]), max_clients=256, unix_offset=UNIX)
    host = Host(transport, RoomFactory(npcs=10), HostConfig(**config))
    net = VirtualNetwork(LinkConfig(latency=0.01, loss=0.01), seed=5, step=1 / 240)
    net.add(HOST, host)
    return host, net


def token(client_id, **fields):
    return LocalIssuer(KEY).token(HOST, client_id, UNIX, name=f"p{client_id}", **fields)


def test_players_reach_their_own_room_of_either_mode_through_one_port():
    host, net = secure_host()
    a = [StateSyncClient(None, connect_token=token(i, match="AAAAAA", game="arena", mode="state", players=4))
         for i in range(3)]
    b = [StateSyncClient(None, connect_token=token(10 + i, match="BBBBBB", game="football", mode="state", players=4))
         for i in range(2)]
    c = [LockstepClient(None, connect_token=token(20 + i, match="CCCCCC", game="arena", mode="lockstep", players=2))
         for i in range(2)]
    for i, cl in enumerate(a + b + c):
        cl.connect(0.0)
        net.add(("10.2.1.1", 5000 + i), cl)
    assert net.run_until(lambda: all(x.welcome is not None and x.counters.snapshots > 30 for x in a + b)
                         and all(x.frame >= 40 for x in c), timeout=15.0)
    assert sorted(host.rooms) == ["AAAAAA", "BBBBBB", "CCCCCC"]
    assert [host.rooms[r].clients() for r in ("AAAAAA", "BBBBBB", "CCCCCC")] == [3, 2, 2]
    assert {x.welcome.game.name for x in b} == {"football"} and {x.welcome.game.name for x in a} == {"arena"}
    assert all(x.synced for x in c)
    # each room's server knows only its own players
    assert sorted(cs.name for cs in host.rooms["AAAAAA"].server.clients.values()) == ["p0", "p1", "p2"]


def test_a_full_room_refuses_and_an_empty_room_ends():
    host, net = secure_host(empty_grace=2.0)
    first = [StateSyncClient(None, connect_token=token(i, match="FULL00", players=2)) for i in range(3)]
    for i, cl in enumerate(first):
        cl.connect(0.0)
        net.add(("10.2.1.2", 6000 + i), cl)
    net.advance(3.0)
    assert sum(x.welcome is not None for x in first) == 2 and host.counters["refused: room full"] >= 1
    for i, cl in enumerate(first):
        cl.disconnect()
    net.advance(1.0)
    for i in range(3):
        net.remove(("10.2.1.2", 6000 + i))
    net.advance(3.0)
    assert "FULL00" not in host.rooms and host.counters["rooms ended"] == 1


def test_a_token_without_a_match_gets_nowhere_and_the_host_keeps_its_room_cap():
    host, net = secure_host(max_rooms=1)
    lost = StateSyncClient(None, connect_token=LocalIssuer(KEY).token(HOST, 99, UNIX, name="x"))
    one = StateSyncClient(None, connect_token=token(1, match="ONE000"))
    two = StateSyncClient(None, connect_token=token(2, match="TWO000"))
    for i, cl in enumerate((lost, one, two)):
        cl.connect(0.0)
        net.add(("10.2.1.3", 7000 + i), cl)
    net.advance(3.0)
    assert one.welcome is not None and lost.welcome is None and two.welcome is None
    assert host.counters["refused: no match"] >= 1 and list(host.rooms) == ["ONE000"]


def test_the_development_transport_routes_by_the_connect_payload():
    host = Host(ServerProtocol(max_clients=64, secret=b"h" * 32), RoomFactory(npcs=5))
    net = VirtualNetwork(LinkConfig(latency=0.01), seed=2, step=1 / 240)
    net.add(("host", 0), host)
    c = StateSyncClient(("host", 0), name="dev", nonce=3)
    c.transport.payload = b"\x82\xa4name\xa3dev\xa5match\xa6DEV000"  # {"name": "dev", "match": "DEV000"}
    c.connect(0.0)
    net.add(("c", 0), c)
    assert net.run_until(lambda: c.welcome is not None, timeout=5.0)
    assert list(host.rooms) == ["DEV000"] and host.rooms["DEV000"].spec == RoomSpec("arena", "state", 8)
