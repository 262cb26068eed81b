"""Shared test helpers: an arena server built the way a test wants it, and the arena's input codec."""
from __future__ import annotations

from netcode.games.arena import GAME, INPUTS, SimConfig
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
