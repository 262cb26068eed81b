"""step(world, inputs): advance the simulation by exactly one tick, in place.

Order within a tick (tick number t = world.tick after the increment):
1. dead entities count down; those reaching 0 respawn at a seeded spawn point;
2. living players take their aim and move; living NPCs wander;
3. moved entities are clamped to the arena and pushed out of walls;
4. player cooldowns count down; players holding fire with cooldown 0 shoot.
   All shots of a tick are resolved against the same post-move state (so two
   players can trade kills), then applied in shooter-index order, which decides
   who gets credit when several shots finish the same target.
"""

from __future__ import annotations

import numpy as np

from . import rolls
from .combat import ShotResolver, resolve_shots
from .config import SimConfig
from .events import GameEvent, Hit, Kill, Respawn, ShotFired
from ...game.fixed import DIAG_FACTOR, SUBPX, TRIG_SHIFT, direction, per_tick
from .geometry import geometry, spawn_positions
from .inputs import AIM, FIRE, MOVE_X, MOVE_Y, as_array
from .npc import pause_ticks, wander
from .physics import collide
from .world import World


def step_lengths(config: SimConfig, tick: int) -> tuple[int, int, int]:
    """(player straight, player diagonal per axis, npc) step lengths in sub-px for ``tick``."""
    straight = per_tick(config.player_speed * SUBPX, tick, config.tick_rate)
    # Scaling each tick's own step (rounded down) keeps every single diagonal tick no longer
    # than a straight one, which is what per-tick speed checks see (rounding loss <1% at default speeds).
    return (straight, (straight * DIAG_FACTOR) >> TRIG_SHIFT,
            per_tick(config.npc_speed * SUBPX, tick, config.tick_rate))


def _respawn(world: World, tick: int, events: list[GameEvent]) -> None:
    cfg, geom = world.config, geometry(world.config)
    waiting = np.flatnonzero(world.active & ~world.alive)
    if not len(waiting):
        return
    world.respawn[waiting] -= 1
    ready = waiting[world.respawn[waiting] <= 0]
    if not len(ready):
        return
    world.pos[ready] = spawn_positions(cfg, world.seed, tick, ready)
    world.hp[ready] = geom.max_hp[ready]
    world.alive[ready] = True
    world.respawn[ready] = 0
    world.cooldown[ready] = 0
    npcs = ready[ready >= cfg.max_players]
    if len(npcs):
        world.wander_dir[npcs] = -1
        world.wander_timer[npcs] = pause_ticks(world, tick, npcs, rolls.NPC_INIT)
    events.extend(Respawn(tick, e) for e in ready.tolist())


def _fire(world: World, tick: int, shooters: np.ndarray, resolver: ShotResolver, events: list[GameEvent]) -> None:
    cfg = world.config
    world.cooldown[shooters] = cfg.fire_cooldown_ticks
    origins = world.pos[shooters].astype(np.int64)
    aims = world.aim[shooters].astype(np.int64)
    hit, dist = resolver(world, shooters, origins, aims)
    hit = np.asarray(hit, dtype=np.int64)
    dist = np.asarray(dist, dtype=np.int64)
    if hit.shape != shooters.shape or dist.shape != shooters.shape:
        raise ValueError("shot_resolver returned arrays of the wrong shape")
    if ((hit < -1) | (hit >= world.num_entities)).any() or (dist < 0).any():
        raise ValueError("shot_resolver returned an invalid hit index or distance")
    ends = origins + ((direction(aims) * dist[:, None]) >> TRIG_SHIFT)
    damage = cfg.weapon_damage
    for shooter, target, origin, end in zip(shooters.tolist(), hit.tolist(), origins.tolist(), ends.tolist()):
        events.append(ShotFired(tick, shooter, tuple(origin), tuple(end), target))
        # hp 0 means the target died earlier this tick (or is a stale rewound hit): no double kill.
        if target < 0 or world.hp[target] <= 0 or damage <= 0:
            continue
        hp = int(world.hp[target]) - damage
        events.append(Hit(tick, shooter, target, damage))
        if hp <= 0:
            hp = 0
            world.alive[target] = False
            if target >= cfg.max_players:
                world.wander_dir[target] = -1  # dead drones never walk (npc.wander relies on it)
            world.respawn[target] = cfg.respawn_ticks
            world.deaths[target] += 1
            world.score[shooter] += 1
            events.append(Kill(tick, shooter, target))
        world.hp[target] = hp


def step(world: World, inputs=None, shot_resolver: ShotResolver | None = None) -> list[GameEvent]:
    """Advance ``world`` one tick in place and return the tick's events.

    ``inputs``: int ``[max_players, 4]`` (move_x, move_y, fire, aim; see inputs.INPUTS) or an InputBatch,
    one row per player slot (inactive/dead slots ignored; values are sanitised here too).
    ``shot_resolver`` (see combat.ShotResolver) decides what each shot hits; the default casts
    against current positions.
    """
    cfg, geom = world.config, geometry(world.config)
    p = cfg.max_players
    if inputs is None:
        inputs = np.zeros((p, 4), dtype=np.int64)
    inputs = as_array(inputs, p)
    world.tick += 1
    tick = world.tick
    events: list[GameEvent] = []

    _respawn(world, tick, events)

    straight, diagonal, npc_amount = step_lengths(cfg, tick)
    playing = world.active[:p] & world.alive[:p]
    move = inputs[:, MOVE_X:MOVE_Y + 1].astype(np.int32) * playing[:, None]
    is_diag = (move != 0).all(axis=1)
    player_delta = move * np.where(is_diag, diagonal, straight)[:, None].astype(np.int32)
    np.copyto(world.aim[:p], inputs[:, AIM], where=playing)
    npc_delta, npc_moving = wander(world, tick, npc_amount)

    old = world.pos.copy()
    world.pos[:p] += player_delta
    world.pos[p:] += npc_delta
    moved = np.empty(len(old), dtype=bool)
    moved[:p] = (player_delta != 0).any(axis=1)
    moved[p:] = npc_moving
    collide(world.pos, moved, geom)
    np.subtract(world.pos, old, out=world.vel)

    cooldown = world.cooldown[:p]
    np.subtract(cooldown, 1, out=cooldown, where=cooldown > 0)
    firing = playing & (inputs[:, FIRE] != 0) & (cooldown == 0)
    shooters = np.flatnonzero(firing)
    world.fired[:] = False
    if len(shooters):
        world.fired[shooters] = True
        _fire(world, tick, shooters, shot_resolver or resolve_shots, events)
    return events
