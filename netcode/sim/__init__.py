"""Deterministic integer 2D arena-shooter simulation shared by server, lockstep, prediction and replays."""

from .checksum import checksum
from .combat import NO_HIT, ShotResolver, cast_ray, cast_rays, resolve_shots
from .config import SIM_VERSION, SimConfig
from .events import GameEvent, Hit, Kill, Respawn, ShotFired
from .fixed import ANGLE_FULL, SUBPX, TRIG_ONE, direction, isqrt
from .geometry import KIND_NPC, KIND_PLAYER, entity_radii, walls_array
from .inputs import BUTTON_FIRE, InputBatch, PlayerInput, sanitize
from .step import step
from .world import World, WorldFullError, add_player, remove_player

__all__ = [
    "ANGLE_FULL", "BUTTON_FIRE", "GameEvent", "Hit", "InputBatch", "KIND_NPC", "KIND_PLAYER", "Kill",
    "NO_HIT", "PlayerInput", "Respawn", "SIM_VERSION", "SUBPX", "ShotFired", "ShotResolver", "SimConfig",
    "TRIG_ONE", "World", "WorldFullError", "add_player", "cast_ray", "cast_rays", "checksum", "direction",
    "entity_radii", "isqrt", "remove_player", "resolve_shots", "sanitize", "step", "walls_array",
]
