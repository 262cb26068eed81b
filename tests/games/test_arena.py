"""Tests for netcode.games.arena: determinism, movement rules, combat, serialisation, NPCs."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netcode.games.arena import (
    ANGLE_FULL, SUBPX, TRIG_ONE, Hit, InputBatch, Kill, PlayerInput, Respawn, ShotFired, SimConfig, World,
    WorldFullError, add_player, cast_ray, cast_rays, checksum, direction, entity_radii, isqrt, remove_player,
    sanitize, step, walls_array,
)
from netcode.game.fixed import max_per_tick
from netcode.game.state import HEADER as _HEADER
from netcode.games.arena.world import STATE_FIELDS

ROOT = Path(__file__).resolve().parents[2]

# An input script both this process and a subprocess can regenerate from (tick, slot) alone.
SCRIPT = """
import numpy as np
from netcode.games.arena import SimConfig, World, InputBatch, add_player, step, checksum

def scripted_run(seed, ticks, npcs=300, players=8):
    cfg = SimConfig.arena(npc_count=npcs)
    w = World.new(cfg, seed)
    for _ in range(players):
        add_player(w)
    sums = []
    for t in range(ticks):
        b = InputBatch.empty(cfg)
        r = np.random.default_rng([seed, t])
        b.move[:players] = r.integers(-1, 2, (players, 2))
        b.aim[:players] = r.integers(0, 4096, players)
        b.buttons[:players] = r.integers(0, 2, players)
        step(w, b)
        sums.append(checksum(w))
    return w, sums
"""
namespace: dict = {}
exec(SCRIPT, namespace)
scripted_run = namespace["scripted_run"]


def open_config(**kw) -> SimConfig:
    return SimConfig.arena(walls=(), **kw)


def place(world: World, slot: int, x_px: int, y_px: int) -> None:
    world.pos[slot] = (x_px * SUBPX, y_px * SUBPX)


def hold(config: SimConfig, inputs: dict[int, PlayerInput]) -> InputBatch:
    return InputBatch.from_inputs(config, inputs)


def circle_rect_dist2(pos: np.ndarray, walls: np.ndarray) -> np.ndarray:
    """Squared distance from each centre to each wall rect, exact ints, [N, W]."""
    p = pos.astype(np.int64)[:, None, :]
    w = walls.astype(np.int64)[None]
    dx = p[..., 0] - np.clip(p[..., 0], w[..., 0], w[..., 2])
    dy = p[..., 1] - np.clip(p[..., 1], w[..., 1], w[..., 3])
    return dx * dx + dy * dy


# --- determinism -----------------------------------------------------------------------------


def test_same_seed_same_checksums_for_1000_ticks():
    _, a = scripted_run(7, 1000)
    _, b = scripted_run(7, 1000)
    assert a == b
    _, c = scripted_run(8, 1000)
    assert a[-1] != c[-1]


def test_checksum_matches_in_a_separate_process():
    _, sums = scripted_run(3, 200)
    code = SCRIPT + "\n_, sums = scripted_run(3, 200)\nprint(sums[-1])\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345"})
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == sums[-1]


def test_state_is_integer_only():
    w = World.new(SimConfig.arena(npc_count=10))
    for name, _, _ in STATE_FIELDS:
        assert getattr(w, name).dtype.kind in "iub", name
    assert w.pos.dtype == np.int32 and w.vel.dtype == np.int32 and w.aim.dtype == np.int16


# --- movement and collision ------------------------------------------------------------------


def test_players_never_enter_walls_or_leave_arena():
    cfg = SimConfig.arena()
    walls = walls_array(cfg)
    w = World.new(cfg, 5)
    slots = [add_player(w) for _ in range(32)]
    r = cfg.player_radius * SUBPX
    rng = np.random.default_rng(0)
    for t in range(600):
        b = InputBatch.empty(cfg)
        # Long runs of the same direction so players really press into walls and corners.
        if t % 40 == 0:
            dirs = rng.integers(-1, 2, (len(slots), 2))
        b.move[slots] = dirs
        step(w, b)
        pos = w.pos[slots]
        assert (pos >= r).all() and (pos[:, 0] <= cfg.width * SUBPX - r).all()
        assert (pos[:, 1] <= cfg.height * SUBPX - r).all()
        assert (circle_rect_dist2(pos, walls) >= r * r).all()


def test_cannot_walk_through_a_wall():
    cfg = SimConfig.arena(walls=((1000, 0, 1032, 4096),))
    w = World.new(cfg)
    s = add_player(w)
    place(w, s, 900, 2000)
    right = hold(cfg, {s: PlayerInput(1, 0)})
    for _ in range(300):
        step(w, right)
    assert w.pos[s, 0] == (1000 - cfg.player_radius) * SUBPX
    assert (w.vel[s] == 0).all()


def test_slides_into_concave_corner():
    cfg = SimConfig.arena(walls=((1000, 1000, 1400, 1048), (1000, 1000, 1048, 1400)))
    w = World.new(cfg)
    s = add_player(w)
    place(w, s, 1200, 1200)
    up_left = hold(cfg, {s: PlayerInput(-1, -1)})
    for _ in range(200):
        step(w, up_left)
    r = cfg.player_radius * SUBPX
    assert tuple(w.pos[s]) == (1048 * SUBPX + r, 1048 * SUBPX + r)


def test_diagonal_not_faster_than_straight():
    cfg = open_config()
    w = World.new(cfg)
    a, b = add_player(w), add_player(w)
    place(w, a, 1000, 1000)
    place(w, b, 2000, 1000)
    start = w.pos.astype(np.int64)
    batch = hold(cfg, {a: PlayerInput(1, 0), b: PlayerInput(1, 1)})
    for _ in range(cfg.tick_rate):
        step(w, batch)
    d = w.pos.astype(np.int64) - start
    straight2, diag2 = int(d[a] @ d[a]), int(d[b] @ d[b])
    assert straight2 == (cfg.player_speed * SUBPX) ** 2  # exact distance per second
    assert diag2 <= straight2
    assert diag2 >= straight2 * 0.98


def test_speed_hack_inputs_are_sanitised():
    assert sanitize(PlayerInput(1000, -7, -1, 0xFF)) == PlayerInput(1, -1, 4095, 1)
    with pytest.raises(ValueError):
        sanitize(PlayerInput(1.5, 0, 0, 0))
    cfg = open_config()
    w = World.new(cfg)
    s = add_player(w)
    place(w, s, 2000, 2000)
    # Raw arrays straight off the network with absurd values: step sanitises them itself.
    raw = np.empty((cfg.max_players, 4), dtype=np.int64)  # move_x, move_y, fire, aim
    raw[:, 0:2] = 10**6
    raw[:, 2] = 0xFE
    raw[:, 3] = 99999
    limit = max_per_tick(cfg.player_speed * SUBPX, cfg.tick_rate)
    for _ in range(30):
        events = step(w, raw)
        v = w.vel[s].astype(np.int64)
        assert int(v @ v) <= limit * limit
        assert not events  # bit 0 clear after masking: no shots
    assert 0 <= w.aim[s] < ANGLE_FULL
    clean = sanitize(InputBatch(raw))
    assert set(np.unique(clean.move)) == {1} and (clean.buttons == 0).all() and (clean.aim == 99999 % 4096).all()
    with pytest.raises(ValueError):
        sanitize(InputBatch(np.zeros((3, 2))))
    with pytest.raises(ValueError):
        step(w, np.zeros((3, 4), dtype=np.int64))  # not one row per player slot
    with pytest.raises(ValueError):
        step(w, np.zeros((cfg.max_players, 4)))  # floats


def test_dead_and_inactive_slots_do_not_move():
    cfg = open_config()
    w = World.new(cfg)
    batch = hold(cfg, {0: PlayerInput(1, 1, 100, 1)})
    step(w, batch)
    assert (w.pos[0] == 0).all() and not w.active[0]


# --- firing and combat -----------------------------------------------------------------------


def test_firing_respects_cooldown():
    cfg = open_config(fire_cooldown_ticks=7)
    w = World.new(cfg)
    s = add_player(w)
    fire = hold(cfg, {s: PlayerInput(0, 0, 0, 1)})
    ticks = [e.tick for _ in range(50) for e in step(w, fire) if isinstance(e, ShotFired)]
    assert ticks[0] == 1
    assert np.all(np.diff(ticks) == 7)
    assert len(ticks) == 8


def test_kill_and_respawn_cycle():
    cfg = open_config(weapon_damage=40, fire_cooldown_ticks=5, respawn_ticks=30)
    w = World.new(cfg)
    a, b = add_player(w), add_player(w)
    place(w, a, 1000, 1000)
    place(w, b, 1500, 1000)
    events = []
    batch = hold(cfg, {a: PlayerInput(0, 0, 0, 1)})  # aim 0 = +x, straight at b
    for _ in range(11):
        events += step(w, batch)
    hits = [e for e in events if isinstance(e, Hit)]
    kills = [e for e in events if isinstance(e, Kill)]
    assert [h.target for h in hits] == [b, b, b]
    assert kills == [Kill(11, a, b)]
    assert not w.alive[b] and w.hp[b] == 0
    assert w.score[a] == 1 and w.deaths[b] == 1 and w.score[b] == 0
    shot = [e for e in events if isinstance(e, ShotFired)][0]
    assert shot.hit == b and shot.end == ((1500 - cfg.player_radius) * SUBPX, 1000 * SUBPX)
    idle = InputBatch.empty(cfg)
    respawns = []
    for _ in range(cfg.respawn_ticks):
        assert not w.alive[b]
        respawns += [e for e in step(w, idle) if isinstance(e, Respawn)]
    assert respawns == [Respawn(11 + cfg.respawn_ticks, b)]
    assert w.alive[b] and w.hp[b] == cfg.player_hp


def test_simultaneous_shots_credit_one_kill_and_trade():
    cfg = open_config(weapon_damage=200)
    w = World.new(cfg)
    a, b, c = add_player(w), add_player(w), add_player(w)
    place(w, a, 1000, 1000)
    place(w, b, 1500, 1000)
    place(w, c, 1500, 1500)
    # a and c both shoot b; b shoots a.  All resolve against the same state.
    batch = hold(cfg, {a: PlayerInput(0, 0, 0, 1), b: PlayerInput(0, 0, 2048, 1), c: PlayerInput(0, 0, 3072, 1)})
    events = step(w, batch)
    kills = [e for e in events if isinstance(e, Kill)]
    assert kills == [Kill(1, a, b), Kill(1, b, a)]
    assert w.score.tolist()[:3] == [1, 1, 0]
    assert [e.hit for e in events if isinstance(e, ShotFired)] == [b, a, b]


def test_npcs_can_be_shot_and_respawn():
    cfg = open_config(npc_count=1, weapon_damage=100, respawn_ticks=5)
    w = World.new(cfg)
    s = add_player(w)
    npc = cfg.max_players
    place(w, s, 1000, 1000)
    place(w, npc, 1300, 1000)
    w.wander_dir[npc] = -1
    w.wander_timer[npc] = 1000
    events = step(w, hold(cfg, {s: PlayerInput(0, 0, 0, 1)}))
    assert Kill(1, s, npc) in events and w.score[s] == 1
    assert w.wander_dir[npc] == -1
    later = [e for _ in range(5) for e in step(w, InputBatch.empty(cfg))]
    assert later == [Respawn(6, npc)] and w.hp[npc] == cfg.npc_hp


def test_custom_shot_resolver_is_used():
    cfg = open_config()
    w = World.new(cfg)
    a, b = add_player(w), add_player(w)
    place(w, a, 100, 100)
    place(w, b, 3000, 3000)
    calls = []

    def rewound(world, shooters, origins, aims):
        calls.append(shooters.tolist())
        return np.array([b]), np.array([1234])

    events = step(w, hold(cfg, {a: PlayerInput(0, 0, 0, 1)}), shot_resolver=rewound)
    assert calls == [[a]]
    assert any(isinstance(e, Hit) and e.target == b for e in events)
    assert events[0].end == (100 * SUBPX + 1234, 100 * SUBPX)


# --- cast_ray --------------------------------------------------------------------------------


def test_cast_ray_nearest_hit_wins():
    centers = np.array([[5000, 0], [2000, 0], [3000, 0], [2000, 500]])
    hit, dist = cast_ray((0, 0), 0, 10000, centers, 100, None, None)
    assert hit == 1 and dist == 1900
    hit, _ = cast_ray((0, 0), 0, 10000, centers, 100, np.array([True, False, True, True]), None)
    assert hit == 2
    # Equal distance: lowest index wins.
    hit, _ = cast_ray((0, 0), 0, 10000, np.array([[3000, 50], [3000, -50]]), 100, None, None)
    assert hit == 0
    # The shooter itself is skipped via exclude; an origin inside a circle hits at 0.
    assert cast_ray((0, 0), 0, 10000, centers, 100, None, None, exclude=1)[0] == 2
    assert cast_ray((1990, 0), 0, 10000, centers, 100, None, None) == (1, 0)


def test_cast_ray_walls_occlude_and_range_limits():
    centers = np.array([[2000, 0]])
    wall = np.array([[1000, -200, 1100, 200]])
    assert cast_ray((0, 0), 0, 10000, centers, 100, None, wall) == (-1, 1000)
    assert cast_ray((0, 0), 2048, 10000, centers, 100, None, wall) == (-1, 10000)  # aiming away
    assert cast_ray((0, 0), 0, 1899, centers, 100, None, None) == (-1, 1899)      # out of range
    assert cast_ray((0, 0), 0, 1900, centers, 100, None, None) == (0, 1900)
    assert cast_ray((0, 0), 1024, 10000, centers, 100, None, None)[0] == -1          # perpendicular
    # Arena bounds stop the ray.
    assert cast_ray((0, 100), 2048, 10000, centers, 100, None, None, bounds=(5000, 5000)) == (-1, 0)


def test_cast_rays_batch_matches_single():
    rng = np.random.default_rng(4)
    centers = rng.integers(0, 20000, (300, 2))
    radii = rng.integers(50, 300, 300)
    walls = np.array([[8000, 8000, 9000, 12000], [3000, 15000, 12000, 15500]])
    origins = rng.integers(0, 20000, (40, 2))
    aims = rng.integers(0, ANGLE_FULL, 40)
    hits, dists = cast_rays(origins, aims, 15000, centers, radii, None, walls)
    for i in range(40):
        assert (hits[i], dists[i]) == cast_ray(origins[i], aims[i], 15000, centers, radii, None, walls)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, ANGLE_FULL - 1), st.lists(st.tuples(st.integers(-20000, 20000), st.integers(-20000, 20000)),
                                                min_size=1, max_size=20))
def test_cast_ray_agrees_with_real_geometry(aim, pts):
    r, rng_max = 300, 16000
    hit, dist = cast_ray((0, 0), aim, rng_max, np.array(pts), r, None, None)
    ang = aim * 2 * math.pi / ANGLE_FULL
    dx, dy = math.cos(ang), math.sin(ang)
    real = []  # (entry, |perp|, exit) per circle in exact real geometry
    for cx, cy in pts:
        t, perp = cx * dx + cy * dy, abs(cx * dy - cy * dx)
        half = math.sqrt(max(r * r - perp * perp, 0.0))
        real.append((max(t - half, 0.0), perp, t + half))
    # Integer rounding (table, floors, isqrt) is a few sub-px, amplified only for grazing rays.
    clear = [e for e, perp, x in real if perp <= r - 30 and x >= 10 and e <= rng_max - 10]
    if clear:
        assert hit >= 0 and dist <= min(clear) + 6
    if hit >= 0:
        entry, perp, exit_ = real[hit]
        assert perp <= r + 2 and exit_ >= -2 and dist <= rng_max
        assert entry >= dist - 40 if perp > r - 30 else abs(entry - dist) <= 6
    else:
        assert dist == rng_max


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**62))
def test_isqrt_exact(n):
    r = int(isqrt(np.array([n]))[0])
    assert r * r <= n < (r + 1) * (r + 1)


def test_trig_table():
    assert direction(0).tolist() == [TRIG_ONE, 0]
    assert direction(1024).tolist() == [0, TRIG_ONE]
    assert direction(2048).tolist() == [-TRIG_ONE, 0]
    assert direction(4096 + 512).tolist() == direction(512).tolist()


# --- serialisation ---------------------------------------------------------------------------


def test_to_bytes_round_trip_and_continue():
    w, _ = scripted_run(11, 120, npcs=200)
    data = w.to_bytes()
    restored = World.from_bytes(w.config, data)
    assert checksum(restored) == checksum(w) and restored.tick == w.tick
    copy = w.copy()
    for t in range(150):
        b = InputBatch.empty(w.config)
        r = np.random.default_rng(t)
        b.move[:8] = r.integers(-1, 2, (8, 2))
        b.aim[:8] = r.integers(0, 4096, 8)
        b.buttons[:8] = r.integers(0, 2, 8)
        step(w, b)
        step(restored, b.copy())
        step(copy, b.copy())
        assert checksum(w) == checksum(restored) == checksum(copy)


def test_from_bytes_rejects_malformed():
    cfg = SimConfig.arena(npc_count=20)
    w = World.new(cfg)
    add_player(w)
    data = w.to_bytes()
    for bad in (b"", data[:-1], data[:40], data + b"\0", b"\xff" * len(data), "text", None):
        with pytest.raises(ValueError):
            World.from_bytes(cfg, bad)
    flipped = bytearray(data)
    flipped[60] ^= 1
    with pytest.raises(ValueError):
        World.from_bytes(cfg, bytes(flipped))
    with pytest.raises(ValueError):
        World.from_bytes(SimConfig.arena(npc_count=20, weapon_damage=1), data)
    # Correct crc but impossible contents (aim of slot 0 out of range).
    body = bytearray(data[:-4])
    aim_off = _HEADER.size + 2 * (cfg.num_entities * 8)  # after pos and vel
    body[aim_off : aim_off + 2] = struct.pack("<h", 5000)
    with pytest.raises(ValueError, match="aim"):
        World.from_bytes(cfg, bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))


def test_copy_is_deep():
    w = World.new(SimConfig.arena(npc_count=5))
    c = w.copy()
    c.pos[:] = 1
    c.tick = 9
    assert not (w.pos == 1).all() and w.tick == 0


# --- config, players -------------------------------------------------------------------------


def test_config_dict_round_trip_and_validation():
    cfg = SimConfig.bench()
    assert World.new(cfg, 2**64 - 1).seed == 2**64 - 1
    with pytest.raises(ValueError):
        World.new(cfg, -1)
    d = cfg.to_dict()
    assert SimConfig.from_dict(d) == cfg
    assert SimConfig.from_dict(d).fingerprint() == cfg.fingerprint()
    assert all(isinstance(v, (int, list)) for v in d.values())
    for bad in ({"width": 1.5}, {"bogus": 1}, {"walls": [[1, 2, 3]]}, {"sim_version": 999},
                {"player_speed": 10_000}, {"seed": -1}, {"walls": [[10, 10, 5, 20]]}):
        with pytest.raises(ValueError):
            SimConfig.from_dict({**d, **bad})
    with pytest.raises(ValueError):
        SimConfig.from_dict([1, 2])
    assert walls_array(cfg).dtype == np.int32 and walls_array(cfg).shape[1] == 4
    assert entity_radii(cfg).shape == (cfg.num_entities,)


def test_player_slots():
    cfg = open_config(max_players=3)
    w = World.new(cfg)
    assert [add_player(w) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(WorldFullError):
        add_player(w)
    before = checksum(World.new(cfg))
    for s in range(3):
        remove_player(w, s)
    assert checksum(w) == before
    with pytest.raises(ValueError):
        remove_player(w, 1)
    assert add_player(w, slot=2) == 2
    with pytest.raises(ValueError):
        add_player(w, slot=2)
    with pytest.raises(ValueError):
        add_player(w, slot=3)


# --- NPCs ------------------------------------------------------------------------------------


def test_zero_npcs_works():
    cfg = SimConfig.arena(npc_count=0)
    w = World.new(cfg)
    add_player(w)
    for _ in range(10):
        step(w)
    assert w.num_entities == cfg.max_players


def test_ten_thousand_npcs_about_half_idle():
    cfg = SimConfig.bench()
    w = World.new(cfg)
    p = cfg.max_players
    r = cfg.npc_radius * SUBPX
    walls = walls_array(cfg)
    fractions = []
    for t in range(200):
        step(w)
        fractions.append(float((w.wander_dir[p:] < 0).mean()))
    assert 0.4 < min(fractions) and max(fractions) < 0.6
    idle = w.wander_dir[p:] < 0
    assert (w.vel[p:][idle] == 0).all()
    # Walkers pressing straight into a wall may stand still; everyone else moves.
    assert (w.vel[p:][~idle] != 0).any(axis=1).mean() > 0.95
    assert (circle_rect_dist2(w.pos[p:], walls) >= r * r).all()
    assert (w.pos[p:] >= r).all() and (w.pos[p:] <= cfg.width * SUBPX - r).all()
