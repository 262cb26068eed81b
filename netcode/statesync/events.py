"""What a state-sync client hands its application."""
from __future__ import annotations

import attrs
import numpy as np

from ..wire.snapshot import EntityTable


@attrs.frozen(eq=False)
class Welcome:
    """The server accepted us: our player slot, reconnect token, rates, and the game with its rules
    (``game``: the loaded Game, ``config``: its config, ``spec``: how the server named it)."""

    client_id: int
    slot: int
    token: int
    tick: int
    tick_rate: int
    snapshot_every: int
    view_radius: int
    game: object
    config: object
    spec: str
    score_columns: tuple = ()


@attrs.frozen(eq=False)
class SnapshotReceived:
    """A decoded snapshot: what we now hold of the world at `tick`, and who entered/left our view."""

    tick: int
    table: EntityTable
    entered: np.ndarray
    left: np.ndarray
    input_tick: int  # newest of our inputs the server had applied at `tick`
    size: int
    # bool [len(table)] or None: rows whose values are not `tick`'s but an earlier snapshot's (the server's
    # bandwidth budget did not update them); interpolate through them, don't stop at them
    held: np.ndarray | None = None


@attrs.frozen
class LateSnapshot:
    """A snapshot older than the newest we hold (overtaken on the way): not our state any more, but the picture of
    `tick`, which an interpolation buffer still ahead of it can use."""

    tick: int
    table: EntityTable
    size: int
    held: np.ndarray | None = None


@attrs.frozen
class GameEvents:
    """Joins, leaves, chat and the game's feed (``EventFeed``): [kind, tick, ...] lists, oldest first."""

    events: list


@attrs.frozen
class Scoreboard:
    """[slot, name, *scores] for every player (the columns are the Welcome's ``score_columns``)."""

    rows: list


@attrs.frozen
class ConnectionLost:
    """The connection ended or never started; ``reason`` says why, in words for a user; ``code`` is the
    transport's DisconnectReason or ConnectError (None: the client left by itself, e.g. a game it can't play)."""

    reason: str
    code: object = None


@attrs.frozen
class ShotResult:
    """The server's verdict on one of our shots: the target hit (-1 = miss) and the rewind applied."""

    tick: int
    target: int
    rewind_ms: float
    status: str  # ok, clamped, future (claim rejected), off (no rewind)
