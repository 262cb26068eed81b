"""The AOI benchmark: the grid against a numpy brute force on the same moving world (``netcode bench statesync``)."""
from __future__ import annotations

import time

import numpy as np

from ..aoi import GridAOI, brute_force_visible


def bench_aoi(n_entities: int = 10000, n_viewers: int = 128, updates: int = 50, seed: int = 0) -> dict:
    """Median ms per ``GridAOI.update`` vs ``brute_force_visible`` on a moving 8192x8192 px world.

    Entities random-walk (~7 px per update); each viewer follows its own player
    entity (``always``) with 600/660 px enter/leave radii.  Both sides produce
    visible/entered/left for every viewer; results are cross-checked.
    """
    subpx = 16
    world = 8192 * subpx
    enter, leave = 600 * subpx, 660 * subpx
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, world, size=(n_entities, 2)).astype(np.int32)
    present = rng.random(n_entities) < 0.95
    vids = np.arange(n_viewers, dtype=np.int64)
    players = rng.choice(n_entities, size=n_viewers, replace=False)

    aoi = GridAOI(leave // 4, (world, world))
    prev: dict[int, np.ndarray] = {}
    aoi_ts, bf_ts = [], []
    for i in range(updates):
        pos = np.clip(pos + rng.integers(-112, 113, size=pos.shape), 0, world - 1).astype(np.int32)
        t0 = time.perf_counter()
        pp = pos[players]
        aoi.set_viewers(vids, pp[:, 0], pp[:, 1], enter, leave, players)
        res = aoi.update(pos, present)
        t1 = time.perf_counter()
        aoi_ts.append(t1 - t0)
        if i < 3 or i % 5 == 0:
            specs = aoi.viewer_specs()
            t0 = time.perf_counter()
            bf = brute_force_visible(pos, present, specs, prev)
            bf_ts.append(time.perf_counter() - t0)
            for vid in range(n_viewers):
                v, e, l_ = bf[vid]
                if not (
                    np.array_equal(v, res.visible(vid))
                    and np.array_equal(e, res.entered(vid))
                    and np.array_equal(l_, res.left(vid))
                ):
                    raise AssertionError(f"grid AOI != brute force for viewer {vid} at update {i}")
        prev = {vid: res.visible(vid) for vid in range(n_viewers)}
    aoi_ms = float(np.median(aoi_ts) * 1e3)
    bf_ms = float(np.median(bf_ts) * 1e3)
    return {"aoi_ms_10k": aoi_ms, "bruteforce_ms": bf_ms, "aoi_speedup_vs_bruteforce": bf_ms / aoi_ms}
