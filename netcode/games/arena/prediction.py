"""Predicting one's own arena player: a private world holding just our slot (no drones, no other players).

Player movement depends only on the player's own inputs, the walls and the tick number, so stepping that
small world with our inputs predicts it exactly; only hits by others and respawns come from the server.
"""
from __future__ import annotations

import attrs
import numpy as np

from .inputs import INPUTS
from .step import step
from .view import F_FLAGS, FLAG_ALIVE, FLAG_FIRED
from .world import World

_NO_RESPAWN = 32767  # a dead predicted player waits for the server to say where it respawned
_KEEP = 256  # ticks of predicted cooldowns kept


class ArenaPrediction:
    """The arena's PredictionModel for player ``slot`` (see netcode.game.PredictionModel)."""

    def __init__(self, config, slot: int):
        # Only slots up to ours exist, and no NPCs: a step costs tens of microseconds.
        self.config = attrs.evolve(config, npc_count=0, max_players=slot + 1)
        self.slot = slot
        self.entities = (slot,)
        self.world = World.new(self.config)
        self.world.active[slot] = True
        self._inputs = INPUTS.zeros(slot + 1)
        self._server_fired = -1  # the newest tick a snapshot showed us firing
        self._cooldowns: dict[int, int] = {}  # tick -> our predicted weapon cooldown after it

    @property
    def tick(self) -> int:
        return self.world.tick

    def observe(self, tick: int, rows: np.ndarray, present: np.ndarray) -> None:
        """Every snapshot holding us: remember when the server saw us fire (snapshots carry no cooldown)."""
        if present[0] and rows[0, F_FLAGS] & FLAG_FIRED:
            self._server_fired = tick

    def _cooldown_at(self, tick: int, flags: int) -> int:
        """Our weapon cooldown at the end of ``tick`` as the server has it. A shot at tick F leaves C ticks of
        cooldown, one less each tick after. Without this, a fire button held through one late input would keep
        every predicted shot a few ticks off the server's for as long as it stays held."""
        c = self.config.fire_cooldown_ticks
        if flags & FLAG_FIRED:
            return c
        since = tick - self._server_fired
        if self._server_fired >= 0 and 0 < since < c:
            return c - since
        return self._cooldowns.get(tick, 0)

    def reset(self, tick: int, rows: np.ndarray, present: np.ndarray) -> None:
        w, s = self.world, self.slot
        w.tick = tick
        if not present[0]:
            return
        x, y, aim, hp, flags = (int(v) for v in rows[0])
        alive = bool(flags & FLAG_ALIVE)
        w.pos[s] = (x, y)
        w.vel[s] = 0
        w.aim[s] = aim
        w.hp[s] = hp
        w.alive[s] = alive
        w.cooldown[s] = self._cooldown_at(tick, flags)
        w.respawn[s] = 0 if alive else _NO_RESPAWN
        w.fired[s] = bool(flags & FLAG_FIRED)

    def step(self, packed: int) -> list:
        s = self.slot
        self._inputs[s] = INPUTS.unpack(packed)
        events = step(self.world, self._inputs)
        t = self.world.tick
        self._cooldowns[t] = int(self.world.cooldown[s])
        if len(self._cooldowns) > 2 * _KEEP:  # ticks jump on a rebase: drop whatever is old, not just t - _KEEP
            self._cooldowns = {k: v for k, v in self._cooldowns.items() if k > t - _KEEP}
        return events

    @staticmethod
    def alive(row: np.ndarray) -> bool:
        """Whether a row shows us alive: a death or a respawn is a jump, not a prediction error."""
        return bool(row[F_FLAGS] & FLAG_ALIVE)

    def rows(self) -> np.ndarray:
        w, s = self.world, self.slot
        flags = (FLAG_ALIVE if w.alive[s] else 0) | (FLAG_FIRED if w.fired[s] else 0)
        return np.array([[w.pos[s, 0], w.pos[s, 1], w.aim[s], w.hp[s], flags]], dtype=np.int32)
