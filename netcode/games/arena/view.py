"""What an arena snapshot says about each entity: x, y (sub-px), aim, hp and flag bits."""
from __future__ import annotations

import numpy as np

from ...game.entities import EntitySchema, EntityView
from ...game.fixed import SUBPX
from .geometry import KIND_NPC

ENTITIES = EntitySchema(("x", "y", "aim", "hp", "flags"), position=("x", "y"), units_per_px=SUBPX, view_radius=600)
F_X, F_Y, F_AIM, F_HP, F_FLAGS = range(5)

FLAG_ALIVE = 1
FLAG_NPC = 2
FLAG_FIRED = 4  # fired a shot this tick (clients draw a tracer along aim)


def entity_view(world) -> EntityView:
    """All entities' snapshot rows, computed once per tick and shared by every client."""
    w = world
    flags = (w.alive.astype(np.int32) * FLAG_ALIVE) | ((w.kind == KIND_NPC) * FLAG_NPC) | (w.fired * FLAG_FIRED)
    values = np.column_stack([w.pos[:, 0], w.pos[:, 1], w.aim.astype(np.int32), w.hp.astype(np.int32),
                              flags.astype(np.int32)]).astype(np.int32, copy=False)
    cfg = w.config
    return EntityView(values, w.pos, w.alive & w.active, (cfg.width * SUBPX, cfg.height * SUBPX))
