"""GridAOI against the brute-force oracle, plus hand-checked hysteresis and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcode.aoi import AOIResult, GridAOI, ViewerSpec, brute_force_visible
from netcode.bench.aoi import bench_aoi

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def check(aoi: GridAOI, pos, present, prev: dict[int, np.ndarray]) -> tuple[AOIResult, dict[int, np.ndarray]]:
    """Update the grid, compare every viewer with the oracle, return (result, new previous sets)."""
    pos = np.asarray(pos, dtype=np.int32).reshape(-1, 2)
    present = np.asarray(present, dtype=bool)
    specs = aoi.viewer_specs()
    res = aoi.update(pos, present)
    want = brute_force_visible(pos, present, specs, prev)
    assert list(res.viewer_ids) == sorted(specs)
    for vid, (vis, ent, lft) in want.items():
        np.testing.assert_array_equal(res.visible(vid), vis, err_msg=f"visible, viewer {vid}")
        np.testing.assert_array_equal(res.entered(vid), ent, err_msg=f"entered, viewer {vid}")
        np.testing.assert_array_equal(res.left(vid), lft, err_msg=f"left, viewer {vid}")
    check_flat_layout(res)
    return res, {vid: v for vid, (v, _, _) in want.items()}


def check_flat_layout(res: AOIResult) -> None:
    """The flat arrays agree with the per-viewer accessors and are sorted by (viewer, entity)."""
    ids = res.viewer_ids
    for offs, viewer, entity, get in (
        (res.offsets, res.pairs_viewer, res.pairs_entity, res.visible),
        (res.entered_offsets, res.entered_viewer, res.entered_entity, res.entered),
        (res.left_offsets, res.left_viewer, res.left_entity, res.left),
    ):
        assert len(offs) == len(ids) + 1 and offs[0] == 0 and offs[-1] == len(entity) == len(viewer)
        np.testing.assert_array_equal(viewer, np.repeat(ids, np.diff(offs)))
        keys = viewer.astype(np.int64) * (1 << 32) + entity
        assert np.all(np.diff(keys) > 0)
        for i, vid in enumerate(ids.tolist()):
            np.testing.assert_array_equal(entity[offs[i] : offs[i + 1]], get(vid))


def random_positions(rng: np.random.Generator, n: int, world: int) -> np.ndarray:
    """Mostly on the map, some off it (including int32 extremes), some stacked on one point."""
    pos = rng.integers(0, world, size=(n, 2))
    kind = rng.random(n)
    off = kind < 0.05
    pos[off] = rng.integers(-3 * world, 4 * world, size=(int(off.sum()), 2))
    extreme = (kind >= 0.05) & (kind < 0.07)
    pos[extreme] = rng.choice([I32_MIN, I32_MIN + 1, -1, 0, world, I32_MAX - 1, I32_MAX], size=(int(extreme.sum()), 2))
    stacked = (kind >= 0.07) & (kind < 0.1)
    pos[stacked] = rng.integers(0, world, size=2)
    return pos.astype(np.int32)


def random_viewer(rng: np.random.Generator, world: int, n: int) -> tuple[int, int, int, int, int]:
    enter = int(rng.integers(0, world // 2))
    leave = enter + int(rng.integers(0, world // 4))
    if rng.random() < 0.2:
        leave = enter
    # Near or beyond the edges as often as inside.
    x, y = (int(v) for v in rng.integers(-world // 2, world + world // 2, size=2))
    if rng.random() < 0.2:
        x = int(rng.choice([0, world - 1, -leave, world + leave]))
    always = int(rng.integers(-1, n)) if n and rng.random() < 0.5 else -1
    return x, y, enter, leave, always


def boundary_entities(specs: dict[int, ViewerSpec], rng: np.random.Generator, k: int) -> np.ndarray:
    """Entities exactly on / one unit off each viewer's enter and leave circles."""
    out = []
    for v in specs.values():
        for r in (v.enter_radius, v.leave_radius):
            for dr in (-1, 0, 1):
                rr = max(r + dr, 0)
                # axis-aligned points are exact; so are 3-4-5 multiples when 5 | rr
                pts = [(rr, 0), (-rr, 0), (0, rr), (0, -rr)]
                if rr % 5 == 0:
                    q = rr // 5
                    pts += [(3 * q, 4 * q), (-4 * q, 3 * q), (-3 * q, -4 * q)]
                out += [(v.x + dx, v.y + dy) for dx, dy in pts]
    if not out:
        return np.empty((0, 2), dtype=np.int32)
    arr = np.clip(np.array(out, dtype=np.int64), I32_MIN, I32_MAX)
    return arr[rng.choice(len(arr), size=min(k, len(arr)), replace=False)].astype(np.int32)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n,n_view", [(0, 0), (0, 3), (1, 1), (1000, 0), (1000, 50), (5000, 1), (5000, 50)])
def test_matches_brute_force_over_updates(seed: int, n: int, n_view: int) -> None:
    rng = np.random.default_rng(1000 * seed + n + n_view)
    world = int(rng.choice([1000, 4096, 131072]))
    cell = int(rng.choice([1, 7, 64, 100, world // 8 + 1, 2 * world]))
    cell = max(cell, world // 1000)  # stay under the cell-count limit
    aoi = GridAOI(cell, (world, int(world * rng.choice([0.5, 1.0]))))
    for vid in rng.choice(1000, size=n_view, replace=False):
        aoi.set_viewer(int(vid), *random_viewer(rng, world, n))
    pos = random_positions(rng, n, world)
    present = rng.random(n) < 0.9
    prev: dict[int, np.ndarray] = {}
    for _step in range(5):
        # put some entities exactly on the circles of the current viewers
        b = boundary_entities(aoi.viewer_specs(), rng, n // 4)
        pos[: len(b)] = b
        _, prev = check(aoi, pos, present, prev)
        # move entities (small steps so hysteresis matters, plus a few teleports)
        step = rng.integers(-world // 40 - 1, world // 40 + 2, size=pos.shape)
        pos = np.clip(pos.astype(np.int64) + step, I32_MIN, I32_MAX).astype(np.int32)
        tele = rng.random(n) < 0.02
        pos[tele] = random_positions(rng, int(tele.sum()), world)
        present ^= rng.random(n) < 0.05
        # move, reconfigure, remove and add viewers
        ids = aoi.viewer_ids.tolist()
        for vid in ids:
            r = rng.random()
            if r < 0.1:
                aoi.remove_viewer(vid)
                prev.pop(vid, None)
            elif r < 0.8:
                x, y, e, l_, a = attrs_tuple(aoi, vid)
                aoi.set_viewer(vid, x + int(rng.integers(-world // 50 - 1, world // 50 + 2)), y, e, l_, a)
        if n_view and rng.random() < 0.5:
            aoi.set_viewer(int(rng.integers(1000, 2000)), *random_viewer(rng, world, n))


def attrs_tuple(aoi: GridAOI, vid: int) -> tuple[int, int, int, int, int]:
    v = aoi.viewer_specs()[vid]
    return v.x, v.y, v.enter_radius, v.leave_radius, v.always


def test_changing_entity_count() -> None:
    rng = np.random.default_rng(7)
    world = 10_000
    aoi = GridAOI(500, (world, world))
    for vid in range(10):
        aoi.set_viewer(vid, *random_viewer(rng, world, 0))
    prev: dict[int, np.ndarray] = {}
    for n in (100, 2000, 50, 0, 3000):  # 2000 and 3000 grow the state table
        _, prev = check(aoi, random_positions(rng, n, world), rng.random(n) < 0.9, prev)


def test_stamp_wraparound_over_many_updates() -> None:
    rng = np.random.default_rng(3)
    world = 2000
    aoi = GridAOI(128, (world, world))
    for vid in range(4):
        aoi.set_viewer(vid, *random_viewer(rng, world, 60))
    pos = random_positions(rng, 60, world)
    present = np.ones(60, dtype=bool)
    prev: dict[int, np.ndarray] = {}
    for t in range(600):
        _, prev = check(aoi, pos, present, prev)
        pos = np.clip(pos + rng.integers(-60, 61, size=pos.shape), -100, world + 100).astype(np.int32)
        if t % 97 == 0:
            present ^= rng.random(60) < 0.3


def test_reentering_after_long_absence() -> None:
    # The state table stores per-update stamps that cycle; an entity coming back
    # exactly one stamp cycle (or a multiple) later must still count as entered.
    gaps = [1, 2, 254, 255, 256, 509, 510, 511]
    aoi = GridAOI(32, (256, 256))
    aoi.set_viewer(0, 100, 100, 10, 20)
    n = len(gaps)
    present = np.ones(n, dtype=bool)
    for t in range(max(gaps) + 2):
        near = np.array([t == 0 or t == gap + 1 for gap in gaps])
        pos = np.where(near[:, None], [105, 100], [200, 200]).astype(np.int32)
        res = aoi.update(pos, present)
        assert res.entered(0).tolist() == np.flatnonzero(near).tolist(), t
        assert res.visible(0).tolist() == np.flatnonzero(near).tolist(), t


class Walker:
    """One viewer at the origin, one entity at (x, 0): hand-checked hysteresis."""

    def __init__(self) -> None:
        self.aoi = GridAOI(16, (1000, 1000))
        self.aoi.set_viewer(1, 500, 500, 100, 120)

    def step(self, x: int, present: bool = True) -> tuple[list[int], list[int], list[int]]:
        res = self.aoi.update(np.array([[500 + x, 500], [0, 0]], dtype=np.int32), np.array([present, False]))
        return res.visible(1).tolist(), res.entered(1).tolist(), res.left(1).tolist()


def test_hysteresis_oscillating_between_radii_stays_visible() -> None:
    w = Walker()
    assert w.step(130) == ([], [], [])
    assert w.step(110) == ([], [], [])  # between the circles but never entered
    assert w.step(100) == ([0], [0], [])  # exactly on the enter circle
    for x in (101, 120, 105, 119, 120, 99, 120):  # oscillate; 120 is exactly the leave radius
        assert w.step(x) == ([0], [], [])
    assert w.step(121) == ([], [], [0])
    assert w.step(121) == ([], [], [])
    assert w.step(110) == ([], [], [])  # re-entering the ring does not make it visible
    assert w.step(-100) == ([0], [0], [])
    assert w.step(-120) == ([0], [], [])
    assert w.step(-100, present=False) == ([], [], [0])
    assert w.step(-110) == ([], [], [])  # not visible last time, so the ring does not keep it


def test_hysteresis_diagonal_exact_boundary() -> None:
    # 3-4-5: (60, 80) is exactly 100 away, (72, 96) exactly 120.
    aoi = GridAOI(10, (1000, 1000))
    aoi.set_viewer(0, 500, 500, 100, 120)
    pts = [(560, 580), (572, 596), (573, 596), (560, 581)]
    present = np.array([True] * 4)
    res = aoi.update(np.array(pts, dtype=np.int32), present)
    assert res.visible(0).tolist() == [0]
    res = aoi.update(np.array([pts[1], pts[0], pts[2], pts[3]], dtype=np.int32), present)
    # entity 0 moved onto the leave circle: kept; entity 1 moved onto the enter circle: entered
    assert res.visible(0).tolist() == [0, 1] and res.entered(0).tolist() == [1] and res.left(0).tolist() == []


def test_always_entity() -> None:
    aoi = GridAOI(64, (1000, 1000))
    aoi.set_viewer(5, 0, 0, 10, 20, always=2)
    pos = np.array([[1, 1], [500, 500], [900, 900]], dtype=np.int32)
    present = np.array([True, True, False])
    res = aoi.update(pos, present)
    assert res.visible(5).tolist() == [0, 2]  # always visible even far away and not present
    assert res.entered(5).tolist() == [0, 2]
    aoi.set_viewer(5, 0, 0, 10, 20, always=1)
    res = aoi.update(pos, present)
    assert (res.visible(5).tolist(), res.entered(5).tolist(), res.left(5).tolist()) == ([0, 1], [1], [2])
    aoi.set_viewer(5, 0, 0, 10, 20, always=0)  # always entity that is also in range: listed once
    res = aoi.update(pos, present)
    assert (res.visible(5).tolist(), res.entered(5).tolist(), res.left(5).tolist()) == ([0], [], [1])
    aoi.set_viewer(5, 0, 0, 10, 20, always=3)
    with pytest.raises(ValueError):
        aoi.update(pos, present)


def test_viewer_removed_and_readded_starts_empty() -> None:
    aoi = GridAOI(100, (1000, 1000))
    pos = np.array([[10, 10], [20, 20], [900, 900]], dtype=np.int32)
    present = np.ones(3, dtype=bool)
    aoi.set_viewer(1, 0, 0, 50, 60)
    aoi.set_viewer(2, 900, 900, 5, 5)
    res = aoi.update(pos, present)
    assert res.entered(1).tolist() == [0, 1] and res.entered(2).tolist() == [2]
    aoi.remove_viewer(1)
    aoi.set_viewer(1, 0, 0, 50, 60)
    res = aoi.update(pos, present)
    assert res.entered(1).tolist() == [0, 1] and res.left(1).tolist() == []
    assert res.entered(2).tolist() == [] and res.visible(2).tolist() == [2]
    aoi.remove_viewer(1)
    res = aoi.update(pos, present)
    assert res.viewer_ids.tolist() == [2] and res.visible(2).tolist() == [2]
    with pytest.raises(KeyError):
        res.visible(1)
    with pytest.raises(KeyError):
        aoi.remove_viewer(1)


def test_set_viewers_bulk_matches_single() -> None:
    rng = np.random.default_rng(11)
    world = 5000
    pos = random_positions(rng, 800, world)
    present = rng.random(800) < 0.9
    a, b = GridAOI(256, (world, world)), GridAOI(256, (world, world))
    ids = rng.choice(100, size=20, replace=False)
    specs = [random_viewer(rng, world, 800) for _ in ids]
    for vid, s in zip(ids, specs):
        a.set_viewer(int(vid), *s)
    b.set_viewers(ids, *(np.array(col) for col in zip(*specs)))
    ra, rb = a.update(pos, present), b.update(pos, present)
    np.testing.assert_array_equal(ra.pairs_entity, rb.pairs_entity)
    np.testing.assert_array_equal(ra.pairs_viewer, rb.pairs_viewer)
    b.set_viewers(ids, 0, 0, 10, 20)  # scalars broadcast; existing viewers keep their state
    assert set(b.viewer_specs()) == set(ids.tolist()) and b.viewer_specs()[int(ids[0])] == ViewerSpec(0, 0, 10, 20)


def test_validation() -> None:
    with pytest.raises(ValueError):
        GridAOI(0, (100, 100))
    with pytest.raises(ValueError):
        GridAOI(1, (10**6, 10**6))  # too many cells
    aoi = GridAOI(10, (100, 100))
    for bad in [(-1, 0, 0, 1, 2), (0, 0, 0, 5, 4), (0, 0, 0, -1, 2), (0, 2**29 + 1, 0, 1, 2), (0, 0, 0, 1, 2**30)]:
        with pytest.raises(ValueError):
            aoi.set_viewer(*bad)
    with pytest.raises(ValueError):
        aoi.set_viewer(0, 0, 0, 1, 2, always=-2)
    with pytest.raises(ValueError):
        aoi.set_viewers([1, 1], 0, 0, 1, 2)
    with pytest.raises(ValueError):
        aoi.set_viewers([1, 2], 0, 0, 3, 2)
    with pytest.raises(ValueError):
        aoi.update(np.zeros((3, 2), dtype=np.int32), np.ones(2, dtype=bool))
    with pytest.raises(ValueError):
        aoi.update(np.zeros((3, 2), dtype=np.float64), np.ones(3, dtype=bool))
    with pytest.raises(ValueError):
        aoi.update(np.zeros((3, 2), dtype=np.int32), np.ones(3, dtype=np.int8))


def test_brute_force_oracle_by_hand() -> None:
    pos = np.array([[3, 4], [6, 8], [7, 8], [I32_MIN, I32_MAX], [0, 0]], dtype=np.int32)
    present = np.array([True, True, True, True, False])
    viewers = {0: ViewerSpec(0, 0, 5, 10), 1: ViewerSpec(-(2**29), 2**29, 0, 2**29, always=4)}
    out = brute_force_visible(pos, present, viewers, {0: np.array([1, 2])})
    assert [a.tolist() for a in out[0]] == [[0, 1], [0], [2]]
    assert [a.tolist() for a in out[1]] == [[4], [4], []]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cell=st.integers(1, 40),
    world=st.tuples(st.integers(1, 120), st.integers(1, 120)),
    viewers=st.lists(
        st.tuples(st.integers(-30, 150), st.integers(-30, 150), st.integers(0, 40), st.integers(0, 20), st.booleans()),
        max_size=5,
    ),
    frames=st.lists(
        st.lists(st.tuples(st.integers(-40, 160), st.integers(-40, 160), st.booleans()), min_size=12, max_size=12),
        min_size=1,
        max_size=4,
    ),
)
def test_property_small_worlds(cell, world, viewers, frames) -> None:
    # Small integer coordinates make exact-boundary distances common.
    aoi = GridAOI(cell, world)
    for vid, (x, y, e, extra, use_always) in enumerate(viewers):
        aoi.set_viewer(vid, x, y, e, e + extra, always=vid if use_always else -1)
    prev: dict[int, np.ndarray] = {}
    for frame in frames:
        pos = np.array([(x, y) for x, y, _ in frame], dtype=np.int32)
        present = np.array([p for _, _, p in frame])
        _, prev = check(aoi, pos, present, prev)


def test_bench_smoke() -> None:
    out = bench_aoi(n_entities=400, n_viewers=8, updates=4, seed=1)
    assert set(out) == {"aoi_ms_10k", "bruteforce_ms", "aoi_speedup_vs_bruteforce"}
    assert all(v > 0 for v in out.values())
