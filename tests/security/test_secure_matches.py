"""Matches on the secure transport: both modes play through it, the token issuer's name wins, and a rejoin
token binds to who the connect token says the player is, not to whoever presents it."""
from __future__ import annotations

from netcode.lockstep.client import LockstepClient
from netcode.lockstep.server import LockstepConfig, LockstepServer
from netcode.netsim.link import LinkConfig
from netcode.netsim.virtual import VirtualNetwork
from netcode.protocol.secure_server import ServerSecurity
from netcode.security.issuer import LocalIssuer
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import Welcome

from helpers import arena_server

KEY = bytes(range(100, 132))
SERVER = ("10.1.0.1", 40000)
UNIX = 1_800_000_000


def secure_net(server):
    server.transport.unix_offset = UNIX
    net = VirtualNetwork(LinkConfig(latency=0.01, loss=0.02), seed=3, step=1 / 240)
    net.add(SERVER, server)
    return net


def join(net, addr, client_id, name, rejoin=None, claimed="someone"):
    token = LocalIssuer(KEY).token(SERVER, client_id, UNIX, name=name)
    c = StateSyncClient(None, name=claimed, token=rejoin, connect_token=token)
    c.connect(net.now)
    net.add(addr, c)
    return c


def welcome_of(c):
    return c.welcome


def test_state_sync_plays_over_the_secure_transport_and_takes_the_name_from_the_token():
    server = arena_server(npc_count=10, security=ServerSecurity(KEY, [SERVER]))
    net = secure_net(server)
    c = join(net, ("10.1.0.2", 5000), 11, "alice", claimed="admin")
    assert net.run_until(lambda: c.welcome is not None and c.counters.snapshots > 20, timeout=5.0)
    assert [cs.name for cs in server.clients.values()] == ["alice"]  # the issuer's word, not the client's


def test_a_rejoin_token_is_worth_nothing_to_another_identity_and_everything_to_its_owner():
    server = arena_server(npc_count=10, security=ServerSecurity(KEY, [SERVER]))
    net = secure_net(server)
    alice = join(net, ("10.1.0.2", 5000), 11, "alice")
    assert net.run_until(lambda: alice.welcome is not None, timeout=5.0)
    slot, rejoin = alice.welcome.slot, alice.welcome.token
    # Mallory saw Alice's WELCOME (say, an older insecure build leaked it) and presents her rejoin token
    # with a valid token of her own: she gets a new player, Alice keeps hers and stays connected
    mallory = join(net, ("10.1.0.66", 6666), 66, "mallory", rejoin=rejoin)
    assert net.run_until(lambda: mallory.welcome is not None, timeout=5.0)
    assert mallory.welcome.slot != slot and alice.transport.connected
    assert server.counters["rejoin refused: another identity"] == 1
    # Alice's connection drops; she comes back (a new address, a fresh token, the same identity): her player
    net.remove(("10.1.0.2", 5000))
    net.advance(1.0)
    again = join(net, ("10.1.0.3", 5001), 11, "alice", rejoin=rejoin)
    assert net.run_until(lambda: again.welcome is not None, timeout=8.0)
    assert again.welcome.slot == slot and server.counters["rejoins"] == 1


def test_lockstep_plays_over_the_secure_transport():
    server = LockstepServer(LockstepConfig(players_per_match=2), security=ServerSecurity(KEY, [SERVER]))
    net = secure_net(server)
    clients = []
    for i in range(2):
        token = LocalIssuer(KEY).token(SERVER, 100 + i, UNIX, name=f"p{i}")
        c = LockstepClient(None, name="x", connect_token=token)
        c.connect(0.0)
        net.add(("10.1.0.2", 5000 + i), c)
        clients.append(c)
    assert net.run_until(lambda: all(c.frame >= 60 for c in clients), timeout=15.0)
    assert sorted(p.name for p in server.players.values()) == ["p0", "p1"]
    assert all(c.synced for c in clients) and not server.counters["desyncs"]
