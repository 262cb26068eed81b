"""What the renderer draws, decided by a session: the `Scene` of one frame and the pieces in it.

Both client sessions (state sync: session.py, lockstep: lockstep_session.py) and the replay viewer
produce these; render.py draws them.
"""
from __future__ import annotations

import attrs

from netcode.interpolation import Frame

TRACER_TIME = 0.15
MARKER_TIME = 0.45
FEED_TIME = 6.0


@attrs.define
class Toggles:
    """What the player switched on or off at runtime (keys P, R, I, G, N, H)."""

    prediction: bool = True
    reconciliation: bool = True
    interpolation: bool = True
    ghost: bool = False
    net_graph: bool = False
    help: bool = False


@attrs.define
class Tracer:
    """A shot's line, sub-px, fading after TRACER_TIME. `own`: ours; `predicted`: drawn before the server said so."""

    x0: float
    y0: float
    x1: float
    y1: float
    born: float
    own: bool = False
    predicted: bool = False


@attrs.define
class HitMarker:
    """A hit on someone: `confirmed` by the server (GameEvents "hit") or `predicted` by our local ray test."""

    x: float
    y: float
    born: float
    confirmed: bool
    damage: int = 0
    kill: bool = False
    target: int = -1


@attrs.define(eq=False)
class Scene:
    """One frame for the renderer: positions in sub-px world coordinates."""

    now: float
    status: str  # "connecting", "playing", "ended" (lockstep match over), "lost"
    message: str | None
    toggles: Toggles
    world_size: tuple[int, int] = (4096, 4096)  # px
    walls: tuple = ()
    camera: tuple[float, float] = (0.0, 0.0)  # sub-px centre
    me: tuple[float, float] | None = None
    my_aim: int = 0
    my_alive: bool = True
    my_hp: int = 0
    max_hp: int = 100
    respawn_in: float | None = None
    others: Frame | None = None  # interpolated everyone else (our own row removed)
    ghost: Frame | None = None  # the raw newest snapshot
    tracers: list = attrs.Factory(list)
    markers: list = attrs.Factory(list)
    feed: list = attrs.Factory(list)  # strings, newest last
    scoreboard: list = attrs.Factory(list)  # (name, kills, deaths, is_me)
    net_lines: list = attrs.Factory(list)
    net_bars: list = attrs.Factory(list)  # (size bytes, missing before it) per recent snapshot (or frame)
    bars_label: str = "snapshot bytes"  # what a net-graph bar measures; red marks = "missing"
    lag_label: str = ""
    player_radius: int = 12
    npc_radius: int = 10
    my_slot: int = -1
    names: dict = attrs.Factory(dict)  # player slot -> name
    mode: str = "state"  # the server's mode: "state" (state sync) or "lockstep"
    status_lines: list = attrs.Factory(list)  # (text, warning) HUD lines under the mode line (lockstep status)
    notice: str | None = None  # a short-lived hint, e.g. a toggle that does not apply in this mode


def top_rows(board: list) -> list:
    """A scoreboard cut to eight rows: the top seven, and always ourselves (rows: name, kills, deaths, is_me)."""
    board = sorted(board, key=lambda r: (-r[1], r[2], r[0]))
    if len(board) > 8:
        board = board[:7] + ([r for r in board[7:] if r[3]] or board[7:8])
    return board
