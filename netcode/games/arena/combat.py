"""Hitscan: integer ray vs circles with wall occlusion, and the default shot resolver.

Distances along a ray are in sub-px.  A ray with angle ``a`` from ``o`` visits
``o + direction(a) * s >> TRIG_SHIFT`` for ``s`` in ``[0, max_range]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from ...game.fixed import SUBPX, TRIG_SHIFT, direction, isqrt
from .geometry import geometry

if TYPE_CHECKING:
    from .world import World

NO_HIT = -1
_FAR = np.int64(1) << 62
_MAX_LEN = 1 << 24

ShotResolver = Callable[["World", np.ndarray, np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]
"""``resolver(world, shooters, origins, aims) -> (hit, dist)``.

``shooters`` int64 [S] entity indices (ascending), ``origins`` int64 [S, 2] sub-px,
``aims`` int64 [S] angles.  Returns ``hit`` int64 [S] (entity index or -1) and
``dist`` int64 [S]: sub-px along the ray to the hit, else to the wall/arena
edge/max range that stopped it.  Must be pure and deterministic; the server
swaps in one that casts against rewound positions.
"""


def _slab(o: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry/exit ray distances through the slab lo <= x <= hi along one axis (floor-divided)."""
    moving = d != 0
    safe = np.where(moving, d, 1)
    a = ((lo - o) << TRIG_SHIFT) // safe
    b = ((hi - o) << TRIG_SHIFT) // safe
    near = np.where(moving, np.minimum(a, b), np.where((o >= lo) & (o <= hi), -_FAR, _FAR))
    far = np.where(moving, np.maximum(a, b), np.where((o >= lo) & (o <= hi), _FAR, -_FAR))
    return near, far


def wall_distance(origins: np.ndarray, dirs: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """int64 [S]: distance to the first wall each ray enters (0 if it starts inside one, huge if none)."""
    if walls is None or not len(walls):
        return np.full(len(origins), _FAR, dtype=np.int64)
    w = np.asarray(walls, dtype=np.int64)
    o, d = origins[:, None, :], dirs[:, None, :]
    nx, fx = _slab(o[..., 0], d[..., 0], w[None, :, 0], w[None, :, 2])
    ny, fy = _slab(o[..., 1], d[..., 1], w[None, :, 1], w[None, :, 3])
    enter, leave = np.maximum(nx, ny), np.minimum(fx, fy)
    hit = (enter <= leave) & (leave >= 0)
    return np.where(hit, np.maximum(enter, 0), _FAR).min(axis=1)


def bounds_distance(origins: np.ndarray, dirs: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    _, fx = _slab(origins[:, 0], dirs[:, 0], np.int64(0), np.int64(bounds[0]))
    _, fy = _slab(origins[:, 1], dirs[:, 1], np.int64(0), np.int64(bounds[1]))
    return np.maximum(np.minimum(fx, fy), 0)


def cast_rays(origins, aims, max_range, centers, radii, candidate_mask=None, walls=None, *,
              exclude=None, bounds=None) -> tuple[np.ndarray, np.ndarray]:
    """Resolve S hitscan rays against N circles at once.

    origins int [S, 2] sub-px; aims int [S] angles; max_range int or int [S] sub-px;
    centers int [N, 2] sub-px; radii int [N] or scalar sub-px; candidate_mask bool [N]
    (None = all); walls int [W, 4] sub-px rects that occlude; exclude int [S] entity
    per ray to ignore (the shooter), -1 for none; bounds (width, height) sub-px stops
    rays at the arena edge.

    Returns (hit int64 [S], dist int64 [S]): the nearest circle whose entry point
    is within range and strictly before any wall (lowest index on ties), else -1
    and the distance at which the ray stopped.
    """
    o = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    s_count = len(o)
    d = direction(np.asarray(aims, dtype=np.int64).reshape(s_count))
    limit = np.broadcast_to(np.asarray(max_range, dtype=np.int64), (s_count,)).copy()
    # Range and radii below 2**24 keep every product in the narrow phase far below 2**63.
    if s_count and (int(limit.min()) < 0 or int(limit.max()) >= _MAX_LEN):
        raise ValueError("max_range must be in [0, 2**24) sub-px")
    if bounds is not None:
        limit = np.minimum(limit, bounds_distance(o, d, bounds))
    wall_d = wall_distance(o, d, walls)
    stop = np.minimum(limit, wall_d)
    hit = np.full(s_count, NO_HIT, dtype=np.int64)
    c = np.asarray(centers).reshape(-1, 2)
    n = len(c)
    if not s_count or not n:
        return hit, stop
    r = np.broadcast_to(np.asarray(radii, dtype=np.int64), (n,))
    r_max = int(r.max())
    if int(r.min()) < 0 or r_max >= _MAX_LEN:
        raise ValueError("radii must be in [0, 2**24) sub-px")

    # Broad phase: circles whose centre lies in the ray segment's bounding box grown by r_max.
    # int32 compares on contiguous columns plus a flat nonzero: by far the cheapest way through [S, N].
    end = o + ((d * stop[:, None]) >> TRIG_SHIFT)
    i32 = np.iinfo(np.int32)
    box_lo = np.clip(np.minimum(o, end) - r_max, i32.min, i32.max).astype(np.int32)
    box_hi = np.clip(np.maximum(o, end) + r_max, i32.min, i32.max).astype(np.int32)
    cx = np.ascontiguousarray(c[:, 0], dtype=np.int32)
    cy = np.ascontiguousarray(c[:, 1], dtype=np.int32)
    near = (cx >= box_lo[:, 0:1]) & (cx <= box_hi[:, 0:1])
    near &= cy >= box_lo[:, 1:2]
    near &= cy <= box_hi[:, 1:2]
    if candidate_mask is not None:
        near &= np.asarray(candidate_mask, dtype=bool)
    flat = np.flatnonzero(near)
    si, ni = flat // n, flat % n
    if exclude is not None:
        keep = ni != np.asarray(exclude, dtype=np.int64).reshape(s_count)[si]
        si, ni = si[keep], ni[keep]
    if not len(si):
        return hit, stop

    narrow_phase(o, d, limit, wall_d, si, ni, c[ni].astype(np.int64), r[ni], n, hit, stop)
    return hit, stop


def narrow_phase(o, d, limit, wall_d, si, ni, centres, radii, n: int, hit: np.ndarray, stop: np.ndarray) -> None:
    """THE ray-vs-circle test, shared by ``cast_rays`` and the rewound resolver (lagcomp.py): a divergence
    between the two would change who gets hit.

    For (ray ``si``, circle ``ni``) pairs with centres int64 ``[K, 2]`` and radii ``[K]`` (sub-px, below
    2**24): the entry distance along each ray; every ray takes its nearest valid circle (lowest index on
    ties) into ``hit`` and ``stop`` (edited in place). ``n`` bounds the circle indices.
    """
    # Narrow phase in int64: along-ray distance t and perpendicular offset of each centre,
    # both scaled back to sub-px (floor) so squares stay far below 2**63.
    rel = centres - o[si]
    ds = d[si]
    t = (rel[:, 0] * ds[:, 0] + rel[:, 1] * ds[:, 1]) >> TRIG_SHIFT
    perp = (rel[:, 0] * ds[:, 1] - rel[:, 1] * ds[:, 0]) >> TRIG_SHIFT
    rs = radii.astype(np.int64, copy=False)
    gap = rs * rs - perp * perp
    crosses = gap >= 0
    half = np.zeros_like(gap)
    half[crosses] = isqrt(gap[crosses])
    entry = np.maximum(t - half, 0)
    valid = crosses & (t + half >= 0) & (entry <= limit[si]) & (entry < wall_d[si])
    if not valid.any():
        return
    si, ni, entry = si[valid], ni[valid], entry[valid]
    # One int64 key orders by (distance, index), so a per-ray minimum picks nearest-then-lowest.
    best = np.full(len(o), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, si, entry * n + ni)
    found = best != np.iinfo(np.int64).max
    hit[found] = best[found] % n
    stop[found] = best[found] // n


def cast_ray(origin_xy, aim, max_range, centers, radii, candidate_mask=None, walls=None, *,
             exclude: int = NO_HIT, bounds=None) -> tuple[int, int]:
    """Single-ray form of ``cast_rays``: returns (hit index or -1, distance in sub-px)."""
    hit, dist = cast_rays([origin_xy], [aim], max_range, centers, radii, candidate_mask, walls,
                          exclude=[exclude], bounds=bounds)
    return int(hit[0]), int(dist[0])


def resolve_shots(world: World, shooters: np.ndarray, origins: np.ndarray, aims: np.ndarray):
    """Default ``ShotResolver``: cast against the world's current positions."""
    cfg = world.config
    geom = geometry(cfg)
    return cast_rays(origins, aims, cfg.weapon_range * SUBPX, world.pos, geom.radii,
                     world.alive & world.active, geom.walls, exclude=shooters, bounds=geom.bounds)

