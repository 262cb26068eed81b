"""Lockstep frame sync: the server relays every player's input per logic frame and never waits.

`server.LockstepServer` and `client.LockstepClient` are sans-IO endpoints over the transport;
`aio` runs them on sockets. Wire format and decisions: docs/LOCKSTEP.md.
"""
from .client import ClientConfig, LockstepClient
from .server import LockstepConfig, LockstepServer

__all__ = ["ClientConfig", "LockstepClient", "LockstepConfig", "LockstepServer"]
