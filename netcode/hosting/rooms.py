"""A room's share of a host's transport: what a StateSyncServer or LockstepServer sees as its ``transport``.

The host owns one ServerProtocol (one UDP port) for every room; it hands each room the events of the
connections routed to it, and a room sends and flushes only its own connections. Sans-IO.
"""
from __future__ import annotations

import secrets

import attrs

from ..protocol.connection import earliest_timer

MODES = ("state", "lockstep")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: a code a player can read out


def new_room_id(taken=()) -> str:
    """A short match code (6 characters) not in ``taken``."""
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
        if code not in taken:
            return code


@attrs.frozen
class RoomSpec:
    """What a room runs: a game (name or package.module:attr), a mode, its seats, its rules."""

    game: str = "arena"
    mode: str = attrs.field(default="state", validator=attrs.validators.in_(MODES))
    players: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    options: dict = attrs.field(factory=dict, hash=False)

    def as_fields(self) -> dict:
        return {"game": self.game, "mode": self.mode, "players": self.players}


class RoomTransport:
    """The transport as one room sees it: its connections only; sends and disconnects go to the host's
    transport, events come from the host's router."""

    def __init__(self, shared):
        self.shared = shared
        self.connections: dict = {}  # client id -> Connection, for this room's clients
        self.dropped = shared.dropped  # datagrams are dropped before anyone knows their room
        self.config = shared.config
        self._events: list = []

    # what the host does
    def route(self, event, conn=None) -> None:
        self._events.append(event)
        if conn is not None:
            self.connections[event.client_id] = conn

    def forget(self, client_id: int) -> None:
        self.connections.pop(client_id, None)

    # what the room does
    def events(self) -> list:
        ev, self._events = self._events, []
        return ev

    def send(self, client_id: int, channel: int, data: bytes) -> None:
        self.shared.send(client_id, channel, data)

    def broadcast(self, channel: int, data: bytes) -> None:
        for cid in self.connections:
            self.shared.send(cid, channel, data)

    def disconnect(self, client_id: int) -> None:
        self.shared.disconnect(client_id)

    def update(self, now: float) -> None:
        """The host runs the shared transport's timers."""

    def datagrams_to_send(self, now: float) -> list:
        out: list = []
        for conn in self.connections.values():
            conn.datagrams(now, out)
        return out

    def get_timer(self) -> float | None:
        return earliest_timer(self.connections.values())
