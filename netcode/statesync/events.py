"""What a state-sync client hands its application."""
from __future__ import annotations

import attrs
import numpy as np

from ..wire.snapshot import EntityTable


@attrs.frozen
class Welcome:
    """The server accepted us: our player slot, reconnect token, rates and the game's rules."""

    client_id: int
    slot: int
    token: int
    tick: int
    tick_rate: int
    snapshot_every: int
    view_radius: int
    sim: dict


@attrs.frozen(eq=False)
class SnapshotReceived:
    """A decoded snapshot: what we now hold of the world at `tick`, and who entered/left our view."""

    tick: int
    table: EntityTable
    entered: np.ndarray
    left: np.ndarray
    input_tick: int  # newest of our inputs the server had applied at `tick`
    size: int


@attrs.frozen
class GameEvents:
    """Kills, hits, respawns, joins, leaves, chat: [kind, tick, ...] lists, oldest first."""

    events: list


@attrs.frozen
class Scoreboard:
    """[slot, name, kills, deaths] for every player."""

    rows: list


@attrs.frozen
class ConnectionLost:
    """The connection ended or never started; `reason` says why, in words for a user."""

    reason: str


@attrs.frozen
class ShotResult:
    """The server's verdict on one of our shots: the target hit (-1 = miss) and the rewind applied."""

    tick: int
    target: int
    rewind_ms: float
    status: str  # ok, clamped, future (claim rejected), off (no rewind)
