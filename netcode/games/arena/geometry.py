"""Static per-config data in sub-pixels: walls, radii, the near-wall grid and spawn points."""

from __future__ import annotations

import functools

import attrs
import numpy as np

from ...game import rng
from . import rolls
from .config import SimConfig
from ...game.fixed import SUBPX

KIND_PLAYER = 0
KIND_NPC = 1

# 64 px cells: coarse enough that the grid is tiny, fine enough that few open-floor entities
# land in a cell flagged as near a wall.
CELL_SHIFT = 10
SPAWN_SPACING = 32 * SUBPX


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@attrs.frozen(eq=False)
class Geometry:
    """Read-only arrays derived from a SimConfig; shared by every World of that config."""

    walls: np.ndarray        # int32 [W, 4] (x0, y0, x1, y1) sub-px
    radii: np.ndarray        # int32 [N] sub-px
    kind: np.ndarray         # uint8 [N]
    max_hp: np.ndarray       # int16 [N]
    pos_lo: np.ndarray       # int32 [N, 2]: arena bounds for each centre
    pos_hi: np.ndarray       # int32 [N, 2]
    near_wall: np.ndarray    # bool [GH, GW]: a centre in this cell may touch a wall
    spawn_points: np.ndarray  # int32 [K, 2] centres clear of every wall
    bounds: tuple[int, int]  # arena size in sub-px
    first_npc: int           # == max_players
    player_lo: int           # scalar centre bounds per kind, sub-px
    player_hi: tuple[int, int]
    npc_lo: int
    npc_hi: tuple[int, int]

    @property
    def near_wall_flat(self) -> np.ndarray:
        return self.near_wall.reshape(-1)


def walls_array(config: SimConfig) -> np.ndarray:
    """Interior walls as int32 ``[W, 4]`` sub-px rects (x0, y0, x1, y1); arena bounds are implicit."""
    return geometry(config).walls


def entity_radii(config: SimConfig) -> np.ndarray:
    """Collision/hit radius of every entity slot, int32 ``[N]`` sub-px."""
    return geometry(config).radii


def _near_wall_grid(walls: np.ndarray, bounds: tuple[int, int], margin: int) -> np.ndarray:
    gw = (bounds[0] >> CELL_SHIFT) + 1
    gh = (bounds[1] >> CELL_SHIFT) + 1
    grid = np.zeros((gh, gw), dtype=bool)
    for x0, y0, x1, y1 in walls.tolist():
        cx0, cx1 = max(x0 - margin, 0) >> CELL_SHIFT, min(x1 + margin, bounds[0]) >> CELL_SHIFT
        cy0, cy1 = max(y0 - margin, 0) >> CELL_SHIFT, min(y1 + margin, bounds[1]) >> CELL_SHIFT
        grid[cy0 : cy1 + 1, cx0 : cx1 + 1] = True
    return grid


def _spawn_points(walls: np.ndarray, bounds: tuple[int, int], margin: int) -> np.ndarray:
    xs = np.arange(SPAWN_SPACING // 2, bounds[0] - margin + 1, SPAWN_SPACING, dtype=np.int64)
    ys = np.arange(SPAWN_SPACING // 2, bounds[1] - margin + 1, SPAWN_SPACING, dtype=np.int64)
    xs, ys = xs[xs >= margin], ys[ys >= margin]
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    if len(walls):
        w = walls.astype(np.int64)
        inside = ((pts[:, None, 0] > w[None, :, 0] - margin) & (pts[:, None, 0] < w[None, :, 2] + margin)
                  & (pts[:, None, 1] > w[None, :, 1] - margin) & (pts[:, None, 1] < w[None, :, 3] + margin))
        pts = pts[~inside.any(axis=1)]
    if not len(pts):
        raise ValueError("SimConfig leaves no free spawn point")
    return pts.astype(np.int32)


@functools.lru_cache(maxsize=16)
def geometry(config: SimConfig) -> Geometry:
    """Build (once per config) the static arrays the step needs."""
    p, n = config.max_players, config.num_entities
    bounds = (config.width * SUBPX, config.height * SUBPX)
    walls = np.array(config.walls, dtype=np.int32).reshape(-1, 4) * SUBPX
    radii = np.full(n, config.npc_radius * SUBPX, dtype=np.int32)
    radii[:p] = config.player_radius * SUBPX
    kind = np.full(n, KIND_NPC, dtype=np.uint8)
    kind[:p] = KIND_PLAYER
    max_hp = np.full(n, config.npc_hp, dtype=np.int16)
    max_hp[:p] = config.player_hp
    pos_lo = np.repeat(radii[:, None], 2, axis=1)
    pos_hi = np.array(bounds, dtype=np.int32)[None, :] - pos_lo
    r_max = int(radii.max())
    # Spawn clearance is a radius plus a pixel, so a fresh spawn never starts touching a wall.
    spawn = _spawn_points(walls, bounds, r_max + SUBPX)
    near = _near_wall_grid(walls, bounds, r_max + 1)
    return Geometry(
        walls=_readonly(walls), radii=_readonly(radii), kind=_readonly(kind), max_hp=_readonly(max_hp),
        pos_lo=_readonly(pos_lo), pos_hi=_readonly(pos_hi), near_wall=_readonly(near),
        spawn_points=_readonly(spawn), bounds=bounds, first_npc=p,
        player_lo=config.player_radius * SUBPX,
        player_hi=(bounds[0] - config.player_radius * SUBPX, bounds[1] - config.player_radius * SUBPX),
        npc_lo=config.npc_radius * SUBPX,
        npc_hi=(bounds[0] - config.npc_radius * SUBPX, bounds[1] - config.npc_radius * SUBPX),
    )


def spawn_positions(config: SimConfig, seed: int, tick: int, indices, purpose: int = rolls.SPAWN) -> np.ndarray:
    """Deterministic spawn centres (int32 ``[E, 2]`` sub-px) for entity ``indices`` at ``tick`` of a match seeded ``seed``."""
    pts = geometry(config).spawn_points
    pick = rng.randint(seed, tick, indices, purpose, 0, len(pts))
    return pts[pick]
