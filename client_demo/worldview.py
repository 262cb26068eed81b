"""A whole world as a `Scene`: for views that hold the entire game state (the lockstep client, the
replay viewer) rather than a server's snapshots. Generic: the game's entity view gives the rows, its
client view (client_demo/games) the HUD values and the effects. No pygame, no I/O."""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from netcode.interpolation import Frame

from .games.base import frame_rows
from .scene import Scene, top_rows


def fill_from_world(sc: Scene, view, world, follow: int | None, recent: Iterable[tuple[float, list]], rate: float,
                    name: Callable[[int], str], slots: Iterable[int], pos: np.ndarray | None = None) -> None:
    """Fill `sc` (its `now` set) from `world` seen as player `follow` (None: nobody): the field, everyone else as
    a "latest" frame, the effects and kill feed of `recent` = (time the step was shown, its events) on `sc.now`'s
    clock, and the scoreboard of the player `slots`. `pos`: where to draw the entities (default: the world's
    positions; a smoothed copy between two steps)."""
    game = view.game
    ids, values = frame_rows(game, world)
    cols = view.cols
    if pos is None:
        pos = values[:, cols]
    else:
        values = values.copy()
        values[:, cols] = pos
    sc.view = view
    sc.world_size = view.world_px
    seated = game.player_slots(world)
    me_here = follow is not None and follow < len(seated) and bool(seated[follow])
    if me_here:
        row = values[follow]
        sc.my_slot = follow
        sc.me = (float(pos[follow, 0]), float(pos[follow, 1]))
        sc.my_row = row
        sc.my_aim = view.aim_of(row)
        me = view.me(row)
        sc.my_alive, sc.my_hp, sc.max_hp, sc.bar_label = me.alive, me.hp, me.max_hp, me.label
        if not me.alive:
            sc.respawn_in = view.respawn_in(world, follow, rate)
        ids = ids[ids != follow]
    else:
        sc.my_alive = True
    sc.others = Frame(float(world.tick), "latest", ids, values[ids], pos[ids].astype(np.int64), (world.tick, 0),
                      world.tick, world.tick)
    tracers, markers, feed = view.world_effects(recent, sc.now, follow, pos, name)
    sc.tracers, sc.markers, sc.feed = tracers, markers, feed
    sc.score_columns = tuple(getattr(game, "score_columns", ()))
    sc.scoreboard = top_rows(view.world_scores(world, list(slots), name, follow))
