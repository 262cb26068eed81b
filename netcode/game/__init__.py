"""The Game interface under every netcode layer (docs/GAME_API.md).

A game declares its input record (``InputSchema``), its snapshot rows (``EntitySchema``) and a handful of
whole-array functions (``Game``); optional capabilities add lag compensation, bots, prediction, a feed
and a scoreboard. ``load_game`` finds built-in games by name and any other by ``package.module:attr``.
``fixed`` and ``rng`` are deterministic integer helpers for writing a game's simulation, ``StateCodec`` the
exact bytes of a structure-of-arrays world.
"""
from .api import (CAPABILITIES, MODES, BotBrain, EventFeed, Game, HasBots, LagCompensated, Predicted,
                  PredictionModel, Scored, capabilities, missing_members)
from .entities import EntitySchema, EntityView
from .inputs import InputField, InputSchema, analog, angle, axis, button, buttons, direction
from .registry import (BUILTIN, GameNotFound, announce, builtin_games, describe, fingerprint, load_game, resolve,
                       spec_of)
from .state import StateCodec

__all__ = [
    "BUILTIN", "BotBrain", "CAPABILITIES", "EntitySchema", "EntityView", "EventFeed", "Game", "GameNotFound",
    "HasBots", "InputField", "InputSchema", "LagCompensated", "MODES", "Predicted", "PredictionModel", "Scored", "StateCodec",
    "analog", "angle", "announce", "axis", "builtin_games", "button", "buttons", "capabilities", "describe",
    "direction", "fingerprint", "load_game", "missing_members", "resolve", "spec_of",
]
