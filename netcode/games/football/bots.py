"""Football bot brains: chase the ball, get behind it, charge a kick at the other goal.

``chase``: every bot runs at the ball and kicks it goalwards. ``play``: only the bot of each team nearest
the ball goes for it; the others hold a spot between their formation place and the ball. ``idle`` stands.
A brain decides from a snapshot (state sync: what the server sent), from the whole world (lockstep), or
blind (load bots: the input statistics of a player, drawn at random).
"""
from __future__ import annotations

import math
import random

import numpy as np

from ...game.fixed import SUBPX
from .inputs import INPUTS
from .view import F_FLAGS, F_STAMINA, F_X, F_Y, FLAG_BALL, FLAG_PRESENT
from .world import formation

BEHAVIOURS = ("idle", "chase", "play")


def angle_to(dx: float, dy: float, steps: int = 4096) -> int:
    return int(round(math.atan2(dy, dx) / (2 * math.pi) * steps)) % steps


class FootballBot:
    """One bot's brain (see the module docstring)."""

    def __init__(self, seed: int, behaviour: str = "play"):
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {', '.join(BEHAVIOURS)}, got {behaviour!r}")
        self.rng = random.Random(seed)
        self.behaviour = behaviour
        self.hold = 0  # ticks the kick has been held
        self.want = self.rng.randrange(4, 40)  # how long to charge this kick
        self.heading = self.rng.randrange(256)
        self.throttle = 0
        self.kick = 0
        self.aim = self.rng.randrange(4096)

    # ------------------------------------------------------------------ the decision

    def _decide(self, config, slot: int, me, ball, mates, stamina: int) -> int:
        if self.behaviour == "idle":
            return INPUTS.pack((self.heading, 0, 0, self.aim))
        team = slot % 2
        goal = (config.width * SUBPX if team == 0 else 0, config.height * SUBPX // 2)
        to_goal = (goal[0] - ball[0], goal[1] - ball[1])
        self.aim = angle_to(*to_goal)
        chaser = self.behaviour == "chase" or not len(mates) or all(
            (m[0] - ball[0]) ** 2 + (m[1] - ball[1]) ** 2 >= (me[0] - ball[0]) ** 2 + (me[1] - ball[1]) ** 2
            for m in mates)
        reach = (config.player_radius + config.ball_radius + config.kick_reach // 2) * SUBPX
        d2 = (ball[0] - me[0]) ** 2 + (ball[1] - me[1]) ** 2
        if chaser:
            # run to a point just behind the ball on the line from the goal, then into it
            n = math.hypot(*to_goal) or 1.0
            back = (config.player_radius + config.ball_radius) * SUBPX * 0.8
            target = (ball[0] - to_goal[0] / n * back, ball[1] - to_goal[1] / n * back)
            if d2 <= reach * reach:
                target = ball
        else:
            home = formation(config, [slot], 0)[0]
            target = ((int(home[0]) * 2 + ball[0]) / 3, (int(home[1]) * 2 + ball[1]) / 3)
        dx, dy = target[0] - me[0], target[1] - me[1]
        far = math.hypot(dx, dy)
        self.heading = angle_to(dx, dy, 256)
        self.throttle = 0 if far < 4 * SUBPX else (3 if far > 300 * SUBPX and stamina > 600 else 2)
        kick = 0
        if chaser and d2 <= reach * reach:
            self.hold += 1
            kick = 1 if self.hold <= self.want else 0
            if not kick:  # released: a new kick's charge next time
                self.hold = 0
                self.want = self.rng.randrange(4, 40)
        elif self.hold:
            self.hold = 0
        return INPUTS.pack((self.heading, self.throttle, kick, self.aim))

    # ------------------------------------------------------------------ the three views

    def from_world(self, world, slot: int) -> int:
        if world is None or not 0 <= slot < len(world.active) or not world.active[slot]:
            return INPUTS.pack((self.heading, 0, 0, self.aim))
        me = world.pos[slot].tolist()
        mates = [world.pos[s].tolist() for s in np.flatnonzero(world.active) if s % 2 == slot % 2 and s != slot]
        return self._decide(world.config, slot, me, world.ball.tolist(), mates, int(world.stamina[slot]))

    def from_snapshot(self, config, ids, values, slot: int) -> int:
        if ids is None or not len(ids):
            return INPUTS.pack((self.heading, 0, 0, self.aim))
        ids = np.asarray(ids)
        row = np.searchsorted(ids, slot)
        balls = np.flatnonzero(values[:, F_FLAGS] & FLAG_BALL)
        if row >= len(ids) or ids[row] != slot or not len(balls):
            return INPUTS.pack((self.heading, 0, 0, self.aim))
        me = values[row]
        players = np.flatnonzero((values[:, F_FLAGS] & (FLAG_PRESENT | FLAG_BALL)) == FLAG_PRESENT)
        mates = [values[i, F_X:F_Y + 1].tolist() for i in players if ids[i] % 2 == slot % 2 and ids[i] != slot]
        return self._decide(config, slot, me[F_X:F_Y + 1].tolist(), values[balls[0], F_X:F_Y + 1].tolist(), mates,
                            int(me[F_STAMINA]))

    def blind(self) -> int:
        r = self.rng.random()
        if r < 0.05:
            self.heading = (self.heading + self.rng.randrange(-40, 41)) % 256
            self.throttle = self.rng.choice((1, 2, 2, 3))
        elif r < 0.10:
            self.aim = (self.aim + self.rng.randrange(-300, 300)) % 4096
        elif r < 0.13:
            self.kick ^= 1
        return INPUTS.pack((self.heading, self.throttle, self.kick, self.aim))
