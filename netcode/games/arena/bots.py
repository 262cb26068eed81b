"""Arena bot brains: walk about, aim at the nearest target, shoot while it is in range.

One brain per bot; it decides from a state-sync client's snapshot (``from_snapshot``, as a human
would: only what the server sent), from a lockstep client's whole world (``from_world``), or blind
(``blind``: load bots that keep no world, with the same input statistics).
"""
from __future__ import annotations

import math
import random

import numpy as np

from ...game.fixed import ANGLE_FULL, SUBPX
from .inputs import INPUTS
from .view import F_FLAGS, F_X, F_Y, FLAG_ALIVE, FLAG_NPC

BEHAVIOURS = ("idle", "wander", "fight")
AIM_STEP = 64  # lockstep: re-aim only when the target moved this many angle units (~5.6°): a thumbstick, not a mouse


def aim_at(dx: float, dy: float) -> int:
    """The integer angle (0..4095, 0 = +x, growing toward +y) pointing along (dx, dy)."""
    return int(round(math.atan2(dy, dx) / (2 * math.pi) * ANGLE_FULL)) % ANGLE_FULL


class ArenaBot:
    """behaviour: "idle" stands still, "wander" walks about, "fight" walks and shoots."""

    def __init__(self, seed: int, behaviour: str = "fight", fire_range_px: int = 500):
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {', '.join(BEHAVIOURS)}, got {behaviour!r}")
        self.rng = random.Random(seed)
        self.behaviour = behaviour
        self.fire_range = fire_range_px * SUBPX
        self.move = (0, 0)
        self.change_in = 0
        self.aim = self.rng.randrange(ANGLE_FULL)
        self.fire = 0

    def _pack(self, fire: int) -> int:
        return INPUTS.pack((self.move[0], self.move[1], fire, self.aim))

    def _walk(self, lo: int, hi: int) -> None:
        self.change_in -= 1
        if self.change_in <= 0:
            self.move = (self.rng.choice((-1, 0, 1)), self.rng.choice((-1, 0, 1)))
            self.change_in = self.rng.randrange(lo, hi)

    def from_snapshot(self, config, ids: np.ndarray, values: np.ndarray, slot: int) -> int:
        """From the bot's latest snapshot: players first (they shoot back), then drones."""
        if self.behaviour == "idle":
            return INPUTS.pack((0, 0, 0, self.aim))
        self._walk(20, 90)
        fire = 0
        if ids is not None and len(ids):
            row = np.searchsorted(ids, slot)
            if row < len(ids) and ids[row] == slot:
                me = values[row]
                alive = (values[:, F_FLAGS] & FLAG_ALIVE) != 0
                alive[row] = False
                if alive.any():
                    d = values[:, F_X:F_Y + 1].astype(np.int64) - me[F_X:F_Y + 1]
                    dist2 = (d * d).sum(axis=1)
                    npc = (values[:, F_FLAGS] & FLAG_NPC) != 0
                    score = np.where(alive, dist2 + npc * (4 * self.fire_range) ** 2, np.iinfo(np.int64).max)
                    target = int(np.argmin(score))
                    self.aim = aim_at(float(d[target, 0]), float(d[target, 1]))
                    if self.behaviour == "fight" and dist2[target] <= self.fire_range ** 2:
                        fire = 1
        return self._pack(fire)

    def from_world(self, world, slot: int) -> int:
        """From the whole world (lockstep): aims at the nearest living player, holds fire while one is in range."""
        if self.behaviour == "idle":
            return INPUTS.pack((0, 0, 0, self.aim))
        self._walk(8, 40)
        fire = 0
        w = world
        if w is not None and 0 <= slot and w.alive[slot]:
            p = w.config.max_players
            others = np.flatnonzero(w.alive[:p] & w.active[:p])
            others = others[others != slot]
            if len(others):
                d = w.pos[others].astype(np.int64) - w.pos[slot]
                dist2 = (d * d).sum(axis=1)
                k = int(np.argmin(dist2))
                want = aim_at(float(d[k, 0]), float(d[k, 1]))
                if min((want - self.aim) % ANGLE_FULL, (self.aim - want) % ANGLE_FULL) >= AIM_STEP:
                    self.aim = want
                if self.behaviour == "fight" and dist2[k] <= self.fire_range ** 2:
                    fire = 1
        return self._pack(fire)

    def blind(self) -> int:
        """For load bots that do not simulate: the input statistics of a lockstep fighter, drawn at random."""
        r = self.rng.random()
        if r < 0.04:
            self.move = (self.rng.choice((-1, 0, 1)), self.rng.choice((-1, 0, 1)))
        elif r < 0.10:
            self.aim = (self.aim + self.rng.randrange(-300, 300)) % ANGLE_FULL
        elif r < 0.13:
            self.fire ^= 1
        return self._pack(self.fire)
