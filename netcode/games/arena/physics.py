"""Circle vs arena-bounds and circle vs axis-aligned wall collision, vectorised over entities."""

from __future__ import annotations

import numpy as np

from ...game.fixed import isqrt
from .geometry import CELL_SHIFT, Geometry

# Two walls meeting in a concave corner need two push-outs; more passes only
# matter for gaps narrower than a diameter, which the default map avoids.
MAX_PASSES = 4


def _ceil_div_away(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den rounded away from zero (den > 0), so a push-out never lands short."""
    mag = (np.abs(num) + den - 1) // den
    return np.where(num < 0, -mag, mag)


def push_out_of_walls(pos: np.ndarray, radii: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """Return int64 ``[M, 2]`` centres pushed out of every wall rect they overlap.

    Each pass pushes every entity out of its single deepest wall (lowest wall
    index on ties), so the outcome never depends on wall order beyond that rule.
    """
    p = pos.astype(np.int64)
    if not len(walls) or not len(p):
        return p
    w = walls.astype(np.int64)
    x0, y0, x1, y1 = (w[None, :, i] for i in range(4))
    r = radii.astype(np.int64)
    px, py, rc = p[:, 0:1], p[:, 1:2], r[:, None]
    # Cheap bounding-box reject first; afterwards only entities pushed in the previous pass
    # can overlap anything, so each pass works on a shrinking set of rows.
    todo = np.flatnonzero(((px > x0 - rc) & (px < x1 + rc) & (py > y0 - rc) & (py < y1 + rc)).any(axis=1))
    for _ in range(MAX_PASSES):
        if not len(todo):
            break
        px, py = p[todo, 0:1], p[todo, 1:2]
        # x - clamp(x, x0, x1) written with min/max: np.clip's Python overhead dominates tiny arrays.
        dx = np.maximum(px - x1, 0) - np.maximum(x0 - px, 0)
        dy = np.maximum(py - y1, 0) - np.maximum(y0 - py, 0)
        d2 = dx * dx + dy * dy
        overlap = d2 < (r[todo] * r[todo])[:, None]
        local = np.flatnonzero(overlap.any(axis=1))
        if not len(local):
            break
        rows = todo[local]
        todo = rows
        deepest = np.argmin(np.where(overlap[local], d2[local], np.iinfo(np.int64).max), axis=1)
        rr = r[rows]
        ddx, ddy, dd2 = dx[local, deepest], dy[local, deepest], d2[local, deepest]
        cx, cy = p[rows, 0], p[rows, 1]
        # Centre outside the rect: move along (centre - closest point) to distance r.  Against a
        # face that direction is axis-aligned and exact; only corners need a square root.
        length = np.abs(ddx) + np.abs(ddy)
        corner = (ddx != 0) & (ddy != 0)
        if corner.any():
            length[corner] = isqrt(dd2[corner])
        length = np.maximum(length, 1)
        nx = cx - ddx + _ceil_div_away(ddx * rr, length)
        ny = cy - ddy + _ceil_div_away(ddy * rr, length)
        # Centre on/inside the rect (only possible by teleport/spawn): leave by the nearest face.
        inside = dd2 == 0
        if inside.any():
            rx0, ry0, rx1, ry1 = (w[deepest, i] for i in range(4))
            face = np.argmin(np.stack([cx - rx0, rx1 - cx, cy - ry0, ry1 - cy], axis=1), axis=1)
            nx = np.where(inside, np.select([face == 0, face == 1], [rx0 - rr, rx1 + rr], cx), nx)
            ny = np.where(inside, np.select([face == 2, face == 3], [ry0 - rr, ry1 + rr], cy), ny)
        p[rows, 0] = nx
        p[rows, 1] = ny
    return p


def collide(pos: np.ndarray, moved: np.ndarray, geom: Geometry) -> None:
    """Clamp moved entities (bool mask over ``pos`` int32 [N, 2], edited in place) to the arena
    and push them out of walls.  Unmoved entities are untouched: they were already resolved."""
    p = geom.first_npc
    # NPC slots are always active and in bounds, so clamping the whole slice with scalars
    # changes only the moved ones; player slots need the mask (free slots sit at 0, 0).
    npcs = pos[p:]
    np.maximum(npcs, geom.npc_lo, out=npcs)
    np.minimum(npcs, geom.npc_hi, out=npcs)
    players = pos[:p]
    np.copyto(players, np.minimum(np.maximum(players, geom.player_lo), geom.player_hi), where=moved[:p, None])
    if not len(geom.walls):
        return
    cells = pos >> CELL_SHIFT
    near = geom.near_wall_flat.take(cells[:, 1] * geom.near_wall.shape[1] + cells[:, 0])
    idx = np.flatnonzero(near & moved)
    if not len(idx):
        return
    fixed = push_out_of_walls(pos[idx], geom.radii[idx], geom.walls)
    pos[idx] = np.minimum(np.maximum(fixed, geom.pos_lo[idx]), geom.pos_hi[idx])
