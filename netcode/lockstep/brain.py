"""Bot brains for lockstep: one reads the bot's own World (every client holds the whole state), one needs none."""
from __future__ import annotations

import random

import numpy as np

from ..bots import aim_at
from ..sim import SUBPX, PlayerInput

AIM_STEP = 64  # re-aim only when the target moved this many angle units (~5.6°): a thumbstick, not a mouse


class WorldBrain:
    """Walks about, aims at the nearest living player within range, holds fire while one is in range."""

    def __init__(self, seed: int, behaviour: str = "fight", fire_range_px: int = 500):
        self.rng = random.Random(seed)
        self.behaviour = behaviour
        self.fire_range = fire_range_px * SUBPX
        self.move = (0, 0)
        self.change_in = 0
        self.aim = self.rng.randrange(4096)

    def __call__(self, client) -> PlayerInput:
        if self.behaviour == "idle":
            return PlayerInput(0, 0, self.aim, 0)
        self.change_in -= 1
        if self.change_in <= 0:
            self.move = (self.rng.choice((-1, 0, 1)), self.rng.choice((-1, 0, 1)))
            self.change_in = self.rng.randrange(8, 40)
        fire = 0
        w, slot = client.world, client.slot
        if w is not None and 0 <= slot and w.alive[slot]:
            p = w.config.max_players
            others = np.flatnonzero(w.alive[:p] & w.active[:p])
            others = others[others != slot]
            if len(others):
                d = w.pos[others].astype(np.int64) - w.pos[slot]
                dist2 = (d * d).sum(axis=1)
                k = int(np.argmin(dist2))
                want = aim_at(float(d[k, 0]), float(d[k, 1]))
                if min((want - self.aim) % 4096, (self.aim - want) % 4096) >= AIM_STEP:
                    self.aim = want
                if self.behaviour == "fight" and dist2[k] <= self.fire_range ** 2:
                    fire = 1
        return PlayerInput(self.move[0], self.move[1], self.aim, fire)


class LoadBrain:
    """For load bots that do not simulate: the same input statistics, drawn at random."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.move = (0, 0)
        self.aim = self.rng.randrange(4096)
        self.fire = 0

    def __call__(self, client) -> PlayerInput:
        r = self.rng.random()
        if r < 0.04:
            self.move = (self.rng.choice((-1, 0, 1)), self.rng.choice((-1, 0, 1)))
        elif r < 0.10:
            self.aim = (self.aim + self.rng.randrange(-300, 300)) % 4096
        elif r < 0.13:
            self.fire ^= 1
        return PlayerInput(self.move[0], self.move[1], self.aim, self.fire)
