"""step(world, inputs): one tick of football, in place, integer arithmetic only.

Order within a tick (t = world.tick after the increment):
1. players turn to their aim, run along their heading at their throttle's speed (sprinting costs stamina),
   push each other apart and stay on the pitch;
2. kick buttons: held charges (up to ``charge_ticks``), released kicks are noted;
3. during a kick-off pause the ball rests on the centre spot; otherwise it bounces off every player it
   touches (slot order; a player is a moving wall of restitution ``player_bounce``, so running into the
   ball dribbles it), then released kicks within reach send it towards their aim (slot order: the last
   one wins), then it rolls (Q8 sub-px per tick), slows by friction, bounces off the boards and, through
   a goal mouth, scores: the kick-off formation is taken again and the ball rests for ``kickoff_ticks``.
"""
from __future__ import annotations

import numpy as np

from ...game.fixed import SUBPX, TRIG_SHIFT, direction, isqrt, per_tick
from .config import FootballConfig
from .events import Goal, Kick
from .inputs import AIM, HEADING, KICK, THROTTLE
from .world import World, centre, formation

Q8 = 256
_STOP = 8  # Q8 sub-px per tick below which the ball stops


def step_lengths(config: FootballConfig, tick: int) -> np.ndarray:
    """int64 [4]: the sub-px step of each throttle at ``tick`` (exact per second, like the arena's)."""
    return np.array([0] + [per_tick(v * SUBPX, tick, config.tick_rate)
                           for v in (config.walk_speed, config.run_speed, config.sprint_speed)], dtype=np.int64)


def clean(inputs, players: int) -> np.ndarray:
    """The int64 [P, 4] inputs clamped into their ranges (ValueError for a wrong shape or dtype)."""
    a = np.asarray(inputs)
    if a.dtype.kind not in "iub" or a.shape != (players, 4):
        raise ValueError(f"inputs must be an integer array of shape ({players}, 4), got {a.dtype} {a.shape}")
    a = a.astype(np.int64)
    out = np.empty_like(a)
    out[:, HEADING] = a[:, HEADING] & 255
    # np.minimum/np.maximum, not np.clip: the same values at a fifth of the cost on arrays this small
    out[:, THROTTLE] = np.minimum(np.maximum(a[:, THROTTLE], 0), 3)
    out[:, KICK] = a[:, KICK] != 0
    out[:, AIM] = a[:, AIM] & 4095
    return out


def _separate(q: np.ndarray, radius: int) -> np.ndarray:
    """Players (int64 [n, 2] sub-px, slot order) overlapping each other are pushed apart along the line between
    them, each by half the overlap (rounded up); every pair at once, so the order of players never matters."""
    n = len(q)
    if n < 2:
        return q
    d = q[:, None, :] - q[None, :, :]
    d2 = (d * d).sum(axis=2)
    both = (d2 < (2 * radius) ** 2) & ~np.eye(n, dtype=bool)
    if not both.any():
        return q
    i, j = np.nonzero(both)
    dd = d[i, j]
    coincident = d2[i, j] == 0
    dd[coincident] = np.stack([np.sign(i - j)[coincident] * SUBPX, np.zeros(int(coincident.sum()), np.int64)], 1)
    dist = np.maximum(isqrt((dd * dd).sum(axis=1)), 1)
    push = (2 * radius - dist + 1) // 2
    moves = (dd * push[:, None]) // dist[:, None]
    out = q.copy()
    np.add.at(out, i, moves)
    return out


def step(world: World, inputs=None) -> list:
    """Advance ``world`` one tick in place and return the tick's events (Kick, Goal)."""
    cfg = world.config
    p = cfg.max_players
    inputs = clean(np.zeros((p, 4), np.int64) if inputs is None else inputs, p)
    world.tick += 1
    t = world.tick
    events: list = []
    act = world.active
    world.kicked[:] = False

    # 1. players
    np.copyto(world.aim, inputs[:, AIM], where=act)
    throttle = inputs[:, THROTTLE] * act
    sprinting = (throttle == 3) & (world.stamina > 0)
    level = np.where((throttle == 3) & ~sprinting, 2, throttle)
    delta = (direction(inputs[:, HEADING] << 4) * step_lengths(cfg, t)[level][:, None]) >> TRIG_SHIFT
    drain, regen = per_tick(1000, t, cfg.tick_rate), per_tick(cfg.stamina_regen, t, cfg.tick_rate)
    stamina = world.stamina.astype(np.int64) + np.where(sprinting, -drain, regen)
    world.stamina[:] = np.where(act, np.minimum(np.maximum(stamina, 0), cfg.stamina), 0)
    old = world.pos.astype(np.int64)
    r = cfg.player_radius * SUBPX
    idx = np.flatnonzero(act)
    moved = old.copy()
    moved[idx] = _separate(old[idx] + delta[idx], r)
    moved[idx, 0] = np.minimum(np.maximum(moved[idx, 0], r), cfg.width * SUBPX - r)
    moved[idx, 1] = np.minimum(np.maximum(moved[idx, 1], r), cfg.height * SUBPX - r)
    world.pos[:] = moved
    world.vel[:] = moved - old

    # 2. kick buttons
    held = (inputs[:, KICK] != 0) & act
    np.subtract(world.cooldown, 1, out=world.cooldown, where=world.cooldown > 0)
    released = np.flatnonzero((world.charge > 0) & ~held & act)
    charges = world.charge[released].astype(np.int64)
    world.charge[:] = np.where(held, np.minimum(world.charge + 1, cfg.charge_ticks), 0)

    # 3. the ball
    if world.kickoff > 0:
        world.kickoff -= 1
        return events
    _touches(world, cfg, idx)
    _kicks(world, cfg, released, charges, t, events)
    _roll(world, cfg, t, events)
    return events


def _touches(world: World, cfg: FootballConfig, players: np.ndarray) -> None:
    """The ball bounces off every player it overlaps, in slot order."""
    reach = (cfg.player_radius + cfg.ball_radius) * SUBPX
    d = world.ball[None, :] - world.pos[players].astype(np.int64)
    near = players[(d * d).sum(axis=1) < reach * reach]
    bounce = Q8 + cfg.player_bounce
    for s in near.tolist():
        pos = world.pos[s].astype(np.int64)
        d = world.ball - pos
        d2 = int(d @ d)
        if d2 >= reach * reach:
            continue  # an earlier bounce this tick moved the ball away
        if d2 == 0:
            d, dist = np.array([reach, 0], np.int64), reach
        else:
            dist = max(1, int(isqrt(np.array([d2]))[0]))
        world.ball[:] = pos + (d * reach) // dist  # out to touching distance
        rel = world.ball_vel - world.vel[s].astype(np.int64) * Q8
        vn = int(rel @ d) // dist
        if vn < 0:  # moving into the player: the normal part bounces back, off a player that may be running
            world.ball_vel[:] = world.ball_vel - ((bounce * vn // Q8) * d) // dist
        world.touch = s


def _kicks(world: World, cfg: FootballConfig, released: np.ndarray, charges: np.ndarray, t: int, events: list) -> None:
    reach = (cfg.player_radius + cfg.ball_radius + cfg.kick_reach) * SUBPX
    for s, charge in zip(released.tolist(), charges.tolist()):
        if world.cooldown[s] > 0:
            continue
        d = world.ball - world.pos[s].astype(np.int64)
        if int(d @ d) > reach * reach:
            continue  # a kick at nothing: the charge is spent
        power = cfg.kick_min + (cfg.kick_max - cfg.kick_min) * min(charge, cfg.charge_ticks) // cfg.charge_ticks
        speed = power * SUBPX * Q8 // cfg.tick_rate
        world.ball_vel[:] = (direction(int(world.aim[s])) * speed) >> TRIG_SHIFT
        world.touch = s
        world.cooldown[s] = cfg.kick_cooldown
        world.kicked[s] = True
        events.append(Kick(t, s, power))


def _roll(world: World, cfg: FootballConfig, t: int, events: list) -> None:
    q = world.ball_vel + world.ball_rem
    world.ball += q >> 8
    world.ball_rem[:] = q & (Q8 - 1)
    # friction: a fixed share of the speed per tick, towards zero on each axis
    keep = (1 << 16) - cfg.ball_friction // cfg.tick_rate
    v = world.ball_vel
    mag = (np.abs(v) * keep) >> 16
    v[:] = np.where(np.abs(v) < _STOP, 0, np.sign(v) * mag)
    x, y = int(world.ball[0]), int(world.ball[1])
    r = cfg.ball_radius * SUBPX
    w, h = cfg.width * SUBPX, cfg.height * SUBPX
    kept = cfg.wall_bounce
    if y < r or y > h - r:
        world.ball[1] = 2 * r - y if y < r else 2 * (h - r) - y
        world.ball_vel[1] = -(int(world.ball_vel[1]) * kept) // Q8
        world.ball_rem[1] = 0
    y = int(world.ball[1])
    g0, g1 = (h - cfg.goal_width * SUBPX) // 2, (h + cfg.goal_width * SUBPX) // 2
    in_mouth = g0 + r <= y <= g1 - r
    if x < 0 and in_mouth:
        return _goal(world, cfg, 1, t, events)
    if x > w and in_mouth:
        return _goal(world, cfg, 0, t, events)
    if (x < r or x > w - r) and not in_mouth:  # through the mouth the ball goes on, into the goal
        world.ball[0] = 2 * r - x if x < r else 2 * (w - r) - x
        world.ball_vel[0] = -(int(world.ball_vel[0]) * kept) // Q8
        world.ball_rem[0] = 0


def _goal(world: World, cfg: FootballConfig, team: int, t: int, events: list) -> None:
    world.score[team] += 1
    scorer = world.touch if world.touch >= 0 and world.touch % 2 == team else -1
    if scorer >= 0:
        world.goals[scorer] += 1
    events.append(Goal(t, team, scorer))
    # kick-off: everyone back to the formation, the ball to the centre spot, resting for a moment
    world.ball[:] = centre(cfg)
    world.ball_vel[:] = 0
    world.ball_rem[:] = 0
    world.touch = -1
    world.kickoff = cfg.kickoff_ticks
    idx = np.flatnonzero(world.active)
    if len(idx):
        world.pos[idx] = formation(cfg, idx, t)
        world.vel[idx] = 0
        world.charge[idx] = 0
