"""A parked player (disconnected, waiting for its rejoin grace) holds no snapshot baselines: each one is a
view into a whole tick's batch arrays, and under churn they piled up (the soak's RSS creep)."""
from __future__ import annotations

from netcode.netsim.link import LinkConfig
from netcode.netsim.virtual import VirtualNetwork
from netcode.statesync.client import StateSyncClient

from helpers import arena_server


def test_a_parked_player_keeps_no_snapshot_baselines():
    server = arena_server(npc_count=50)
    net = VirtualNetwork(LinkConfig(latency=0.01), seed=1, step=1 / 240)
    net.add(("server", 0), server)
    c = StateSyncClient(("server", 0), name="leaver", nonce=1)
    c.connect(0.0)
    net.add(("c", 0), c)
    assert net.run_until(lambda: c.counters.snapshots > 30, timeout=5.0)
    token = c.welcome.token
    assert any(cs.sent for cs in server.clients.values())
    c.disconnect()
    net.advance(0.5)
    parked = server.away[token]
    assert not parked.sent and parked.acked == -1
