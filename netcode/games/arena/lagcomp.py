"""The arena's lag-compensated shots: hitscan rays resolved against what the shooter saw.

``netcode.rewind`` keeps the hitbox history, checks each shooter's claimed view and rebuilds the
hitboxes near every ray exactly as the shooter's client interpolated them (``RewindFrame``); this
module casts the rays against them with the same narrow phase ``cast_rays`` uses, and reports the
outcome and the hitboxes near each ray for the audit.
"""
from __future__ import annotations

import numpy as np

from ...game.fixed import SUBPX, TRIG_SHIFT, direction
from ...rewind import NEAR_RADII
from .combat import NO_HIT, bounds_distance, cast_rays, narrow_phase, wall_distance
from .geometry import geometry, walls_array
from .inputs import INPUTS
from .view import F_FLAGS, F_X, F_Y, FLAG_ALIVE, FLAG_NPC


def hitboxes(world) -> tuple[np.ndarray, np.ndarray]:
    """What the server's history records after each step: every centre and who can be hit."""
    return world.pos, world.alive & world.active


def rewound_resolver(rewind):
    """A ShotResolver (combat.ShotResolver) that resolves each shot against its shooter's view in ``rewind``."""

    def resolve(world, shooters, origins, aims):
        return _resolve(world, shooters, origins, aims, rewind)

    return resolve


def _resolve(world, shooters, origins, aims, rewind):
    cur = int(world.tick)
    cfg = world.config
    geom = geometry(cfg)
    shooters = np.asarray(shooters, dtype=np.int64).reshape(-1)
    s_count = len(shooters)
    o = np.asarray(origins, dtype=np.int64).reshape(s_count, 2)
    aims = np.asarray(aims, dtype=np.int64).reshape(s_count)
    radii = geom.radii
    n = len(radii)
    max_range = cfg.weapon_range * SUBPX
    now = world.alive & world.active
    views = rewind.views(shooters, cur)
    rewound = np.fromiter((v.rewound for v in views), dtype=bool, count=s_count)
    # A shot at the present is the default resolver's cast, unless the server's sight limit holds it too: then it
    # goes through the candidates (the same narrow phase, with what lay beyond the shooter's sight not hittable).
    by_candidates = rewound | rewind.sight_at_present

    # Per-ray geometry exactly as cast_rays computes it.
    d = direction(aims)
    limit = np.full(s_count, max_range, dtype=np.int64)
    limit = np.minimum(limit, bounds_distance(o, d, geom.bounds))
    wall_d = wall_distance(o, d, geom.walls)
    stop = np.minimum(limit, wall_d)
    hit = np.full(s_count, -1, dtype=np.int64)
    dist = stop.copy()

    present = np.flatnonzero(~by_candidates)
    if len(present):
        # No rewind: literally the default resolver's cast for these rays.
        hit[present], dist[present] = cast_rays(o[present], aims[present], max_range, world.pos, radii, now,
                                                geom.walls, exclude=shooters[present], bounds=geom.bounds)

    # The hitboxes near each ray (to its range or the arena edge, walls ignored), as the shooter drew them.
    r_max = int(radii.max()) if n else 0
    margin = NEAR_RADII * r_max
    end_l = o + ((d * limit[:, None]) >> TRIG_SHIFT)
    # The segment ends inside the arena (limit includes the edge) and radii are <= 256 px: int32 holds these.
    box_lo = (np.minimum(o, end_l) - margin).astype(np.int32)
    box_hi = (np.maximum(o, end_l) + margin).astype(np.int32)
    si, ni, c, ok = rewind.candidates(views, shooters, box_lo, box_hi, world.pos, now, cur, origins=o)

    if by_candidates.any() and len(si):
        # cast_rays' broad filter (the stopped segment's box grown by the largest radius), then its narrow phase
        end = o + ((d * stop[:, None]) >> TRIG_SHIFT)
        lo = np.minimum(o, end) - r_max
        hi = np.maximum(o, end) + r_max
        sel = ok & by_candidates[si]
        sel &= (c[:, 0] >= lo[si, 0]) & (c[:, 0] <= hi[si, 0])
        sel &= (c[:, 1] >= lo[si, 1]) & (c[:, 1] <= hi[si, 1])
        if sel.any():
            narrow_phase(o, d, limit, wall_d, si[sel], ni[sel], c[sel], radii[ni[sel]], n, hit, dist)

    rewind.finish(cur, shooters, views, o, aims, max_range, hit, dist, _near(o, d, limit, radii, si, ni, c, ok))
    return hit, dist


def _near(o, d, limit, radii, si, ni, c, ok):
    """The candidates within NEAR_RADII radii of their ray segment, sorted by ray, distance, id (the audit)."""
    if not len(si):
        return None
    rel = c - o[si]
    ds = d[si]
    t = np.clip((rel[:, 0] * ds[:, 0] + rel[:, 1] * ds[:, 1]) >> TRIG_SHIFT, 0, limit[si])
    off = rel - ((ds * t[:, None]) >> TRIG_SHIFT)
    d2 = off[:, 0] * off[:, 0] + off[:, 1] * off[:, 1]
    r = radii[ni].astype(np.int64)
    keep = d2 <= (NEAR_RADII * r) ** 2
    si, ni, c, ok, d2, r = si[keep], ni[keep], c[keep], ok[keep], d2[keep], r[keep]
    order = np.lexsort((ni, d2, si))
    return si[order], ni[order], c[order], r[order], ok[order]


def local_shot(config, ids: np.ndarray, values: np.ndarray, actor: int, packed: int,
               origin: tuple[int, int] | None = None) -> tuple[int, tuple[int, int]]:
    """A client's own ray test against what it draws (``ids``, snapshot rows ``values``): (entity hit or -1,
    end point). The same narrow phase as the server's, against the positions the client interpolated."""
    aim = INPUTS.field(packed, "aim")
    ids = np.asarray(ids, dtype=np.int64)
    rows = np.flatnonzero(ids == actor)
    if origin is None:
        if not len(rows):
            return NO_HIT, (0, 0)
        origin = (int(values[rows[0], F_X]), int(values[rows[0], F_Y]))
    flags = values[:, F_FLAGS] if len(values) else np.zeros(0, np.int32)
    radii = np.where(flags & FLAG_NPC, config.npc_radius * SUBPX, config.player_radius * SUBPX).astype(np.int64)
    alive = (flags & FLAG_ALIVE) != 0
    exclude = int(rows[0]) if len(rows) else -1
    hit, dist = cast_rays([origin], [aim], config.weapon_range * SUBPX,
                          np.asarray(values[:, F_X:F_Y + 1], dtype=np.int64), radii, alive, walls_array(config),
                          exclude=[exclude], bounds=(config.width * SUBPX, config.height * SUBPX))
    dx, dy = direction(aim).tolist()
    d = int(dist[0])
    end = (origin[0] + ((dx * d) >> TRIG_SHIFT), origin[1] + ((dy * d) >> TRIG_SHIFT))
    return (int(ids[hit[0]]) if hit[0] >= 0 else NO_HIT), end
