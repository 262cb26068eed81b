"""Football: two teams, a ball with momentum that players push and kick with a charged kick, goals and a score.

It differs from the arena in kind: no hitscan and no lag compensation, a server-owned object (the ball)
that every player's movement interacts with, an input of an 8-bit heading plus an analog throttle, and
entity rows with velocities and exact sub-pixel remainders. Prediction meets the ball: a client predicts
its own player and the ball it plays in its own time frame (prediction.py). ``GAME`` is the game.
"""
from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ...game.fixed import SUBPX, max_per_tick
from .bots import BEHAVIOURS, FootballBot
from .config import FOOTBALL_VERSION, FootballConfig
from .events import Goal, Kick
from .inputs import AIM, HEADING, INPUTS, KICK, THROTTLE
from .prediction import FootballPrediction
from .step import step
from .view import (ENTITIES, F_AIM, F_CHARGE, F_FLAGS, F_STAMINA, F_VX, F_VY, F_X, F_Y, FLAG_AWAY, FLAG_BALL,
                   FLAG_KICKED, FLAG_PRESENT, entity_view)
from .world import World, add_player, checksum, formation, layout, remove_player

__all__ = ["AIM", "BEHAVIOURS", "ENTITIES", "F_AIM", "F_CHARGE", "F_FLAGS", "F_STAMINA", "F_VX", "F_VY", "F_X", "F_Y",
           "FLAG_AWAY", "FLAG_BALL", "FLAG_KICKED", "FLAG_PRESENT", "FootballBot", "FootballConfig", "FootballGame",
           "GAME", "Goal", "HEADING", "INPUTS", "KICK", "Kick", "THROTTLE", "World", "add_player", "checksum",
           "formation", "remove_player", "step"]

_FIELDS = {f.name for f in attrs.fields(FootballConfig)}


class FootballGame:
    """Football as a netcode game: state sync, lockstep, prediction, bots, a goal feed and a scoreboard."""

    name = "football"
    version = FOOTBALL_VERSION
    description = "top-down football: two teams, a ball with momentum, charged kicks, goals"
    modes = ("state", "lockstep")
    inputs = INPUTS
    entities = ENTITIES
    options = {"width": "pitch width in px (1600)", "height": "pitch height in px (1000)",
               "goal_width": "goal mouth in px (260)",
               "...": "any other rule by name (netcode/games/football/config.py), e.g. kick_max=1500 or sprint_speed=200"}
    bot_behaviours = BEHAVIOURS
    score_columns = ("goals", "team")

    def make_config(self, *, mode: str, max_players: int, tick_rate: int, **options: Any) -> FootballConfig:
        if mode not in self.modes:
            raise ValueError(f"football has no mode {mode!r}")
        unknown = sorted(set(options) - _FIELDS - {"max_players", "tick_rate"})
        if unknown:
            raise ValueError(f"football has no option {unknown[0]!r} (options: any FootballConfig rule)")
        rules = {k: v for k, v in options.items() if k not in ("max_players", "tick_rate")}
        # times are seconds at any tick rate; a sprint step stays shorter than a player's radius
        rules.setdefault("charge_ticks", max(1, tick_rate))
        rules.setdefault("kick_cooldown", min(15, max(1, tick_rate // 5)))
        rules.setdefault("kickoff_ticks", tick_rate)
        radius = rules.get("player_radius", 14)
        rules.setdefault("sprint_speed", min(230, (radius - 1) * tick_rate))
        rules.setdefault("run_speed", min(160, rules["sprint_speed"]))
        rules.setdefault("walk_speed", min(90, rules["run_speed"]))
        try:
            return FootballConfig(max_players=max_players, tick_rate=tick_rate, **rules)
        except TypeError as e:
            raise ValueError(f"football option: {e}") from None

    def config_from_dict(self, data) -> FootballConfig:
        return FootballConfig.from_dict(data)

    def max_step(self, config: FootballConfig) -> int:
        return max(max_per_tick(config.sprint_speed * SUBPX, config.tick_rate),
                   max_per_tick(config.kick_max * SUBPX, config.tick_rate))

    # ------------------------------------------------------------------ the world

    def new_world(self, config: FootballConfig, seed: int) -> World:
        return World.new(config, seed)

    def add_player(self, world: World, slot: int | None = None) -> int:
        return add_player(world, slot)

    def remove_player(self, world: World, slot: int) -> None:
        remove_player(world, slot)

    def player_slots(self, world: World) -> np.ndarray:
        return world.active

    def step(self, world: World, inputs: np.ndarray) -> list:
        return step(world, inputs)

    def checksum(self, world: World) -> int:
        return checksum(world)

    def world_to_bytes(self, world: World) -> bytes:
        return world.to_bytes()

    def world_from_bytes(self, config: FootballConfig, data: bytes) -> World:
        return World.from_bytes(config, data)

    def world_layout(self, world: World) -> list[tuple[int, int]]:
        return layout(world.config.max_players)

    def entity_view(self, world: World):
        return entity_view(world)

    # ------------------------------------------------------------------ capabilities

    def make_bot(self, seed: int, behaviour: str = "play") -> FootballBot:
        return FootballBot(seed, behaviour)

    def prediction_model(self, config: FootballConfig, slot: int) -> FootballPrediction:
        return FootballPrediction(config, slot)

    def feed(self, world: World, events: list) -> list[list]:
        return [["goal", e.tick, e.team, e.scorer] for e in events if type(e) is Goal]

    def highlights(self, world: World, events: list) -> list[list]:
        return self.feed(world, events)

    def scores(self, world: World, slots: list[int]) -> list[list[int]]:
        return [[int(world.goals[s]), s % 2] for s in slots]


GAME = FootballGame()
