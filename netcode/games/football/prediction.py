"""Predicting one's own footballer and the ball it plays: a private match holding just our player and the ball.

Our movement depends only on our inputs (and on bumping others, which the server corrects); the ball is
a server-owned object, but each snapshot carries its exact state, so we roll it forward with our own
touches and kicks, drawn in our own time frame, and the server's word corrects what others did to it.
"""
from __future__ import annotations

import numpy as np

from .inputs import INPUTS
from .step import step
from .view import entity_view, load_ball, load_player
from .world import World


class FootballPrediction:
    """Football's PredictionModel for player ``slot``: entities (slot, the ball)."""

    def __init__(self, config, slot: int):
        self.config = config
        self.slot = slot
        self.entities = (slot, config.max_players)
        self.world = World.new(config)
        self.world.active[slot] = True
        self._inputs = INPUTS.zeros(config.max_players)

    @property
    def tick(self) -> int:
        return self.world.tick

    def reset(self, tick: int, rows: np.ndarray, present: np.ndarray) -> None:
        w = self.world
        w.tick = tick
        if present[0]:
            load_player(w, self.slot, rows[0])
            w.active[self.slot] = True
        if present[1]:
            load_ball(w, rows[1])

    def step(self, packed: int) -> list:
        self._inputs[self.slot] = INPUTS.unpack(packed)
        return step(self.world, self._inputs)

    def rows(self) -> np.ndarray:
        values = entity_view(self.world).values
        return values[list(self.entities)]
