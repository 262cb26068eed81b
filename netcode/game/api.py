"""The Game interface: what a game gives the netcode, and nothing more (docs/GAME_API.md).

The netcode never owns game state (GGRS's rule): it asks the game to create, step, checksum and
serialise its world, and reads it only through whole-array views. A game is any object with the
members of ``Game``; each optional capability is a separate small protocol the core checks for with
``isinstance``:

* ``LagCompensated``: actions (shots) resolved against what the acting player saw (server-side rewind);
* ``HasBots``: a bot brain for ``netcode bots``, the demo and load tests;
* ``Predicted``: client-side prediction of the entities one's own input moves;
* ``EventFeed``: events worth showing (a kill feed) and keeping in replays;
* ``Scored``: a scoreboard.

Conventions every layer relies on:

* the world is opaque except ``world.tick``: the number of steps taken (0 for a new world);
* player slot ``s`` (``0 <= s < config.max_players``) is entity ``s`` of the entity view;
* the config is frozen and has ``max_players``, ``tick_rate`` and ``to_dict()`` (plain ints, strings,
  lists and dicts); its fingerprint is ``netcode.game.fingerprint(config)``;
* ``step`` is deterministic: the same world bytes and inputs give the same world bytes on any machine
  (integer or fixed-point numpy, no global RNG, no clock).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .entities import EntitySchema, EntityView
from .inputs import InputSchema

MODES = ("state", "lockstep")


@runtime_checkable
class Game(Protocol):
    """A deterministic game the netcode can serve in state sync, lockstep, replays and prediction."""

    name: str  # short registry name, e.g. "arena"
    version: int  # bumped whenever step() semantics change: replays and handshakes of another version are refused
    description: str  # one line for `netcode games`
    modes: tuple[str, ...]  # which of "state" and "lockstep" it supports
    inputs: InputSchema  # the per-player, per-tick input record
    entities: EntitySchema  # snapshot columns and which are the position
    options: Mapping[str, str]  # make_config options beyond the standard ones, name -> help

    def make_config(self, *, mode: str, max_players: int, tick_rate: int, **options: Any) -> Any:
        """The frozen config of a match in ``mode`` with ``max_players`` player slots at ``tick_rate`` steps per
        second; ``options`` are game-specific (see ``options``). ValueError, in words, for what it can't do."""

    def config_from_dict(self, data: Mapping[str, Any]) -> Any:
        """Inverse of ``config.to_dict()``; ValueError for anything malformed (it comes off the wire or a file)."""

    def new_world(self, config: Any, seed: int) -> Any:
        """A fresh world at tick 0 with no players; ``seed`` (0 <= seed < 2**64) drives all of its randomness."""

    def add_player(self, world: Any, slot: int | None = None) -> int:
        """Seat a player (the lowest free slot when ``slot`` is None); returns the slot. ValueError when taken or
        out of range, RuntimeError when the world is full."""

    def remove_player(self, world: Any, slot: int) -> None:
        """Free a player slot (ValueError if it is not in use)."""

    def player_slots(self, world: Any) -> np.ndarray:
        """bool ``[max_players]``: which player slots are in use."""

    def step(self, world: Any, inputs: np.ndarray) -> list:
        """Advance one tick in place; ``inputs`` is int32 ``[max_players, F]`` (``inputs.unpack_many``; free
        slots hold zeros). Returns the tick's events (game-defined immutable objects)."""

    def checksum(self, world: Any) -> int:
        """An unsigned 32-bit checksum of the whole state, equal on every machine for equal states."""

    def world_to_bytes(self, world: Any) -> bytes:
        """The exact state (lockstep catch-up, replay keyframes, rollback)."""

    def world_from_bytes(self, config: Any, data: bytes) -> Any:
        """Inverse of ``world_to_bytes`` for the same config; ValueError for anything else."""

    def entity_view(self, world: Any) -> EntityView:
        """Every entity's snapshot row, position and presence, as whole arrays (once per tick, shared by all)."""

    def max_step(self, config: Any) -> int:
        """The most world units any entity moves in one tick: a longer move is a teleport (respawn) that
        interpolation and smoothing show as a jump, not a slide."""


@runtime_checkable
class LagCompensated(Protocol):
    """Actions resolved against what the acting player saw: the server keeps a history of hitboxes and
    rewinds each claimed view exactly (``netcode.rewind``); the game resolves the action against it."""

    action_field: str  # the input field whose non-zero value is an action that carries the player's view

    def hitboxes(self, world: Any) -> tuple[np.ndarray, np.ndarray]:
        """(centres int32 ``[N, 2]``, hittable bool ``[N]``) of every entity after a step: the history."""

    def step_rewound(self, world: Any, inputs: np.ndarray, rewind: Any) -> list:
        """``step``, resolving each action through ``rewind`` (a ``netcode.rewind.RewindFrame``)."""

    def local_action(self, config: Any, ids: np.ndarray, values: np.ndarray, actor: int, packed: int,
                     origin: tuple[int, int] | None = None) -> tuple[int, tuple[int, int]]:
        """What the actor's own client sees its action do against the entities it draws (``ids``, snapshot
        rows ``values``): (entity hit or -1, end point). ``origin``: where the actor is drawn, if not in ``ids``."""


class BotBrain(Protocol):
    """Chooses one packed input per tick for one bot player."""

    def from_snapshot(self, config: Any, ids: np.ndarray, values: np.ndarray, slot: int) -> int:
        """Decide from what a state-sync client holds (its latest snapshot's ids and rows)."""

    def from_world(self, world: Any, slot: int) -> int:
        """Decide from the whole world (a lockstep client holds it)."""

    def blind(self) -> int:
        """Decide without seeing anything (load bots that keep no world): inputs with realistic statistics."""


@runtime_checkable
class HasBots(Protocol):
    """Bot players for ``netcode bots``, the demo and load tests."""

    bot_behaviours: tuple[str, ...]  # e.g. ("idle", "wander", "fight"); the first is the most passive

    def make_bot(self, seed: int, behaviour: str) -> BotBrain:
        """A brain (ValueError for an unknown behaviour)."""


class PredictionModel(Protocol):
    """A client's private simulation of the entities its own input moves (its player, and what it pushes).

    Optional members: ``observe(tick, rows, present)`` sees every snapshot holding our entities (to infer
    state snapshots don't carry); ``alive(row) -> bool`` says whether a row shows our entity alive, so a
    death or a respawn is drawn as a jump and not counted as a prediction error."""

    entities: tuple[int, ...]  # the entity ids predicted; the first is the player's own
    tick: int  # the tick of the predicted state

    def reset(self, tick: int, rows: np.ndarray, present: np.ndarray) -> None:
        """Load the server's state at ``tick``: snapshot rows ``[k, F]`` of ``entities`` (``present[i]`` False:
        not in the snapshot, keep predicting it)."""

    def step(self, packed: int) -> list:
        """Advance one tick with our input; returns the predicted events (for immediate effects)."""

    def rows(self) -> np.ndarray:
        """int32 ``[k, F]``: the predicted entities as snapshot rows (compared with the server's)."""


@runtime_checkable
class Predicted(Protocol):
    """Client-side prediction: the client steps its own inputs at once and reconciles with snapshots."""

    def prediction_model(self, config: Any, slot: int) -> PredictionModel:
        """A model predicting player ``slot``."""


@runtime_checkable
class EventFeed(Protocol):
    """Events worth telling players (a kill feed) and keeping in replays, as plain lists."""

    def feed(self, world: Any, events: list) -> list[list]:
        """``[kind, tick, ints...]`` items sent to every client after a tick (state sync EVENTS)."""

    def highlights(self, world: Any, events: list) -> list[list]:
        """``[kind, tick, ints...]`` items a replay keeps so viewers can list them without simulating."""


@runtime_checkable
class Scored(Protocol):
    """A scoreboard: named integer columns per player."""

    score_columns: tuple[str, ...]

    def scores(self, world: Any, slots: list[int]) -> list[list[int]]:
        """One row of ``len(score_columns)`` ints per slot."""


CAPABILITIES = {"lag_compensation": LagCompensated, "bots": HasBots, "prediction": Predicted,
                "event_feed": EventFeed, "scoreboard": Scored}
REQUIRED = ("name", "version", "description", "modes", "inputs", "entities", "options", "make_config",
            "config_from_dict", "new_world", "add_player", "remove_player", "player_slots", "step", "checksum",
            "world_to_bytes", "world_from_bytes", "entity_view", "max_step")


def capabilities(game: Any) -> tuple[str, ...]:
    """Names of the optional capabilities ``game`` has."""
    return tuple(name for name, proto in CAPABILITIES.items() if isinstance(game, proto))


def missing_members(game: Any) -> list[str]:
    """What ``game`` lacks of the ``Game`` protocol (empty: it is a game)."""
    out = [m for m in REQUIRED if not hasattr(game, m)]
    if not out:
        if not isinstance(game.inputs, InputSchema):
            out.append("inputs (an InputSchema)")
        if not isinstance(game.entities, EntitySchema):
            out.append("entities (an EntitySchema)")
        if not game.modes or any(m not in MODES for m in game.modes):
            out.append(f"modes (a non-empty subset of {MODES})")
    return out
