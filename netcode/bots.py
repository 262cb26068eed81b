"""Headless bot players: a small brain that reads what a client holds and chooses its inputs.

Bots decide from their client's decoded snapshots only, as a human would, so they exercise the
whole path: AOI, deltas, clock sync, redundant inputs.
"""
from __future__ import annotations

import math
import random

import numpy as np

from .sim import ANGLE_FULL, BUTTON_FIRE, PlayerInput
from .statesync.schema import F_FLAGS, F_X, F_Y, FLAG_ALIVE, FLAG_NPC

BEHAVIOURS = ("idle", "wander", "fight")
# ``--behaviour mixed``: mostly fighters, some walkers, a few AFK players.
DEFAULT_MIX = {"idle": 1, "wander": 2, "fight": 5}


def parse_mix(text: str) -> dict[str, int]:
    """Parse ``idle=1,wander=2,fight=5`` into weights; ValueError (one line) when malformed."""
    mix: dict[str, int] = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        name, sep, weight = part.partition("=")
        if name not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {name!r} in mix (known: {', '.join(BEHAVIOURS)})")
        if not sep:
            raise ValueError(f"expected BEHAVIOUR=WEIGHT in mix, got {part!r}")
        try:
            w = int(weight)
        except ValueError:
            raise ValueError(f"weight of {name} must be a whole number, got {weight!r}") from None
        if w < 0:
            raise ValueError(f"weight of {name} must be >= 0, got {w}")
        mix[name] = mix.get(name, 0) + w
    if not mix or sum(mix.values()) <= 0:
        raise ValueError(f"mix needs at least one weight > 0, e.g. idle=1,wander=2,fight=5 (got {text!r})")
    return mix


def assign_behaviours(count: int, mix: dict[str, int], seed: int = 1) -> list[str]:
    """``count`` behaviours in proportion to ``mix`` (largest remainder, so exact counts), seeded shuffle."""
    total = sum(mix.values())
    names = [n for n in BEHAVIOURS if mix.get(n, 0) > 0]
    exact = {n: count * mix[n] / total for n in names}
    counts = {n: int(exact[n]) for n in names}
    by_remainder = sorted(names, key=lambda n: (-(exact[n] - counts[n]), BEHAVIOURS.index(n)))
    for n in by_remainder[:count - sum(counts.values())]:
        counts[n] += 1
    out = [n for n in names for _ in range(counts[n])]
    random.Random(seed).shuffle(out)
    return out


def aim_at(dx: float, dy: float) -> int:
    """The integer angle (0..4095, 0 = +x, growing toward +y) pointing along (dx, dy)."""
    return int(round(math.atan2(dy, dx) / (2 * math.pi) * ANGLE_FULL)) % ANGLE_FULL


class BotBrain:
    """Chooses one PlayerInput per tick: wander, strafe, aim at the nearest visible target, shoot.

    behaviour: "idle" stands still, "wander" walks about, "fight" walks and shoots.
    """

    def __init__(self, seed: int, behaviour: str = "fight", fire_range_px: int = 500, subpx: int = 16):
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {BEHAVIOURS}")
        self.rng = random.Random(seed)
        self.behaviour = behaviour
        self.fire_range = fire_range_px * subpx
        self.move = (0, 0)
        self.change_in = 0
        self.aim = self.rng.randrange(ANGLE_FULL)

    def decide(self, table, slot: int) -> PlayerInput:
        if self.behaviour == "idle":
            return PlayerInput(0, 0, self.aim, 0)
        self.change_in -= 1
        if self.change_in <= 0:
            self.move = (self.rng.choice((-1, 0, 1)), self.rng.choice((-1, 0, 1)))
            self.change_in = self.rng.randrange(20, 90)
        fire = 0
        if table is not None and len(table):
            ids = table.ids
            row = np.searchsorted(ids, slot)
            if row < len(ids) and ids[row] == slot:
                me = table.values[row]
                vals = table.values
                alive = (vals[:, F_FLAGS] & FLAG_ALIVE) != 0
                alive[row] = False
                if alive.any():
                    d = vals[:, F_X:F_Y + 1].astype(np.int64) - me[F_X:F_Y + 1]
                    dist2 = (d * d).sum(axis=1)
                    # players first: they shoot back
                    npc = (vals[:, F_FLAGS] & FLAG_NPC) != 0
                    score = np.where(alive, dist2 + npc * (4 * self.fire_range) ** 2, np.iinfo(np.int64).max)
                    target = int(np.argmin(score))
                    self.aim = aim_at(float(d[target, 0]), float(d[target, 1]))
                    if self.behaviour == "fight" and dist2[target] <= self.fire_range ** 2:
                        fire = BUTTON_FIRE
        return PlayerInput(self.move[0], self.move[1], self.aim, fire)


def add_virtual_bots(net, server_addr, count: int, seed: int = 0, prefix: str = "bot") -> list:
    """`count` fighting bot players (StateSyncClient + BotBrain) joined to a server in a
    netcode.virtual.VirtualNetwork; each decides once per network step. Returns the clients."""
    from .statesync.client import StateSyncClient

    bots = []
    for i in range(count):
        c = StateSyncClient(server_addr, name=f"{prefix}{i}", nonce=i + 1)
        c.connect(net.now)
        net.add((prefix, i), c)
        bots.append((c, BotBrain(seed + i)))

    def play(now):
        for c, brain in bots:
            if c.welcome is not None:
                c.next_input = brain.decide(c.latest, c.welcome.slot)

    net.on_step.append(play)
    return [c for c, _ in bots]
