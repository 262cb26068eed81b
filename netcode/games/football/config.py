"""FootballConfig: the pitch, the players and the ball, in integer units (speeds per second, times in seconds
converted to ticks with the match's tick rate)."""
from __future__ import annotations

import operator
from typing import Any

import attrs

from ...game.fixed import SUBPX, max_per_tick
from ...game.registry import fingerprint

FOOTBALL_VERSION = 1


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an int, got a bool")
    return operator.index(value)


@attrs.frozen(kw_only=True)
class FootballConfig:
    """Every rule of a football match. Distances in px, speeds in px/s, times in ticks of ``tick_rate``."""

    max_players: int = attrs.field(default=10, converter=_int)
    tick_rate: int = attrs.field(default=60, converter=_int)
    width: int = attrs.field(default=1600, converter=_int)
    height: int = attrs.field(default=1000, converter=_int)
    goal_width: int = attrs.field(default=260, converter=_int)
    player_radius: int = attrs.field(default=14, converter=_int)
    ball_radius: int = attrs.field(default=8, converter=_int)
    walk_speed: int = attrs.field(default=90, converter=_int)  # throttle 1
    run_speed: int = attrs.field(default=160, converter=_int)  # throttle 2
    sprint_speed: int = attrs.field(default=230, converter=_int)  # throttle 3, while stamina lasts
    stamina: int = attrs.field(default=3000, converter=_int)  # units; sprinting uses 1000 per second
    stamina_regen: int = attrs.field(default=500, converter=_int)  # units per second when not sprinting
    kick_min: int = attrs.field(default=320, converter=_int)  # ball speed of a tap, px/s
    kick_max: int = attrs.field(default=1250, converter=_int)  # of a full charge
    charge_ticks: int = attrs.field(default=60, converter=_int)  # ticks of holding kick to a full charge
    kick_reach: int = attrs.field(default=10, converter=_int)  # px beyond touching the ball a kick reaches
    kick_cooldown: int = attrs.field(default=12, converter=_int)  # ticks (at most 15: 4 bits of the flags)
    ball_friction: int = attrs.field(default=29491, converter=_int)  # speed lost per second, Q16 (0.45)
    wall_bounce: int = attrs.field(default=154, converter=_int)  # speed kept off the boards, Q8 (0.6)
    player_bounce: int = attrs.field(default=128, converter=_int)  # restitution off a player, Q8 (0.5)
    kickoff_ticks: int = attrs.field(default=60, converter=_int)  # the ball rests this long after a goal

    def __attrs_post_init__(self) -> None:
        def check(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"football's rules: {msg}")

        check(1 <= self.max_players <= 256, "max_players must be in 1..256")
        check(1 <= self.tick_rate <= 1000, "tick_rate must be in 1..1000")
        check(320 <= self.width <= 8192 and 240 <= self.height <= 8192, "the pitch must be 320..8192 x 240..8192 px")
        check(40 <= self.goal_width < self.height, "goal_width must be in 40..height-1 px")
        check(2 <= self.ball_radius <= 64 and 4 <= self.player_radius <= 64, "radii out of range")
        check(0 <= self.walk_speed <= self.run_speed <= self.sprint_speed <= 2000, "speeds must rise, at most 2000")
        # a player's step stays shorter than its radius: no tunnelling through each other
        check(max_per_tick(self.sprint_speed * SUBPX, self.tick_rate) < self.player_radius * SUBPX,
              "sprint_speed per tick must be shorter than player_radius")
        check(0 < self.kick_min <= self.kick_max <= 4000, "kick speeds must be in 1..4000 px/s, min <= max")
        check(1 <= self.charge_ticks <= 32767 and 0 <= self.kick_reach <= 64, "charge_ticks / kick_reach out of range")
        check(0 <= self.kick_cooldown <= 15, "kick_cooldown must be in 0..15 ticks")
        check(1 <= self.stamina <= 30000 and 0 <= self.stamina_regen <= 30000, "stamina out of range")
        check(0 <= self.ball_friction < 65536 and 0 <= self.wall_bounce <= 256 and 0 <= self.player_bounce <= 256,
              "friction and bounces out of range")
        check(0 <= self.kickoff_ticks <= 32767, "kickoff_ticks out of range")

    @property
    def num_entities(self) -> int:
        return self.max_players + 1  # every player slot, then the ball

    @property
    def ball(self) -> int:
        """The ball's entity id."""
        return self.max_players

    def to_dict(self) -> dict[str, Any]:
        return {"football_version": FOOTBALL_VERSION, **{f.name: getattr(self, f.name) for f in attrs.fields(FootballConfig)}}

    @classmethod
    def from_dict(cls, data: Any) -> FootballConfig:
        if not isinstance(data, dict):
            raise ValueError("football's rules must be a map")
        data = dict(data)
        if data.pop("football_version", FOOTBALL_VERSION) != FOOTBALL_VERSION:
            raise ValueError("football rules of another version")
        unknown = set(data) - {f.name for f in attrs.fields(FootballConfig)}
        if unknown:
            raise ValueError(f"unknown football rules: {sorted(map(str, unknown))}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as e:
            raise ValueError(f"invalid football rules: {e}") from None

    def fingerprint(self) -> int:
        return fingerprint(self)
