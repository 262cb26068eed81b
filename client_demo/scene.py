"""What the renderer draws, decided by a session: the `Scene` of one frame and the pieces in it.

Both client sessions (state sync: session.py, lockstep: lockstep_session.py) and the replay viewer
produce these; render.py draws them, with the game's painter (client_demo/games) for the world itself.
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
    """A shot's line in world units, fading after TRACER_TIME. `own`: ours; `predicted`: drawn before the server
    said so."""

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
    """One frame for the renderer: positions in world units; ``view`` (the game's GameView) knows the rest."""

    now: float
    status: str  # "connecting", "playing", "ended" (lockstep match over), "lost"
    message: str | None
    toggles: Toggles
    view: object = None  # client_demo.games GameView of the game on screen (None before the server named it)
    world_size: tuple[int, int] = (4096, 4096)  # px
    camera: tuple[float, float] = (0.0, 0.0)  # world-unit centre
    me: tuple[float, float] | None = None
    my_row: object = None  # our own entity's snapshot row (the game's fields), for the painter
    my_aim: int = 0  # the aim we hold (0..4095), drawn at once
    my_alive: bool = True
    my_hp: int = 0
    max_hp: int = 0  # 0: no health bar
    bar_label: str = "HP"  # what the bar measures (the game's: health, stamina...)
    respawn_in: float | None = None
    others: Frame | None = None  # interpolated everyone else (our own row removed)
    ghost: Frame | None = None  # the raw newest snapshot
    tracers: list = attrs.Factory(list)
    markers: list = attrs.Factory(list)
    feed: list = attrs.Factory(list)  # strings, newest last
    scoreboard: list = attrs.Factory(list)  # (name, *scores, is_me)
    score_columns: tuple = ()
    hud_lines: list = attrs.Factory(list)  # the game's own HUD text
    net_lines: list = attrs.Factory(list)
    net_bars: list = attrs.Factory(list)  # (size bytes, missing before it) per recent snapshot (or frame)
    bars_label: str = "snapshot bytes"  # what a net-graph bar measures; red marks = "missing"
    lag_label: str = ""
    my_slot: int = -1
    names: dict = attrs.Factory(dict)  # player slot -> name
    mode: str = "state"  # the server's mode: "state" (state sync) or "lockstep"
    status_lines: list = attrs.Factory(list)  # (text, warning) HUD lines under the mode line (lockstep status)
    notice: str | None = None  # a short-lived hint, e.g. a toggle that does not apply in this mode


def top_rows(board: list) -> list:
    """A scoreboard cut to eight rows: the top seven, and always ourselves (rows: name, *scores, is_me; sorted by
    the first score, then the others ascending)."""
    board = sorted(board, key=lambda r: (tuple(-v if i == 0 else v for i, v in enumerate(r[1:-1])), r[0]))
    if len(board) > 8:
        board = board[:7] + ([r for r in board[7:] if r[3]] or board[7:8])
    return board
