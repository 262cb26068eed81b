"""SimConfig: every rule of the arena, in integer units, plus its plain-dict form (the match seed is the world's)."""

from __future__ import annotations

import operator
from typing import Any

import attrs

from ...game.fixed import SUBPX, max_per_tick
from ...game.registry import fingerprint

# Bumped whenever step() semantics change, so replays/handshakes from another
# simulation version are rejected instead of desyncing.
SIM_VERSION = 1

Rect = tuple[int, int, int, int]


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an int, got a bool")
    return operator.index(value)


def _int_pair(value: Any) -> tuple[int, int]:
    lo, hi = value
    return (_int(lo), _int(hi))


def _walls(value: Any) -> tuple[Rect, ...]:
    out = []
    for rect in value:
        x0, y0, x1, y1 = rect
        out.append((_int(x0), _int(y0), _int(x1), _int(y1)))
    return tuple(out)


def default_walls(width: int, height: int) -> tuple[Rect, ...]:
    """Four L-shaped corners, a central block and two side bars, scaled to the arena."""
    w, h, t = width, height, 48
    a, b, c, d = w * 3 // 16, w * 6 // 16, w * 10 // 16, w * 13 // 16
    e, f, g, k = h * 3 // 16, h * 6 // 16, h * 10 // 16, h * 13 // 16
    return (
        (a, e, b, e + t), (a, e, a + t, f),            # top-left L
        (c, e, d, e + t), (d - t, e, d, f),            # top-right L
        (a, k - t, b, k), (a, g, a + t, k),            # bottom-left L
        (c, k - t, d, k), (d - t, g, d, k),            # bottom-right L
        (w * 7 // 16, h * 7 // 16, w * 9 // 16, h * 9 // 16),  # centre block
        (w * 1 // 16, h // 2 - t // 2, w * 3 // 16 - t, h // 2 + t // 2),   # left bar
        (w * 13 // 16 + t, h // 2 - t // 2, w * 15 // 16, h // 2 + t // 2),  # right bar
    )


@attrs.frozen(kw_only=True)
class SimConfig:
    """Immutable game rules. Distances in pixels, speeds in pixels/second, times in ticks."""

    width: int = attrs.field(default=4096, converter=_int)
    height: int = attrs.field(default=4096, converter=_int)
    walls: tuple[Rect, ...] = attrs.field(
        default=attrs.Factory(lambda self: default_walls(self.width, self.height), takes_self=True),
        converter=_walls,
    )
    max_players: int = attrs.field(default=256, converter=_int)
    npc_count: int = attrs.field(default=0, converter=_int)
    tick_rate: int = attrs.field(default=60, converter=_int)
    player_speed: int = attrs.field(default=240, converter=_int)
    npc_speed: int = attrs.field(default=96, converter=_int)
    player_radius: int = attrs.field(default=12, converter=_int)
    npc_radius: int = attrs.field(default=10, converter=_int)
    player_hp: int = attrs.field(default=100, converter=_int)
    npc_hp: int = attrs.field(default=50, converter=_int)
    fire_cooldown_ticks: int = attrs.field(default=10, converter=_int)
    weapon_damage: int = attrs.field(default=25, converter=_int)
    weapon_range: int = attrs.field(default=1200, converter=_int)
    respawn_ticks: int = attrs.field(default=180, converter=_int)
    # Inclusive [min, max] durations of an NPC's walk and pause; equal means keep ~half idle.
    npc_move_ticks: tuple[int, int] = attrs.field(default=(30, 150), converter=_int_pair)
    npc_idle_ticks: tuple[int, int] = attrs.field(default=(30, 150), converter=_int_pair)

    def __attrs_post_init__(self) -> None:
        def check(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"the arena's rules: {msg}")

        # Coordinates stay below 2**20 sub-px so int32 state and int64 ray math never overflow.
        check(256 <= self.width <= 32768 and 256 <= self.height <= 32768, "width/height must be in [256, 32768] px")
        check(1 <= self.max_players <= 4096, "max_players must be in [1, 4096]")
        check(0 <= self.npc_count <= 1_000_000, "npc_count must be in [0, 1_000_000]")
        check(1 <= self.tick_rate <= 1000, "tick_rate must be in [1, 1000]")
        check(1 <= self.player_radius <= 256 and 1 <= self.npc_radius <= 256, "radii must be in [1, 256] px")
        for name, radius in (("player", self.player_radius), ("npc", self.npc_radius)):
            speed = getattr(self, f"{name}_speed")
            check(speed >= 0, f"{name}_speed must be >= 0")
            # A step shorter than the radius can never carry a centre into a wall,
            # so push-out always goes back the way the entity came (no tunnelling).
            check(max_per_tick(speed * SUBPX, self.tick_rate) < radius * SUBPX,
                  f"{name}_speed per tick must be shorter than {name}_radius")
        check(1 <= self.player_hp <= 32767 and 1 <= self.npc_hp <= 32767, "hp must be in [1, 32767]")
        check(0 <= self.weapon_damage <= 32767, "weapon_damage must be in [0, 32767]")
        check(1 <= self.weapon_range <= 65536, "weapon_range must be in [1, 65536] px")
        check(0 <= self.fire_cooldown_ticks <= 32767, "fire_cooldown_ticks must be in [0, 32767]")
        check(1 <= self.respawn_ticks <= 32767, "respawn_ticks must be in [1, 32767]")
        for name in ("npc_move_ticks", "npc_idle_ticks"):
            lo, hi = getattr(self, name)
            check(1 <= lo <= hi <= 32767, f"{name} must satisfy 1 <= min <= max <= 32767")
        check(len(self.walls) <= 64, "at most 64 walls")
        for x0, y0, x1, y1 in self.walls:
            check(0 <= x0 < x1 <= self.width and 0 <= y0 < y1 <= self.height,
                  f"wall {(x0, y0, x1, y1)} must be a non-empty rect inside the arena")

    @property
    def num_entities(self) -> int:
        return self.max_players + self.npc_count

    @classmethod
    def arena(cls, npc_count: int = 0, **overrides: Any) -> SimConfig:
        """The standard 4096x4096 arena."""
        return cls(npc_count=npc_count, **overrides)

    @classmethod
    def bench(cls, npc_count: int = 10_000, **overrides: Any) -> SimConfig:
        """Benchmark world: 10,000 drones on an 8192x8192 map."""
        overrides.setdefault("width", 8192)
        overrides.setdefault("height", 8192)
        return cls(npc_count=npc_count, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain ints and lists (msgpack/json safe), tagged with ``sim_version``."""
        out: dict[str, Any] = {"sim_version": SIM_VERSION}
        for field in attrs.fields(SimConfig):
            value = getattr(self, field.name)
            if field.name == "walls":
                value = [list(rect) for rect in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any) -> SimConfig:
        """Inverse of ``to_dict``; missing keys take defaults, anything malformed raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError("the arena's rules must be a map")
        data = dict(data)
        version = data.pop("sim_version", SIM_VERSION)
        if version != SIM_VERSION:
            raise ValueError(f"sim_version {version!r} != {SIM_VERSION}")
        names = {f.name for f in attrs.fields(SimConfig)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown arena rules: {sorted(map(str, unknown))}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid arena rules: {exc}") from exc

    def fingerprint(self) -> int:
        """crc32 of the canonical dict form; equal configs give equal fingerprints on any machine."""
        return fingerprint(self)
