"""Shared test helpers: an arena server built the way a test wants it, the arena's input codec, and a connected
transport server and client driven without sockets."""
from __future__ import annotations

from netcode.games.arena import GAME, INPUTS, SimConfig
from netcode.protocol import ClientProtocol, ServerProtocol
from netcode.statesync import messages as msg
from netcode.statesync.server import ServerConfig, StateSyncServer

CODEC = msg.InputCodec(INPUTS, GAME.action_field)  # state-sync INPUT messages of the arena


def arena_server(config: ServerConfig | None = None, *, seed: int = 0, secret: bytes = b"t" * 32,
                 security=None, **rules) -> StateSyncServer:
    """A state-sync server of the arena with ``SimConfig.arena(**rules)`` at the server's tick rate
    (``security``: a netcode.protocol.secure_server.ServerSecurity for the secure transport)."""
    config = config or ServerConfig()
    rules.setdefault("tick_rate", config.tick_rate)
    return StateSyncServer(GAME, SimConfig.arena(**rules), config, seed=seed, secret=secret, security=security)


SADDR, CADDR = ("127.0.0.1", 9), ("127.0.0.1", 10)  # the server's and the client's address in connected_pair


def connected_pair(config=None, defer: bool = False):
    """A ServerProtocol and a ClientProtocol (at SADDR and CADDR) through their handshake in virtual time, with acks
    left to settle() when ``defer`` (as DatagramDriver does); their events taken. Returns (server, client, now)."""
    s, c = ServerProtocol(max_clients=4, config=config), ClientProtocol(SADDR, config=config, nonce=7)
    if defer:
        s.defer_acks()
        c.defer_acks()
    now = 0.0
    c.connect(now)
    while not c.connected:
        for d, _ in c.datagrams_to_send(now):
            s.receive_datagram(d, CADDR, now)
        s.update(now)
        for d, _ in s.datagrams_to_send(now):
            c.receive_datagram(d, SADDR, now)
        c.update(now)
        now += 0.001
    s.events(), c.events()
    return s, c, now
