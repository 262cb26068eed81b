"""How the demo client shows one game: the `GameView` (no pygame) and the controls it turns into inputs.

The client's sessions (state sync, lockstep) and the replay viewer are generic: they connect, predict,
interpolate, measure and build a `Scene`. What only a game knows — which keys make which input, what
its feed items say, which effects its events leave on screen, what the HUD shows — a `GameView` decides;
its painter (a module of its own, the only one of a game's that imports pygame) draws the world.
This base class is also the view of any game without one of its own: entities as dots, inputs mapped
by field names.
"""
from __future__ import annotations

import math

import attrs
import numpy as np

from netcode.game import Scored

from ..scene import FEED_TIME, MARKER_TIME, TRACER_TIME

_MOVE_X = ("move_x", "x", "dx", "steer")
_MOVE_Y = ("move_y", "y", "dy", "throttle_y")


@attrs.frozen
class Controls:
    """The player's controls this frame, game-neutral: a move vector in {-1, 0, 1}², the angle towards the mouse
    from our drawn position (0..4095, 0 = +x, clockwise on screen), and three buttons."""

    move_x: int = 0
    move_y: int = 0
    aim: int = 0
    fire: bool = False  # left mouse button
    alt: bool = False  # right mouse button / space
    sprint: bool = False  # shift


@attrs.frozen
class Me:
    """What the HUD shows about our own entity: alive or not, and one bar (health, stamina...)."""

    alive: bool = True
    hp: int = 0
    max_hp: int = 0  # 0: no bar
    label: str = "HP"


class GameView:
    """A game as the demo client shows it (see the module docstring). Subclass per game."""

    name = "generic"
    painter = "client_demo.games.paint:Painter"  # module:class of the pygame half

    def __init__(self, game, config):
        self.game = game
        self.config = config
        self.schema = game.inputs
        self.entities = game.entities
        self.units = game.entities.units_per_px
        self.cols = list(game.entities.position_columns)
        self.tracers: list = []
        self.markers: list = []

    # ------------------------------------------------------------------ geometry

    @property
    def world_px(self) -> tuple[int, int]:
        """The playing area in pixels (the camera stops at its edges)."""
        w, h = getattr(self.config, "width", None), getattr(self.config, "height", None)
        if isinstance(w, int) and isinstance(h, int):
            return (w, h)
        return (4096, 4096)

    @property
    def teleport_per_tick(self) -> int:
        """A move longer than this per tick is a jump (respawn): interpolation and smoothing show it at once."""
        return 4 * self.game.max_step(self.config)

    # ------------------------------------------------------------------ input

    def input(self, c: Controls) -> int:
        """The packed input record for these controls. Generic: fields found by name (move_x/move_y axes), the
        first angle field takes the aim, buttons in order take fire, alt and sprint."""
        values = []
        buttons = [c.fire, c.alt, c.sprint]
        for f in self.schema.fields:
            if f.name in _MOVE_X and f.lo <= -1:
                v = c.move_x
            elif f.name in _MOVE_Y and f.lo <= -1:
                v = c.move_y
            elif f.wrap:
                v = c.aim * (1 << f.bits) // 4096
            elif f.bits == 1 and buttons:
                v = int(buttons.pop(0))
            else:
                v = 0
            values.append(v)
        return self.schema.sanitize(values)

    # ------------------------------------------------------------------ HUD

    def me(self, row) -> Me:
        """Our own entity's HUD values from its snapshot row."""
        return Me()

    def aim_of(self, row) -> int:
        """Where our entity faces (0..4095) by its snapshot row, for the painter."""
        return 0

    def entity_name(self, entity: int, names: dict) -> str:
        if entity < self.config.max_players:
            return names.get(entity, f"player {entity}")
        return f"entity {entity}"

    def scoreboard(self, rows: list, columns: tuple, me: int) -> list:
        """Scoreboard rows (name, *values, is_me) from the server's [slot, name, *values] rows."""
        out = []
        for r in rows:
            try:
                out.append((str(r[1])[:24], *(int(v) for v in r[2:2 + len(columns)]), int(r[0]) == me))
            except (TypeError, ValueError, IndexError):
                continue  # the server's word, but still bytes off the wire: skip what doesn't parse
        return out

    def world_scores(self, world, slots, name, follow) -> list:
        """Scoreboard rows from a whole world (lockstep, replays)."""
        if not isinstance(self.game, Scored):
            return []
        slots = [s for s in slots if self.game.player_slots(world)[s]]
        return [(name(s), *map(int, row), s == follow) for s, row in zip(slots, self.game.scores(world, slots))]

    def hud_lines(self, frame, me: int) -> list[str]:
        """Extra HUD text (a match score, a charge meter)."""
        return []

    def respawn_in(self, world, slot: int, rate: float) -> float | None:
        """Seconds until our entity is back (whole-world views); None: not dead or not known."""
        return None

    def respawn_ticks(self) -> int | None:
        """Ticks from our death (a "kill" feed item) to our respawn, for views without the world; None: unknown."""
        return None

    # ------------------------------------------------------------------ events -> effects

    def feed_line(self, item: list, name) -> str | None:
        """The kill-feed line of one of the game's feed items ([kind, tick, ...]); None: not shown."""
        return " ".join(str(v) for v in [item[0], *item[2:]])

    def feed_summary(self, name) -> str | None:
        """One line summing up the feed items ``feed_line`` held back since the last call (None: nothing);
        the sessions ask every few seconds."""
        return None

    def on_feed(self, item: list, now: float, me: int, drawn_at) -> None:
        """A feed item arrived (state sync): leave effects on screen (``drawn_at(entity)`` is where it is drawn)."""

    def on_snapshot(self, tick: int, table, me: int) -> None:
        """Every snapshot (state sync): e.g. note who acted, to draw it when the render time gets there."""

    def on_predicted(self, events: list, now: float, seen, me: int, inputs: dict) -> dict[int, int]:
        """Our predicted events (state sync): immediate effects; returns {tick: entity our local test hit}.
        ``seen(tick)`` is the frame that was on screen when the input of ``tick`` (``inputs[tick]``) was made."""
        return {}

    def world_effects(self, recent, now: float, follow: int | None, pos, name) -> tuple[list, list, list]:
        """(tracers, markers, feed lines) of a whole world's recent steps (lockstep, replays): ``recent`` is
        (time the step was shown, its events), ``pos`` where each entity is drawn."""
        return [], [], []

    def effects(self, now: float, frame, me: int, own_predicted: bool) -> tuple[list, list]:
        """The tracers and markers still on screen at ``now`` (and those due by ``frame``'s render time)."""
        self.tracers = [t for t in self.tracers if now - t.born < TRACER_TIME]
        self.markers = [m for m in self.markers if now - m.born < MARKER_TIME]
        return list(self.tracers), list(self.markers)


def angle_of(dx: float, dy: float) -> int:
    """The angle (0..4095, 0 = +x, clockwise on screen) pointing along (dx, dy)."""
    return int(round(math.atan2(dy, dx) / (2 * math.pi) * 4096)) % 4096


def frame_rows(game, world):
    """The whole world as ids and snapshot rows (lockstep, replays): every present entity and every seated
    player (a dead one is drawn as such)."""
    view = game.entity_view(world)
    shown = np.asarray(view.present).copy()
    seated = game.player_slots(world)
    shown[:len(seated)] |= seated
    ids = np.flatnonzero(shown).astype(np.int64)
    return ids, view.values.astype(np.int64)


__all__ = ["Controls", "FEED_TIME", "GameView", "Me", "angle_of", "frame_rows"]
