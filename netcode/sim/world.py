"""World: the complete simulation state as numpy structure-of-arrays, plus player slots and serialisation."""

from __future__ import annotations

import struct
import zlib

import attrs
import numpy as np

from . import rng
from .config import SimConfig
from .fixed import ANGLE_FULL, ANGLE_MASK
from .geometry import geometry, spawn_positions

# Every state array, its on-wire dtype and per-entity shape, in the fixed order
# used by to_bytes and checksum.  "kind" is derived from the config, so it is
# checksummed but not serialised.
STATE_FIELDS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("pos", "<i4", (2,)),
    ("vel", "<i4", (2,)),
    ("aim", "<i2", ()),
    ("hp", "<i2", ()),
    ("alive", "|b1", ()),
    ("active", "|b1", ()),
    ("kind", "|u1", ()),
    ("cooldown", "<i2", ()),
    ("respawn", "<i2", ()),
    ("score", "<i4", ()),
    ("deaths", "<i4", ()),
    ("wander_dir", "<i2", ()),
    ("wander_timer", "<i2", ()),
)
_MAGIC = b"NCSW"
_FORMAT = 1
_HEADER = struct.Struct("<4sHIQI")  # magic, format, config fingerprint, tick, entity count
_TRAILER = struct.Struct("<I")       # crc32 of everything before it


class WorldFullError(RuntimeError):
    """No free player slot."""


@attrs.define(eq=False)
class World:
    """Whole game state. Index ``[0, max_players)`` are player slots, the rest NPC drones.

    pos/vel int32 [N, 2] sub-px (vel = displacement applied last tick), aim int16 angle,
    hp int16, alive/active bool, kind uint8 (0 player, 1 npc), cooldown/respawn int16
    ticks remaining, score/deaths int32, wander_dir int16 (NPC heading, -1 = idle),
    wander_timer int16 (ticks left in the current NPC walk/pause).  ``tick`` counts steps.
    """

    config: SimConfig
    tick: int
    pos: np.ndarray
    vel: np.ndarray
    aim: np.ndarray
    hp: np.ndarray
    alive: np.ndarray
    active: np.ndarray
    kind: np.ndarray
    cooldown: np.ndarray
    respawn: np.ndarray
    score: np.ndarray
    deaths: np.ndarray
    wander_dir: np.ndarray
    wander_timer: np.ndarray

    @classmethod
    def _zeros(cls, config: SimConfig, tick: int = 0) -> World:
        n = config.num_entities
        arrays = {name: np.zeros((n,) + shape, dtype=np.dtype(dt).newbyteorder("="))
                  for name, dt, shape in STATE_FIELDS}
        arrays["kind"][:] = geometry(config).kind
        return cls(config=config, tick=tick, **arrays)

    @classmethod
    def new(cls, config: SimConfig) -> World:
        """Fresh world at tick 0: no players, every NPC alive at a seeded spawn point."""
        w = cls._zeros(config)
        p, n = config.max_players, config.num_entities
        if n > p:
            idx = np.arange(p, n)
            w.pos[p:] = spawn_positions(config, 0, idx)
            w.alive[p:] = True
            w.active[p:] = True
            w.hp[p:] = config.npc_hp
            # Random phase per drone so walks/pauses are desynchronised from tick 1.
            h = rng.hash64(config.seed, 0, idx, rng.NPC_INIT)
            moving = (h & np.uint64(1)).astype(bool)
            heading = ((h >> np.uint64(1)) & np.uint64(ANGLE_MASK)).astype(np.int16)
            move_t = 1 + rng.below(h, config.npc_move_ticks[1])
            idle_t = 1 + rng.below(h, config.npc_idle_ticks[1])
            w.wander_dir[p:] = np.where(moving, heading, -1)
            w.wander_timer[p:] = np.where(moving, move_t, idle_t)
            w.aim[p:] = heading
        return w

    @property
    def num_entities(self) -> int:
        return len(self.alive)

    def copy(self) -> World:
        """Deep copy (arrays copied, config shared since it is immutable)."""
        return attrs.evolve(self, **{name: getattr(self, name).copy() for name, _, _ in STATE_FIELDS})

    def to_bytes(self) -> bytes:
        """Exact, compact little-endian snapshot (bools bit-packed, crc32 trailer)."""
        parts = [_HEADER.pack(_MAGIC, _FORMAT, self.config.fingerprint(), self.tick, self.num_entities)]
        for name, dt, _ in STATE_FIELDS:
            if name == "kind":
                continue
            a = getattr(self, name)
            parts.append(np.packbits(a).tobytes() if dt == "|b1" else a.astype(dt, copy=False).tobytes())
        body = b"".join(parts)
        return body + _TRAILER.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, config: SimConfig, data: bytes) -> World:
        """Inverse of ``to_bytes`` for the same config; anything malformed raises ValueError."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"world snapshot must be bytes, not {type(data).__name__}")
        data = bytes(data)
        n = config.num_entities
        sizes = []
        for name, dt, shape in STATE_FIELDS:
            if name == "kind":
                continue
            count = n * int(np.prod(shape, dtype=np.int64))
            sizes.append((name, dt, shape, (count + 7) // 8 if dt == "|b1" else count * np.dtype(dt).itemsize))
        expected = _HEADER.size + sum(s[3] for s in sizes) + _TRAILER.size
        if len(data) != expected:
            raise ValueError(f"world snapshot is {len(data)} bytes, expected {expected}")
        body, (crc,) = data[: -_TRAILER.size], _TRAILER.unpack(data[-_TRAILER.size :])
        if zlib.crc32(body) != crc:
            raise ValueError("world snapshot crc mismatch")
        magic, fmt, fingerprint, tick, count = _HEADER.unpack_from(body)
        if magic != _MAGIC or fmt != _FORMAT:
            raise ValueError("not a world snapshot of this format")
        if fingerprint != config.fingerprint() or count != n:
            raise ValueError("world snapshot was made with a different SimConfig")
        w = cls._zeros(config, tick)
        off = _HEADER.size
        for name, dt, shape, size in sizes:
            if dt == "|b1":
                chunk = np.frombuffer(body, dtype=np.uint8, count=size, offset=off)
                bits = np.unpackbits(chunk)
                if bits[n:].any():
                    raise ValueError(f"{name}: padding bits set")
                getattr(w, name)[:] = bits[:n].astype(bool)
            else:
                chunk = np.frombuffer(body, dtype=dt, count=size // np.dtype(dt).itemsize, offset=off)
                getattr(w, name)[:] = chunk.reshape((n,) + shape)
            off += size
        _validate(w)
        return w


def _validate(w: World) -> None:
    cfg, geom, p = w.config, geometry(w.config), w.config.max_players
    problems = []
    if (w.aim < 0).any() or (w.aim >= ANGLE_FULL).any():
        problems.append("aim out of range")
    if (w.alive & ~w.active).any() or not w.active[p:].all():
        problems.append("alive/active flags inconsistent")
    if (w.hp < 0).any() or (w.hp > geom.max_hp).any():
        problems.append("hp out of range")
    if (w.cooldown < 0).any() or (w.respawn < 0).any() or (w.respawn > cfg.respawn_ticks).any():
        problems.append("timers out of range")
    if ((w.wander_dir < -1).any() or (w.wander_dir >= ANGLE_FULL).any() or (w.wander_timer < 0).any()
            or (w.wander_dir[p:] >= 0)[~w.alive[p:]].any() or w.wander_dir[:p].any() or w.wander_timer[:p].any()):
        problems.append("wander state out of range")
    if (w.pos < 0).any() or (w.pos[:, 0] > geom.bounds[0]).any() or (w.pos[:, 1] > geom.bounds[1]).any():
        problems.append("position outside the arena")
    if problems:
        raise ValueError("invalid world snapshot: " + ", ".join(problems))


def _reset_slot(w: World, slot: int) -> None:
    for name, _, _ in STATE_FIELDS:
        if name != "kind":
            getattr(w, name)[slot] = 0


def add_player(world: World, slot: int | None = None) -> int:
    """Activate a player slot (lowest free one if ``slot`` is None) at a deterministic spawn; return it."""
    p = world.config.max_players
    if slot is None:
        free = np.flatnonzero(~world.active[:p])
        if not len(free):
            raise WorldFullError(f"all {p} player slots are in use")
        slot = int(free[0])
    if not 0 <= slot < p:
        raise ValueError(f"player slot {slot} out of range [0, {p})")
    if world.active[slot]:
        raise ValueError(f"player slot {slot} is already in use")
    _reset_slot(world, slot)
    world.active[slot] = True
    world.alive[slot] = True
    world.hp[slot] = world.config.player_hp
    world.pos[slot] = spawn_positions(world.config, world.tick, [slot], rng.JOIN)[0]
    return slot


def remove_player(world: World, slot: int) -> None:
    """Free a player slot; its state is zeroed so checksums don't depend on who left."""
    if not 0 <= slot < world.config.max_players:
        raise ValueError(f"player slot {slot} out of range")
    if not world.active[slot]:
        raise ValueError(f"player slot {slot} is not in use")
    _reset_slot(world, slot)

