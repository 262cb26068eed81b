"""The arena: a deterministic integer 2D shooter in numpy structure-of-arrays (walls, hitscan, NPC drones).

``GAME`` is what the netcode serves (netcode.game.Game plus every optional capability): state sync with
lag-compensated hitscan, lockstep, prediction of one's own player, bots, a kill feed and a scoreboard.
The modules below are the simulation itself; tests and tools may use them directly.
"""
from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ...game.fixed import ANGLE_FULL, SUBPX, TRIG_ONE, direction, isqrt, max_per_tick
from .bots import BEHAVIOURS, ArenaBot, aim_at
from .checksum import checksum
from .combat import NO_HIT, ShotResolver, cast_ray, cast_rays, resolve_shots
from .config import SIM_VERSION, SimConfig
from .events import GameEvent, Hit, Kill, Respawn, ShotFired
from .geometry import KIND_NPC, KIND_PLAYER, entity_radii, walls_array
from .inputs import AIM, BUTTON_FIRE, FIRE, INPUTS, MOVE_X, MOVE_Y, InputBatch, PlayerInput, sanitize
from .lagcomp import hitboxes, local_shot, rewound_resolver
from .prediction import ArenaPrediction
from .step import step
from .view import ENTITIES, F_AIM, F_FLAGS, F_HP, F_X, F_Y, FLAG_ALIVE, FLAG_FIRED, FLAG_NPC, entity_view
from .world import World, WorldFullError, add_player, remove_player

__all__ = [
    "AIM", "ANGLE_FULL", "BEHAVIOURS", "BUTTON_FIRE", "ENTITIES", "FIRE", "FLAG_ALIVE", "FLAG_FIRED", "FLAG_NPC",
    "F_AIM", "F_FLAGS", "F_HP", "F_X", "F_Y", "GAME", "INPUTS", "KIND_NPC", "KIND_PLAYER", "MOVE_X", "MOVE_Y",
    "NO_HIT", "SIM_VERSION", "SUBPX", "TRIG_ONE", "ArenaBot", "ArenaGame", "GameEvent", "Hit", "InputBatch", "Kill",
    "PlayerInput", "Respawn", "ShotFired", "ShotResolver", "SimConfig", "World", "WorldFullError", "add_player",
    "aim_at", "cast_ray", "cast_rays", "checksum", "direction", "entity_radii", "isqrt", "lockstep_config",
    "remove_player", "resolve_shots", "sanitize", "step", "walls_array",
]

STATE_SLOTS = 256  # player slots of a state-sync world at least: drone entity ids don't depend on the seat count
_FIELDS = {f.name for f in attrs.fields(SimConfig)}


def lockstep_config(players: int = 10, frame_rate: int = 15, npcs: int = 0, **overrides: Any) -> SimConfig:
    """The arena rules scaled to a logic frame rate: speeds, cooldowns and respawn in seconds, not ticks."""
    overrides.setdefault("width", 2048)
    overrides.setdefault("height", 2048)
    # a step must stay shorter than the radius (12 px): 165 px/s at 15 Hz is 11 px per frame
    overrides.setdefault("player_speed", min(240, 11 * frame_rate))
    overrides.setdefault("npc_speed", min(96, 9 * frame_rate))
    overrides.setdefault("fire_cooldown_ticks", max(1, frame_rate // 6))
    overrides.setdefault("respawn_ticks", 3 * frame_rate)
    overrides.setdefault("npc_move_ticks", (max(1, frame_rate // 2), frame_rate * 5 // 2))
    overrides.setdefault("npc_idle_ticks", (max(1, frame_rate // 2), frame_rate * 5 // 2))
    return SimConfig(max_players=players, npc_count=npcs, tick_rate=frame_rate, **overrides)


class ArenaGame:
    """The arena shooter as a netcode game (see the package docstring)."""

    name = "arena"
    version = SIM_VERSION
    description = "2D arena shooter: walls, hitscan with server-side rewind, NPC drones"
    modes = ("state", "lockstep")
    inputs = INPUTS
    entities = ENTITIES
    options = {
        "npcs": "NPC drones (state sync default 200, lockstep 0); in state sync above 2000 the map grows to 8192 px",
        "width": "arena width in px (state sync 4096, lockstep 2048)",
        "height": "arena height in px",
        "...": "any other rule by name (netcode/games/arena/config.py), e.g. weapon_damage=50 or player_speed=200",
    }
    # LagCompensated
    action_field = "fire"
    # HasBots
    bot_behaviours = BEHAVIOURS
    # Scored
    score_columns = ("kills", "deaths")

    # ------------------------------------------------------------------ rules

    def make_config(self, *, mode: str, max_players: int, tick_rate: int, **options: Any) -> SimConfig:
        if mode not in self.modes:
            raise ValueError(f"the arena has no mode {mode!r}")
        rules = dict(options)
        if "npcs" in rules:
            rules["npc_count"] = rules.pop("npcs")
        unknown = sorted(set(rules) - _FIELDS - {"max_players", "tick_rate"})
        if unknown:
            raise ValueError(f"the arena has no option {unknown[0]!r} (options: npcs, width, height or any "
                             f"rule listed by `netcode games arena --json`)")
        for k in ("max_players", "tick_rate"):
            rules.pop(k, None)
        try:
            if mode == "lockstep":
                return lockstep_config(max_players, tick_rate, rules.pop("npc_count", 0), **rules)
            rules.setdefault("npc_count", 200)
            if rules["npc_count"] > 2000 and "width" not in rules and "height" not in rules:
                rules["width"] = rules["height"] = 8192  # the benchmark map: 10,000 drones need the room
            return SimConfig(max_players=max(STATE_SLOTS, max_players), tick_rate=tick_rate, **rules)
        except TypeError as e:
            raise ValueError(f"arena option: {e}") from None

    def config_from_dict(self, data) -> SimConfig:
        return SimConfig.from_dict(data)

    def max_step(self, config: SimConfig) -> int:
        return max_per_tick(max(config.player_speed, config.npc_speed) * SUBPX, config.tick_rate)

    # ------------------------------------------------------------------ the world

    def new_world(self, config: SimConfig, seed: int) -> World:
        return World.new(config, seed)

    def add_player(self, world: World, slot: int | None = None) -> int:
        return add_player(world, slot)

    def remove_player(self, world: World, slot: int) -> None:
        remove_player(world, slot)

    def player_slots(self, world: World) -> np.ndarray:
        return world.active[: world.config.max_players]

    def step(self, world: World, inputs: np.ndarray) -> list:
        return step(world, inputs)

    def checksum(self, world: World) -> int:
        return checksum(world)

    def world_to_bytes(self, world: World) -> bytes:
        return world.to_bytes()

    def world_from_bytes(self, config: SimConfig, data: bytes) -> World:
        return World.from_bytes(config, data)

    def world_layout(self, world: World) -> list[tuple[int, int]]:
        """How ``world_to_bytes`` splits into arrays (size, item size): replay keyframes store byte planes."""
        from .world import layout
        return layout(world.num_entities)

    def entity_view(self, world: World):
        return entity_view(world)

    # ------------------------------------------------------------------ lag compensation

    def hitboxes(self, world: World):
        return hitboxes(world)

    def step_rewound(self, world: World, inputs: np.ndarray, rewind) -> list:
        return step(world, inputs, rewound_resolver(rewind))

    def local_action(self, config: SimConfig, ids: np.ndarray, values: np.ndarray, actor: int, packed: int,
                     origin: tuple[int, int] | None = None) -> tuple[int, tuple[int, int]]:
        """Our own ray test against what is drawn (ids, snapshot rows): (entity hit or -1, end point)."""
        return local_shot(config, ids, values, actor, packed, origin)

    # ------------------------------------------------------------------ bots, prediction, feed, scores

    def make_bot(self, seed: int, behaviour: str = "fight") -> ArenaBot:
        return ArenaBot(seed, behaviour)

    def prediction_model(self, config: SimConfig, slot: int) -> ArenaPrediction:
        return ArenaPrediction(config, slot)

    def feed(self, world: World, events: list) -> list[list]:
        out = []
        p = world.config.max_players
        for ev in events:
            k = type(ev)
            if k is Kill:
                out.append(["kill", ev.tick, ev.killer, ev.victim])
            elif k is Hit:
                out.append(["hit", ev.tick, ev.shooter, ev.target, ev.damage])
            elif k is Respawn and ev.entity < p:
                out.append(["respawn", ev.tick, ev.entity])
        return out

    def highlights(self, world: World, events: list) -> list[list]:
        p = world.config.max_players
        return [["kill", ev.tick, ev.killer, ev.victim] for ev in events if type(ev) is Kill and ev.victim < p]

    def scores(self, world: World, slots: list[int]) -> list[list[int]]:
        return [[int(world.score[s]), int(world.deaths[s])] for s in slots]


GAME = ArenaGame()
