"""Events the lockstep endpoints hand to the application (frozen, compared by value in tests)."""
from __future__ import annotations

import attrs


@attrs.frozen
class MatchStarted:
    match: int
    players: int
    start: float  # when frame 1 is scheduled


@attrs.frozen
class PlayerJoined:
    match: int
    client_id: int
    slot: int
    name: str
    frame: int  # the match's frame at the join (the player enters the world at frame + 1)


@attrs.frozen
class PlayerLeft:
    match: int
    client_id: int
    slot: int
    reason: str
    frame: int


@attrs.frozen
class Desync:
    """A checksum report disagreed: ``frame`` is the first checksum frame at which ``clients`` diverged.

    ``rule``: "server" (the server's own simulation is the reference), "majority" (relay mode) or
    "tie" (relay mode, no majority: every reporter is named, nobody can be blamed)."""

    match: int
    frame: int
    clients: tuple
    expected: int | None
    reports: dict = attrs.field(eq=False)
    rule: str


@attrs.frozen
class CatchUpChecked:
    """A late joiner / reconnected client's checksum handshake was judged."""

    match: int
    client_id: int
    frame: int
    ok: bool


@attrs.frozen
class MatchEnded:
    match: int
    result: dict = attrs.field(eq=False)


# client side

@attrs.frozen
class Welcomed:
    match: int
    slot: int
    frame: int  # the catch-up starts after this frame
    live_frame: int


@attrs.frozen
class Synced:
    """The server confirmed (ok) or refuted our state after a catch-up."""

    frame: int
    ok: bool


@attrs.frozen
class MatchOver:
    result: dict = attrs.field(eq=False)


@attrs.frozen
class ConnectionLost:
    """The connection ended or never started: ``reason`` in words, ``code`` the transport's DisconnectReason or
    ConnectError (None: the client left by itself)."""

    reason: str
    code: object = None
