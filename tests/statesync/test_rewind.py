"""Tests for netcode.rewind: hitbox history, claim limits, the rewinding resolver and its audit trail."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from netcode.games.arena import (BUTTON_FIRE, SUBPX, InputBatch, PlayerInput, ShotFired, SimConfig, World, add_player,
                                 aim_at, cast_rays, checksum, step)
from netcode.games.arena.geometry import geometry
from netcode.games.arena.lagcomp import hitboxes, rewound_resolver
from netcode.rewind import FRAC_ONE, NO_TICK, AppliedView, HitboxHistory, LagCompensator, RewindConfig, interpolate_positions
from netcode.statesync import messages

TR = 60
UP = 3072  # aim straight towards -y: direction(3072) == (0, -TRIG_ONE), so the ray is exactly vertical
TARGET, SHOOTER = 0, 1
STEP = 240 * SUBPX // TR  # the target's exact per-tick step (64 sub-px)


def moving_match(ticks=80, se=3, rewind=None, walls=(), radius=12, max_players=4):
    """Target (slot 0) walks +x at constant speed along y=1000 px; the shooter (slot 1) idles far away."""
    cfg = SimConfig.arena(walls=walls, max_players=max_players, player_radius=radius, tick_rate=TR)
    w = World.new(cfg)
    add_player(w, TARGET)
    add_player(w, SHOOTER)
    w.pos[TARGET] = (400 * SUBPX, 1000 * SUBPX)
    w.pos[SHOOTER] = (2000 * SUBPX, 3000 * SUBPX)
    comp = LagCompensator(rewind or RewindConfig(), TR, se, w.num_entities)
    stored = {}
    for _ in range(ticks):
        step(w, walk(cfg))
        comp.record(w.tick, *hitboxes(w))
        stored[w.tick] = w.pos.copy()
    return cfg, w, comp, stored


def walk(cfg, fire_aim=None, shooter=SHOOTER):
    inputs = {TARGET: PlayerInput(1, 0, 0, 0)}
    if fire_aim is not None:
        inputs[shooter] = PlayerInput(0, 0, fire_aim, BUTTON_FIRE)
    return InputBatch.from_inputs(cfg, inputs)


def below(w, xy, dy_px=300, shooter=SHOOTER):
    """Put the shooter straight below ``xy`` so an UP shot passes exactly through x = xy[0]."""
    w.pos[shooter] = (int(xy[0]), int(xy[1]) + dy_px * SUBPX)


def shoot(cfg, w, resolver=None, aim=UP, shooter=SHOOTER) -> ShotFired:
    events = step(w, walk(cfg, aim, shooter), resolver)
    shots = [e for e in events if isinstance(e, ShotFired)]
    assert len(shots) == 1
    return shots[0]


def view_at(cur, ticks_back, se, frac_of_span):
    """A snapshot-grid claim ``ticks_back`` ticks (rounded down to the grid) behind ``cur``."""
    vt = (cur - ticks_back) // se * se
    return vt, int(frac_of_span * FRAC_ONE)


# --- interpolation and history ---------------------------------------------------------------


def test_constants_match_the_wire():
    assert FRAC_ONE == messages.FRAC_ONE and NO_TICK == messages.NO_TICK


def test_interpolate_positions_is_floor_int64():
    p0 = np.array([[0, 0], [100, -100], [7, 7]], dtype=np.int32)
    p1 = np.array([[10, -10], [-100, 100], [7, 8]], dtype=np.int32)
    for f in (0, 1, 6553, 32768, 65535, FRAC_ONE):
        out = interpolate_positions(p0, p1, f)
        assert out.dtype == np.int64
        expect = [[a + ((b - a) * f) // FRAC_ONE for a, b in zip(r0, r1)] for r0, r1 in zip(p0.tolist(), p1.tolist())]
        assert out.tolist() == expect
    assert interpolate_positions(p0, p1, 0).tolist() == p0.tolist()
    assert interpolate_positions(p0, p1, FRAC_ONE).tolist() == p1.tolist()
    # floor, not truncation: -10 * 0.5 ** 16 floors to -1
    assert interpolate_positions([[0, 0]], [[-10, 10]], 1).tolist() == [[-1, 0]]
    # one fraction per row
    assert interpolate_positions(p0, p1, [0, FRAC_ONE, 32768]).tolist() == [[0, 0], [-100, 100], [7, 7]]
    with pytest.raises(ValueError):
        interpolate_positions(p0, p1, FRAC_ONE + 1)


def test_history_wraps_and_matches_stored_copies():
    rng = np.random.default_rng(1)
    h = HitboxHistory(7, 5)
    assert h.oldest_tick is None and not h.has(0)
    stored = {}
    for t in range(21):  # 3x the window
        pos = rng.integers(0, 1 << 20, (5, 2)).astype(np.int32)
        alive = rng.integers(0, 2, 5).astype(bool)
        h.record(t, pos, alive)
        stored[t] = (pos.copy(), alive.copy())
    assert (h.oldest_tick, h.newest_tick, len(h)) == (14, 20, 7)
    assert not h.has(13) and h.has(14) and h.has(20) and not h.has(21)
    for t in (14, 17, 20):
        pos, alive = h.positions_at(t)
        assert pos.dtype == np.int64 and pos.tolist() == stored[t][0].tolist()
        assert alive.tolist() == stored[t][1].tolist()
    for f in (1, 30000, 65535):
        pos, alive = h.positions_at(15, f, 3)
        assert pos.tolist() == interpolate_positions(stored[15][0], stored[18][0], f).tolist()
        assert alive.tolist() == stored[15][1].tolist()  # alive at the "from" tick
    with pytest.raises(KeyError):
        h.positions_at(13)
    with pytest.raises(KeyError):
        h.positions_at(19, 1, 3)  # the "to" tick 22 isn't recorded
    with pytest.raises(ValueError):
        h.record(19, stored[19][0], stored[19][1])  # append-only
    # re-recording the newest tick overwrites it
    h.record(20, stored[14][0], stored[14][1])
    assert h.positions_at(20)[0].tolist() == stored[14][0].tolist()
    # growth: old ticks keep their entities, new ones were never alive
    h.resize(8)
    pos, alive = h.positions_at(17)
    assert pos[:5].tolist() == stored[17][0].tolist() and pos[5:].tolist() == [[0, 0]] * 3 and not alive[5:].any()
    # a gap restarts the history
    h.record(25, np.zeros((8, 2), np.int32), np.ones(8, bool))
    assert (h.oldest_tick, h.newest_tick) == (25, 25) and not h.has(20)


def test_compensator_history_over_three_windows():
    cfg, w, comp, stored = moving_match(ticks=3 * 64)
    h = comp.history
    assert h.window_ticks == TR + 3 + 1 and h.newest_tick == w.tick
    assert h.oldest_tick == w.tick - h.window_ticks + 1
    for t in (h.oldest_tick, h.oldest_tick + 1, h.newest_tick):
        assert h.positions_at(t)[0].tolist() == stored[t].tolist()


def test_config_limits():
    with pytest.raises(ValueError):
        RewindConfig(window=1.01)
    with pytest.raises(ValueError):
        RewindConfig(window=0)
    with pytest.raises(ValueError):
        RewindConfig(tolerance=-0.1)
    assert RewindConfig().window == 1.0 and RewindConfig().max_interp == 0.25


# --- rewinding shots -------------------------------------------------------------------------


def test_rewind_hits_what_a_200ms_client_rendered_and_present_misses():
    se = 3
    cfg, w, comp, stored = moving_match(se=se)
    cur = w.tick + 1
    vt, vf = view_at(cur, 18, se, 0.5)  # 200 ms RTT + 100 ms of interpolation
    view = comp.apply_limits(SHOOTER, vt, vf, 0.2, cur)
    assert (view.tick, view.frac, view.span, view.status) == (vt, vf, se, "ok")
    assert view.rewind_ticks == cur - vt - 1.5
    rendered = interpolate_positions(stored[vt], stored[vt + se], vf)[TARGET]
    assert comp.history.positions_at(vt, vf, se)[0][TARGET].tolist() == rendered.tolist()
    below(w, rendered)
    present = w.copy()

    shot = shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view})))
    assert shot.hit == TARGET
    assert w.hp[TARGET] == cfg.player_hp - cfg.weapon_damage
    # without rewind the target has walked on by far more than its radius
    assert (cur - view.time_q / FRAC_ONE) * STEP > cfg.player_radius * SUBPX * 4
    assert shoot(cfg, present).hit == -1
    c = comp.counters[SHOOTER]
    assert (c.shots, c.rewound, c.clamped, c.rejected_future) == (1, 1, 0, 0)


def test_fractional_view_hits_exactly_as_rendered():
    se, radius = 6, 5  # 24 px between snapshots, 5 px radius: the target crosses the ray mid-interval
    cfg, w, comp, stored = moving_match(se=se, radius=radius)
    cur = w.tick + 1
    vt = (cur - 12) // se * se
    p0, p1 = stored[vt][TARGET], stored[vt + se][TARGET]
    assert p1[0] - p0[0] == se * STEP
    ray_x = int(p0[0]) + se * STEP // 2
    r = radius * SUBPX
    fracs = np.arange(FRAC_ONE)
    xs = interpolate_positions(np.repeat(p0[None], FRAC_ONE, 0), np.repeat(p1[None], FRAC_ONE, 0), fracs)[:, 0]
    on = np.flatnonzero(np.abs(xs - ray_x) <= r)  # an axis-aligned ray touches iff |dx| <= r, exactly
    first, last = int(on[0]), int(on[-1])
    assert 0 < first < 32768 < last < FRAC_ONE - 1
    for frac, expect in ((0, -1), (first - 1, -1), (first, TARGET), (32768, TARGET), (last, TARGET),
                         (last + 1, -1), (FRAC_ONE - 1, -1)):
        ww = w.copy()
        view = comp.apply_limits(SHOOTER, vt, frac, 0.1, cur)
        assert view.status == "ok"
        rendered = comp.history.positions_at(vt, frac, se)[0][TARGET]
        assert rendered.tolist() == interpolate_positions(p0, p1, frac).tolist()
        below(ww, (ray_x, int(p0[1])))
        assert shoot(cfg, ww, rewound_resolver(comp.frame({SHOOTER: view}))).hit == expect, frac
        audit = comp.audit[-1]
        assert audit.hit == expect and audit.applied == view
        assert [e[1:3] for e in audit.near if e[0] == TARGET] == [tuple(rendered.tolist())]


def test_claim_beyond_the_window_is_clamped_and_resolved_there():
    se = 3
    cfg, w, comp, stored = moving_match(se=se, rewind=RewindConfig(window=0.5))
    cur = w.tick + 1
    vt, vf = view_at(cur, 45, se, 0)
    view = comp.apply_limits(SHOOTER, vt, vf, 5.0, cur)  # a huge RTT: the window is the limit
    assert (view.status, view.tick, view.frac, view.span, view.rewind_ticks) == ("clamped", cur - 30, 0, 1, 30.0)
    assert view.claimed == (vt, vf)
    ww = w.copy()
    below(w, stored[cur - 30][TARGET])
    assert shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view}))).hit == TARGET
    below(ww, stored[vt][TARGET])  # where the client claims it saw the target: too old, no hit
    assert shoot(cfg, ww, rewound_resolver(comp.frame({SHOOTER: view}))).hit == -1
    c = comp.counters[SHOOTER]
    assert (c.shots, c.rewound, c.clamped, c.rejected_future) == (2, 2, 2, 0)
    assert comp.audit[-1].rewind_ms == pytest.approx(500.0)


def test_claim_older_than_rtt_allows_is_clamped():
    se = 3
    cfg, w, comp, stored = moving_match(se=se)
    cur = w.tick + 1
    vt, vf = view_at(cur, 30, se, 0)
    view = comp.apply_limits(SHOOTER, vt, vf, 0.05, cur)  # allows 0.05 + 0.25 + 0.05 s = 21 ticks
    assert (view.status, view.tick, view.frac, view.span) == ("clamped", cur - 21, 0, 1)
    # a fractional limit stays exact in Q16 ticks, never older than allowed
    odd = comp.apply_limits(SHOOTER, vt, vf, 0.055, cur)
    assert odd.status == "clamped" and odd.time_q == cur * FRAC_ONE - round(0.355 * TR * FRAC_ONE)
    assert odd.span == 1 and odd.tick == cur - 22 and 0 < odd.frac < FRAC_ONE
    # the same claim with a larger RTT is within limits
    assert comp.apply_limits(SHOOTER, vt, vf, 0.2, cur).status == "ok"
    ww = w.copy()
    below(w, stored[cur - 21][TARGET])
    assert shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view}))).hit == TARGET
    below(ww, stored[vt][TARGET])
    assert shoot(cfg, ww, rewound_resolver(comp.frame({SHOOTER: view}))).hit == -1
    # the odd view renders between consecutive recorded ticks
    pos = comp.history.positions_at(odd.tick, odd.frac, 1)[0][TARGET]
    assert pos.tolist() == interpolate_positions(stored[cur - 22], stored[cur - 21], odd.frac)[TARGET].tolist()
    assert comp.counters[SHOOTER].clamped == 2


def test_future_claim_is_rejected_and_resolved_at_the_present():
    se = 3
    cfg, w, comp, stored = moving_match(se=se)
    cur = w.tick + 1
    for vt, vf in ((cur + 3, 0), (cur, 1), (cur - 1, 100)):  # the last needs snapshot cur + 2
        view = comp.apply_limits(SHOOTER, vt, vf, 0.1, cur)
        assert (view.status, view.tick, view.frac, view.rewind_ticks) == ("future", cur, 0, 0.0)
    probe = w.copy()
    step(probe, walk(cfg))
    now_xy = probe.pos[TARGET]  # where the target stands after this tick's move
    below(w, now_xy)
    default = w.copy()
    shot = shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view})))
    assert shot.hit == TARGET and shot == shoot(cfg, default)
    c = comp.counters[SHOOTER]
    assert (c.shots, c.rewound, c.rejected_future) == (1, 0, 1)
    assert comp.audit[-1].applied.status == "future"


def test_present_claim_and_off_statuses():
    se = 3
    cfg, w, comp, _ = moving_match(se=se, ticks=10)
    cur = w.tick + 1
    assert comp.apply_limits(SHOOTER, cur, 0, 0.1, cur).status == "ok"  # zero rewind
    assert comp.apply_limits(SHOOTER, NO_TICK, 0, 0.1, cur).status == "off"
    assert comp.apply_limits(SHOOTER, None, 0, 0.1, cur).status == "off"
    early = comp.apply_limits(SHOOTER, 0, 0, 1.0, cur)  # before the first recorded tick
    assert early.status == "clamped" and early.tick == comp.history.oldest_tick
    with pytest.raises(ValueError):
        comp.apply_limits(SHOOTER, cur - 3, FRAC_ONE, 0.1, cur)
    with pytest.raises(ValueError):
        comp.apply_limits(SHOOTER, cur - 3, 0, 0.1, cur - 1)  # current_tick is the tick being simulated
    stale = comp.apply_limits(SHOOTER, cur - 3, 0, 0.1, cur + 1)  # record() was skipped
    assert stale.status == "off"
    off = LagCompensator(RewindConfig(enabled=False), TR, se, w.num_entities)
    assert off.apply_limits(SHOOTER, cur - 3, 0, 0.1, cur).status == "off"
    # a view applied for another tick is a programming error
    view = comp.apply_limits(SHOOTER, cur - 3, 0, 0.1, cur)
    step(w, walk(cfg))
    comp.record(w.tick, *hitboxes(w))
    with pytest.raises(ValueError):
        shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view})))


def test_walls_block_rewound_shots():
    se = 3
    # a bar between the shooter (300 px below the target's path) and the path itself
    cfg, w, comp, stored = moving_match(se=se, walls=((200, 1100, 1200, 1120),))
    cur = w.tick + 1
    vt, vf = view_at(cur, 18, se, 0.5)
    view = comp.apply_limits(SHOOTER, vt, vf, 0.2, cur)
    rendered = comp.history.positions_at(vt, vf, se)[0][TARGET]
    below(w, rendered)
    shot = shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view})))
    assert shot.hit == -1
    audit = comp.audit[-1]
    assert audit.dist == (1300 - 1120) * SUBPX  # stopped at the wall's near face
    assert shot.end[1] == 1120 * SUBPX
    near = {e[0]: e for e in audit.near}
    assert near[TARGET][1:] == (int(rendered[0]), int(rendered[1]), 12 * SUBPX, True)  # it was there, behind a wall


def test_target_dead_or_respawned_since_the_view_cannot_be_hit():
    se = 3
    cfg, w, comp, stored = moving_match(se=se)
    cur = w.tick + 1
    vt, vf = view_at(cur, 18, se, 0.5)
    rendered = comp.history.positions_at(vt, vf, se)[0][TARGET]

    dead = w.copy()
    dead.alive[TARGET] = False
    dead.hp[TARGET] = 0
    dead.respawn[TARGET] = 50
    below(dead, rendered)
    shot = shoot(cfg, dead, rewound_resolver(comp.frame({SHOOTER: comp.apply_limits(SHOOTER, vt, vf, 0.2, cur)})))
    assert shot.hit == -1
    assert [e[4] for e in comp.audit[-1].near if e[0] == TARGET] == [False]  # drawn, not hittable

    # died after the view and respawned since: alive then and now, but a different life
    cfg2, w2, comp2, stored2 = moving_match(se=se, ticks=60)
    vt2 = (w2.tick - 6) // se * se
    w2.alive[TARGET], w2.hp[TARGET], w2.respawn[TARGET] = False, 0, 2
    for _ in range(3):
        step(w2, walk(cfg2))
        comp2.record(w2.tick, *hitboxes(w2))
    assert w2.alive[TARGET] and comp2.history.positions_at(vt2)[1][TARGET]
    cur2 = w2.tick + 1
    view = comp2.apply_limits(SHOOTER, vt2, 0, 0.2, cur2)
    assert view.status == "ok"
    below(w2, stored2[vt2][TARGET])
    assert shoot(cfg2, w2, rewound_resolver(comp2.frame({SHOOTER: view}))).hit == -1

    # the same without a death hits; after forget_slot (the slot changed hands) it doesn't
    cfg3, w3, comp3, stored3 = moving_match(se=se, ticks=60)
    cur3 = w3.tick + 1
    view = comp3.apply_limits(SHOOTER, vt2, 0, 0.2, cur3)
    w4 = w3.copy()
    below(w3, stored3[vt2][TARGET])
    below(w4, stored3[vt2][TARGET])
    assert shoot(cfg3, w3, rewound_resolver(comp3.frame({SHOOTER: view}))).hit == TARGET
    comp3.forget_slot(TARGET)
    assert shoot(cfg3, w4, rewound_resolver(comp3.frame({SHOOTER: view}))).hit == -1


def _bot_match(rewind: RewindConfig, claim_present: bool, ticks=300, seed=5):
    """A small crowded arena: 8 bots aim at the nearest living entity and fire at random."""
    cfg = SimConfig.arena(npc_count=60, max_players=8, width=768, height=768, tick_rate=TR)
    a, b = World.new(cfg, seed), World.new(cfg, seed)
    for _ in range(8):
        add_player(a)
        add_player(b)
    comp = LagCompensator(rewind, TR, 2, b.num_entities)
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(ticks):
        batch = InputBatch.empty(cfg)
        batch.move[:] = rng.integers(-1, 2, (8, 2))
        for s in range(8):
            others = a.alive & a.active
            others[s] = False
            d = a.pos[others].astype(np.int64) - a.pos[s]
            if len(d):
                k = int(np.argmin((d * d).sum(axis=1)))
                batch.aim[s] = aim_at(float(d[k, 0]), float(d[k, 1]))
        batch.buttons[:] = rng.integers(0, 2, 8)
        cur = b.tick + 1
        applied = {s: comp.apply_limits(s, cur if claim_present else cur - 4, 0, 0.1, cur) for s in range(8)}
        ea = step(a, batch.copy())
        eb = step(b, batch.copy(), rewound_resolver(comp.frame(applied)))
        comp.record(b.tick, *hitboxes(b))
        assert ea == eb
        assert checksum(a) == checksum(b)
        hits += sum(1 for e in ea if isinstance(e, ShotFired) and e.hit >= 0)
    return comp, hits


def test_disabled_equals_default_resolver_over_a_match():
    comp, hits = _bot_match(RewindConfig(enabled=False), claim_present=False)
    assert hits > 50
    t = comp.totals()
    assert t["shots"] > 100 and t["rewound"] == 0 and t["clamped"] == 0
    assert {a.applied.status for a in comp.audit} == {"off"}


def test_zero_rewind_through_the_rewind_path_equals_default():
    # a claim of the present goes through the pair narrow phase, not cast_rays: it must agree exactly
    comp, hits = _bot_match(RewindConfig(), claim_present=True)
    assert hits > 50
    assert comp.totals()["shots"] > 100
    # only tick 1 has no history to rewind into
    assert {a.applied.status for a in comp.audit if a.tick > 1} == {"ok"}
    assert comp.totals()["rewound"] == sum(1 for a in comp.audit if a.tick > 1)


# --- audit trail -----------------------------------------------------------------------------


def test_audit_records_rewound_hitboxes_and_verdict():
    se = 3
    cfg, w, comp, stored = moving_match(se=se)
    cur = w.tick + 1
    vt, vf = view_at(cur, 18, se, 0.25)
    view = comp.apply_limits(SHOOTER, vt, vf, 0.2, cur)
    rendered = comp.history.positions_at(vt, vf, se)[0][TARGET]
    below(w, rendered)
    shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view})))
    a = comp.audit[-1]
    assert (a.tick, a.shooter, a.claimed, a.applied, a.hit) == (cur, SHOOTER, (vt, vf), view, TARGET)
    assert a.origin == (int(rendered[0]), int(rendered[1]) + 300 * SUBPX) and a.aim == UP
    assert a.range == cfg.weapon_range * SUBPX
    assert a.dist == 300 * SUBPX - 12 * SUBPX  # enters the circle one radius before its centre
    assert a.near == ((TARGET, int(rendered[0]), int(rendered[1]), 12 * SUBPX, True),)
    assert a.rewind_ms == pytest.approx((cur - vt - 0.75) * 1000 / TR)
    d = comp.audit_dicts(1)[0]
    assert json.loads(json.dumps(d)) == d
    assert d["hit"] == TARGET and d["status"] == "ok" and d["near"][0]["id"] == TARGET
    assert d["applied"] == {"tick": vt, "frac": vf, "span": se, "rewind_ticks": view.rewind_ticks, "status": "ok"}


def test_audit_near_list_is_capped_and_keeps_the_hit():
    cfg = SimConfig.arena(walls=(), max_players=40, tick_rate=TR)
    w = World.new(cfg)
    for _ in range(40):
        add_player(w)
    x = 2000 * SUBPX
    for i in range(40):
        w.pos[i] = (5 * SUBPX + i * 60 * SUBPX, 3000 * SUBPX)  # out of the way
    # 30 players on the ray's line, the highest id nearest the shooter (slot 0, aiming up)
    for k, slot in enumerate(range(31, 1, -1)):
        w.pos[slot] = (x, (2900 - 30 * k) * SUBPX)
    w.pos[0] = (x, 2950 * SUBPX)
    comp = LagCompensator(RewindConfig(), TR, 1, w.num_entities, audit_len=5)
    for _ in range(3):
        step(w)
        comp.record(w.tick, *hitboxes(w))
    cur = w.tick + 1
    view = comp.apply_limits(0, cur - 2, 0, 0.1, cur)
    shot = shoot(cfg, w, rewound_resolver(comp.frame({0: view})), shooter=0)
    assert shot.hit == 31
    a = comp.audit[-1]
    ids = [e[0] for e in a.near]
    assert len(ids) == 16 and 31 in ids and ids[:15] == list(range(2, 17))
    # bounded
    for _ in range(12):
        for _ in range(cfg.fire_cooldown_ticks):
            step(w)
            comp.record(w.tick, *hitboxes(w))
        cur = w.tick + 1
        shoot(cfg, w, rewound_resolver(comp.frame({0: comp.apply_limits(0, cur - 1, 0, 0.1, cur)})), shooter=0)
        comp.record(w.tick, *hitboxes(w))
    assert len(comp.audit) == 5
    ticks = [d["tick"] for d in comp.audit_dicts(3)]
    assert ticks == sorted(ticks) and ticks[-1] == w.tick and len(comp.audit_dicts()) == 5
    assert comp.counters[0].shots == 13


def test_bench_runs_and_reports():
    from netcode.bench.rewind import rewind_cost
    out = rewind_cost(n_players=16, shots=4, runs=1)
    assert out["shots"] == 4 and out["history_ticks"] > 0 and out["step_without_shots_us"] > 0
    assert isinstance(AppliedView(1, 0, 1, 0.0, "ok").as_dict(), dict)


def test_rewound_verdicts_match_a_reference_cast_of_the_rendered_world():
    """Every shot of a busy match (random views, deaths and quick respawns) equals cast_rays run on the
    world as that shooter rendered it, with the hittable set "alive at every tick from the view until now"."""
    se = 3
    cfg = SimConfig.arena(npc_count=80, max_players=8, width=768, height=768, tick_rate=TR,
                          respawn_ticks=12, npc_hp=25)
    geom = geometry(cfg)
    w = World.new(cfg, 3)
    for _ in range(8):
        add_player(w)
    comp = LagCompensator(RewindConfig(), TR, se, w.num_entities)
    rng = np.random.default_rng(11)
    frames, lives = {}, {}
    compared = hits = rebirths = 0
    for _ in range(400):
        cur = w.tick + 1
        batch = InputBatch.empty(cfg)
        batch.move[:] = rng.integers(-1, 2, (8, 2))
        for s in range(8):
            others = w.alive & w.active
            others[s] = False
            d = w.pos[others].astype(np.int64) - w.pos[s]
            if len(d):
                k = int(np.argmin((d * d).sum(axis=1)))
                batch.aim[s] = (aim_at(float(d[k, 0]), float(d[k, 1])) + int(rng.integers(-40, 41))) % 4096
        batch.buttons[:] = rng.integers(0, 2, 8)
        applied = {}
        for s in range(8):
            v_q = cur * FRAC_ONE - int(rng.uniform(0, 40) * FRAC_ONE)
            vt = (v_q >> 16) // se * se
            applied[s] = comp.apply_limits(s, vt, (v_q - vt * FRAC_ONE) // se, 0.3, cur)
        calls = []
        resolve = rewound_resolver(comp.frame(applied))

        def spy(world, shooters, origins, aims):
            out = resolve(world, shooters, origins, aims)
            calls.append((world.pos.copy(), (world.alive & world.active).copy(), shooters, origins, aims, out))
            return out

        step(w, batch, spy)
        for pos_now, now, shooters, origins, aims, (hit, dist) in calls:
            frames[cur] = pos_now
            for i, s in enumerate(shooters.tolist()):
                v = applied[s]
                if v.rewound:
                    p1 = frames[v.tick + v.span] if v.frac else None
                    pos = interpolate_positions(frames[v.tick], p1, v.frac) if v.frac else frames[v.tick]
                    mask = now.copy()
                    for t in range(v.tick, cur):
                        mask &= lives[t]
                    rebirths += int((lives[v.tick] & now & ~mask).sum())
                else:
                    pos, mask = pos_now, now
                ref = cast_rays(origins[i:i + 1], aims[i:i + 1], cfg.weapon_range * SUBPX, pos, geom.radii, mask,
                                geom.walls, exclude=[s], bounds=geom.bounds)
                assert (int(hit[i]), int(dist[i])) == (int(ref[0][0]), int(ref[1][0])), (cur, s, v)
                compared += 1
                hits += int(hit[i] >= 0)
        comp.record(w.tick, *hitboxes(w))
        frames[w.tick] = w.pos.copy()
        lives[w.tick] = (w.alive & w.active).copy()
    t = comp.totals()
    assert compared == t["shots"] > 250 and hits > 100 and rebirths > 0  # rebirths: drawn, alive, yet not hittable
    assert t["rewound"] > 250 and t["clamped"] > 0 and t["rejected_future"] > 0


def test_a_rewound_shot_cannot_hit_what_the_shooter_was_never_sent():
    """The arena's weapon (1,200 px) outranges its view (600 px): a rewound shot at a target farther than the
    shooter's area of interest misses, and is counted; the same shot within sight hits."""
    se = 3
    for distance_px, sight_px, expected in ((900, 660, -1), (900, 0, TARGET), (500, 660, TARGET)):
        cfg, w, comp, stored = moving_match(se=se)
        comp.sight = sight_px * SUBPX
        cur = w.tick + 1
        vt, vf = view_at(cur, 18, se, 0.5)
        view = comp.apply_limits(SHOOTER, vt, vf, 0.2, cur)
        rendered = interpolate_positions(stored[vt], stored[vt + se], vf)[TARGET]
        below(w, rendered, dy_px=distance_px)
        shot = shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view})))
        assert shot.hit == expected, (distance_px, sight_px)
        assert comp.totals()["out_of_sight"] == (1 if expected == -1 else 0)


def test_a_shot_at_the_present_cannot_hit_what_the_shooter_was_never_sent_either():
    """Without a claim (or with rewind off) a shot is resolved at the present, and held to the same sight: the shooter
    never received what lay beyond it. Replays recorded before that (sight_at_present False) judge it as they did."""
    se = 3
    for distance_px, sight_px, at_present, expected in ((900, 660, True, -1), (900, 660, False, TARGET),
                                                        (900, 0, True, TARGET), (500, 660, True, TARGET)):
        cfg, w, comp, stored = moving_match(se=se)
        comp.sight, comp.sight_at_present = sight_px * SUBPX, at_present
        cur = w.tick + 1
        view = comp.apply_limits(SHOOTER, None, 0, 0.2, cur)  # nothing claimed: the present
        assert not view.rewound
        below(w, w.pos[TARGET], dy_px=distance_px)
        shot = shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view})))
        assert shot.hit == expected, (distance_px, sight_px, at_present)
        assert comp.totals()["out_of_sight"] == (1 if expected == -1 else 0)


def test_a_shot_at_the_present_through_the_candidates_is_the_default_cast():
    """Held to the sight limit, a shot at the present goes through the candidates instead of the default resolver's
    cast: with everything in sight, the same hit and the same end, walls, misses and edges included."""
    rng = np.random.default_rng(5)
    walls = ((200, 1100, 1200, 1120), (300, 700, 320, 980))
    hits = 0
    for i in range(120):
        pos = (int(rng.integers(50, 1500)) * SUBPX, int(rng.integers(500, 1500)) * SUBPX)
        aim = int(rng.integers(4096))
        outcomes = []
        for sight in (0, 10**9):  # 0: the cast; everything in sight: the candidates
            cfg, w, comp, _ = moving_match(ticks=10, walls=walls)
            comp.sight = sight
            w.pos[SHOOTER] = pos
            if i % 2:  # every other shot aimed at the target (or the wall in front of it)
                dx, dy = (int(w.pos[TARGET][k]) - pos[k] for k in (0, 1))
                aim = round(math.atan2(dy, dx) / (2 * math.pi) * 4096) % 4096
            view = comp.apply_limits(SHOOTER, None, 0, 0.2, w.tick + 1)
            shot = shoot(cfg, w, rewound_resolver(comp.frame({SHOOTER: view})), aim=aim)
            outcomes.append((shot.hit, shot.end))
        hits += outcomes[0][0] >= 0
        assert outcomes[0] == outcomes[1], (i, pos, aim, outcomes)
    assert hits > 20


def test_the_state_sync_server_limits_rewound_shots_to_the_area_of_interest():
    from helpers import arena_server

    server = arena_server()
    assert server.lagcomp.sight == (server.view_radius + server.config.leave_margin) * server.units
