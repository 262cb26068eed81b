"""The football match state as numpy structure-of-arrays, player slots, formations and exact serialisation.

Player slot ``s`` plays for team ``s % 2``: team 0 (home) defends the left goal and scores in the right
one, team 1 (away) the other way round. Positions are int32 sub-pixels (``SUBPX`` per px). The ball's
position is sub-pixels plus a Q8 remainder per axis, its velocity Q8 sub-pixels per tick, so a slowing
ball rolls smoothly to rest with integer arithmetic only.
"""
from __future__ import annotations

import struct
import zlib

import attrs
import numpy as np

from ...game import rng
from ...game.fixed import SUBPX
from ...game.state import StateCodec
from .config import FootballConfig

# per-player arrays: name, on-wire dtype, per-entity shape (bools are bit-packed)
PLAYER_FIELDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("pos", "<i4", (2,)),
    ("vel", "<i4", (2,)),  # displacement applied last tick, sub-px
    ("aim", "<i2", ()),  # where the player faces / kicks, 0..4095
    ("charge", "<i2", ()),  # ticks the kick button has been held (0..charge_ticks)
    ("stamina", "<i2", ()),
    ("cooldown", "<i2", ()),  # ticks until the player may kick again
    ("active", "|b1", ()),
    ("goals", "<i4", ()),
)
_GLOBALS = struct.Struct("<6i i i 2i")  # ball pos, remainder, velocity; last touch; kickoff; score
# Bounds a loaded ball must keep (far beyond any real match: a forged one must not overflow the int32 state).
_MAX_BALL_SPEED = 1 << 26  # Q8 sub-px per tick
_MAX_BALL_OUT = 1 << 20  # sub-px outside the pitch
CODEC = StateCodec(b"NCFB", 1, PLAYER_FIELDS, tail=_GLOBALS.size, what="football snapshot")
FORMATION = 7  # purpose of the formation's jitter rolls


@attrs.define(eq=False)
class World:
    """The whole football match. ``ball``, ``ball_rem`` (Q8 remainder) and ``ball_vel`` (Q8 sub-px per tick) are
    int64 [2]; ``touch`` is the last player to touch the ball (-1 none), ``kickoff`` the ticks the ball still
    rests after a goal, ``score`` int64 [2] the teams' goals. ``kicked`` (bool [P], who kicked in the last step)
    is for snapshots only: not state, not checksummed, not serialised."""

    config: FootballConfig
    tick: int
    seed: int
    pos: np.ndarray
    vel: np.ndarray
    aim: np.ndarray
    charge: np.ndarray
    stamina: np.ndarray
    cooldown: np.ndarray
    active: np.ndarray
    goals: np.ndarray
    ball: np.ndarray
    ball_rem: np.ndarray
    ball_vel: np.ndarray
    touch: int = -1
    kickoff: int = 0
    score: np.ndarray = attrs.field(factory=lambda: np.zeros(2, dtype=np.int64))
    kicked: np.ndarray = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.kicked is None:
            self.kicked = np.zeros(len(self.active), dtype=bool)

    @property
    def team(self) -> np.ndarray:
        return np.arange(len(self.active)) % 2

    @classmethod
    def new(cls, config: FootballConfig, seed: int = 0) -> World:
        """A fresh match at tick 0: no players, the ball on the centre spot."""
        seed = int(seed)
        if not 0 <= seed < 1 << 64:
            raise ValueError("seed must be in [0, 2**64)")
        p = config.max_players
        arrays = {name: np.zeros((p,) + shape, dtype=np.dtype(dt).newbyteorder("=")) for name, dt, shape in PLAYER_FIELDS}
        w = cls(config=config, tick=0, seed=seed, ball=np.zeros(2, np.int64), ball_rem=np.zeros(2, np.int64),
                ball_vel=np.zeros(2, np.int64), **arrays)
        w.ball[:] = centre(config)
        return w

    def copy(self) -> World:
        return attrs.evolve(self, score=self.score.copy(), kicked=self.kicked.copy(), ball=self.ball.copy(),
                            ball_rem=self.ball_rem.copy(), ball_vel=self.ball_vel.copy(),
                            **{name: getattr(self, name).copy() for name, _, _ in PLAYER_FIELDS})

    # ------------------------------------------------------------------ bytes

    def to_bytes(self) -> bytes:
        return CODEC.encode(self, fingerprint=self.config.fingerprint(), seed=self.seed, tick=self.tick,
                            rows=len(self.active), tail=_globals(self))

    @classmethod
    def from_bytes(cls, config: FootballConfig, data) -> World:
        seed, tick, arrays, tail = CODEC.decode(data, fingerprint=config.fingerprint(), rows=config.max_players)
        w = cls.new(config, seed)
        w.tick = tick
        for name, a in arrays.items():
            getattr(w, name)[:] = a
        g = _GLOBALS.unpack(tail)
        w.ball[:], w.ball_rem[:], w.ball_vel[:] = g[0:2], g[2:4], g[4:6]
        w.touch, w.kickoff = g[6], g[7]
        w.score[:] = g[8:10]
        _validate(w)
        return w


def _globals(w: World) -> bytes:
    return _GLOBALS.pack(*w.ball.tolist(), *w.ball_rem.tolist(), *w.ball_vel.tolist(), w.touch, w.kickoff,
                         *w.score.tolist())


def _validate(w: World) -> None:
    c = w.config
    problems = []
    if (w.aim < 0).any() or (w.aim >= 4096).any():
        problems.append("aim out of range")
    if (w.charge < 0).any() or (w.charge > c.charge_ticks).any() or (w.cooldown < 0).any() or (
            w.cooldown > c.kick_cooldown).any():
        problems.append("kick state out of range")
    if (w.stamina < 0).any() or (w.stamina > c.stamina).any():
        problems.append("stamina out of range")
    if (((w.ball_rem < 0) | (w.ball_rem > 255)).any() or not -1 <= w.touch < c.max_players
            or not 0 <= w.kickoff <= c.kickoff_ticks or (np.abs(w.ball_vel) > _MAX_BALL_SPEED).any()
            or (w.ball < -_MAX_BALL_OUT).any() or (w.ball > max(c.width, c.height) * SUBPX + _MAX_BALL_OUT).any()):
        problems.append("ball state out of range")
    if (w.score < 0).any() or (w.score >= 1 << 31).any() or (w.goals < 0).any():
        problems.append("score out of range")
    if ((w.pos[:, 0] < 0) | (w.pos[:, 0] > c.width * SUBPX) | (w.pos[:, 1] < 0) | (w.pos[:, 1] > c.height * SUBPX)).any():
        problems.append("a player is off the pitch")
    if problems:
        raise ValueError("invalid football snapshot: " + ", ".join(problems))


def checksum(world: World) -> int:
    """crc32 of the tick and every state array in a fixed little-endian layout (equal on every machine)."""
    crc = zlib.crc32(struct.pack("<Q", world.tick))
    for name, dt, _ in PLAYER_FIELDS:
        crc = zlib.crc32(getattr(world, name).astype(dt, copy=False).tobytes(), crc)
    return zlib.crc32(_globals(world), crc)


def layout(players: int) -> list[tuple[int, int]]:
    """How ``to_bytes`` splits into parts (size, item size), for byte-planed replay keyframes."""
    return CODEC.layout(players, tail_item=4)


# ------------------------------------------------------------------ the pitch

def centre(config: FootballConfig) -> tuple[int, int]:
    return (config.width * SUBPX // 2, config.height * SUBPX // 2)


def formation(config: FootballConfig, slots, tick: int) -> np.ndarray:
    """Kick-off spots (int32 [n, 2] sub-px) of player ``slots``: three lines per team in its own half, spread
    down the pitch, with a few px of jitter drawn from the tick so two kick-offs never look the same.

    The jitter is keyed by the tick alone, not the match seed, so a client predicting its own player
    (which never learns the seed) lands on the same spot as the server."""
    s = np.asarray(slots, dtype=np.int64)
    k = s // 2
    line = np.array([15, 32, 44])[k % 3]  # percent of the width from the team's own goal line
    x = config.width * SUBPX * line // 100
    x = np.where(s % 2 == 0, x, config.width * SUBPX - x)
    y = config.height * SUBPX * ((k * 37) % 80 + 10) // 100
    jitter = rng.randint(0, tick, s, FORMATION, -8 * SUBPX, 8 * SUBPX + 1)
    return np.stack([x, y + jitter], axis=1).astype(np.int32)


def add_player(world: World, slot: int | None = None) -> int:
    p = world.config.max_players
    if slot is None:
        free = np.flatnonzero(~world.active)
        if not len(free):
            raise RuntimeError(f"all {p} player slots are in use")
        slot = int(free[0])
    if not 0 <= slot < p:
        raise ValueError(f"player slot {slot} out of range [0, {p})")
    if world.active[slot]:
        raise ValueError(f"player slot {slot} is already in use")
    _reset_slot(world, slot)
    world.active[slot] = True
    world.stamina[slot] = world.config.stamina
    world.aim[slot] = 0 if slot % 2 == 0 else 2048  # facing the goal it attacks
    world.pos[slot] = formation(world.config, [slot], world.tick)[0]
    return slot


def remove_player(world: World, slot: int) -> None:
    if not 0 <= slot < world.config.max_players:
        raise ValueError(f"player slot {slot} out of range")
    if not world.active[slot]:
        raise ValueError(f"player slot {slot} is not in use")
    _reset_slot(world, slot)
    if world.touch == slot:
        world.touch = -1


def _reset_slot(world: World, slot: int) -> None:
    for name, _, _ in PLAYER_FIELDS:
        getattr(world, name)[slot] = 0
