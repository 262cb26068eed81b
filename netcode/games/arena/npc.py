"""NPC drone wandering: walk a random heading for a while, pause, repeat (all vectorised)."""

from __future__ import annotations

import functools

import numpy as np

from ...game import rng
from . import rolls
from ...game.fixed import ANGLE_FULL, ANGLE_MASK, SIN_TABLE, TRIG_SHIFT
from .world import World

# Headings are indexed with `heading & _IDLE_MASK`: an idle -1 lands in the all-zero
# upper half of the displacement table, so idle drones need no separate masking.
_IDLE_MASK = 2 * ANGLE_FULL - 1


@functools.lru_cache(maxsize=64)
def _displacements(amount: int) -> np.ndarray:
    """int64 view of int32 [2*ANGLE_FULL, 2] per-heading (dx, dy) steps of length ``amount`` (rounded half up)."""
    half = 1 << (TRIG_SHIFT - 1)
    table = np.zeros((2 * ANGLE_FULL, 2), dtype=np.int32)
    a = np.arange(ANGLE_FULL)
    table[:ANGLE_FULL, 0] = (SIN_TABLE[(a + ANGLE_FULL // 4) & ANGLE_MASK].astype(np.int64) * amount + half) >> TRIG_SHIFT
    table[:ANGLE_FULL, 1] = (SIN_TABLE[a].astype(np.int64) * amount + half) >> TRIG_SHIFT
    # One int64 per (dx, dy) pair lets a single 1-D take() gather both components.
    packed = table.view(np.int64).reshape(-1)
    packed.setflags(write=False)
    return packed


def pause_ticks(world: World, tick: int, idx: np.ndarray, purpose: int) -> np.ndarray:
    """Deterministic pause lengths for NPC entity indices ``idx``."""
    lo, hi = world.config.npc_idle_ticks
    return rng.randint(world.seed, tick, idx, purpose, lo, hi + 1)


def wander(world: World, tick: int, amount: int) -> tuple[np.ndarray, np.ndarray]:
    """Advance NPC walk/pause timers and return (delta int32 [M, 2], moving bool [M]) for the NPC slice.

    A walk is a random heading held for a random number of ticks, i.e. a random
    target point reached at constant speed; headings avoid a per-tick sqrt.
    ``amount`` is this tick's step length in sub-px.  Dead drones always have
    heading -1 (set on death), so only the timers need the alive mask.
    """
    cfg, p = world.config, world.config.max_players
    alive = world.alive[p:]
    heading = world.wander_dir[p:]
    timer = world.wander_timer[p:]
    np.subtract(timer, 1, out=timer, where=alive)
    expired = np.flatnonzero(alive & (timer <= 0))
    if len(expired):
        h = rng.hash64(world.seed, tick, expired + p, rolls.NPC_WANDER)
        walking = heading[expired] >= 0
        # Heading from the low bits, duration from the high bits of one hash; only one
        # of walk/pause length is used per NPC, so they may share those bits.
        (wlo, whi), (plo, phi) = cfg.npc_move_ticks, cfg.npc_idle_ticks
        walk_t = wlo + rng.below(h, whi - wlo + 1)
        pause_t = plo + rng.below(h, phi - plo + 1)
        new_heading = (h & np.uint64(ANGLE_MASK)).astype(np.int16)
        heading[expired] = np.where(walking, -1, new_heading)
        timer[expired] = np.where(walking, pause_t, walk_t)
    moving = heading >= 0
    delta = _displacements(amount).take(heading & _IDLE_MASK).view(np.int32).reshape(-1, 2)
    np.copyto(world.aim[p:], heading, where=moving)
    return delta, moving
