"""World: the complete simulation state as numpy structure-of-arrays, plus player slots and serialisation."""

from __future__ import annotations


import attrs
import numpy as np

from ...game import rng
from ...game.fixed import ANGLE_FULL, ANGLE_MASK
from ...game.state import StateCodec
from . import rolls
from .config import SimConfig
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
# "kind" is derived from the config: not serialised
CODEC = StateCodec(b"NCSW", 2, [f for f in STATE_FIELDS if f[0] != "kind"])


class WorldFullError(RuntimeError):
    """No free player slot."""


@attrs.define(eq=False)
class World:
    """Whole game state. Index ``[0, max_players)`` are player slots, the rest NPC drones.

    pos/vel int32 [N, 2] sub-px (vel = displacement applied last tick), aim int16 angle,
    hp int16, alive/active bool, kind uint8 (0 player, 1 npc), cooldown/respawn int16
    ticks remaining, score/deaths int32, wander_dir int16 (NPC heading, -1 = idle),
    wander_timer int16 (ticks left in the current NPC walk/pause).  ``tick`` counts steps; ``seed``
    drives every random roll of the match.  ``fired`` (bool [N], who shot in the last step) is for
    snapshots only: it is not part of the state, the checksum or ``to_bytes``.
    """

    config: SimConfig
    tick: int
    seed: int
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
    fired: np.ndarray = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.fired is None:
            self.fired = np.zeros(len(self.alive), dtype=bool)

    @classmethod
    def _zeros(cls, config: SimConfig, seed: int, tick: int = 0) -> World:
        n = config.num_entities
        arrays = {name: np.zeros((n,) + shape, dtype=np.dtype(dt).newbyteorder("="))
                  for name, dt, shape in STATE_FIELDS}
        arrays["kind"][:] = geometry(config).kind
        return cls(config=config, tick=tick, seed=seed, **arrays)

    @classmethod
    def new(cls, config: SimConfig, seed: int = 0) -> World:
        """Fresh world at tick 0: no players, every NPC alive at a spawn point drawn from ``seed``."""
        seed = int(seed)
        if not 0 <= seed < 1 << 64:
            raise ValueError("seed must be in [0, 2**64)")
        w = cls._zeros(config, seed)
        p, n = config.max_players, config.num_entities
        if n > p:
            idx = np.arange(p, n)
            w.pos[p:] = spawn_positions(config, seed, 0, idx)
            w.alive[p:] = True
            w.active[p:] = True
            w.hp[p:] = config.npc_hp
            # Random phase per drone so walks/pauses are desynchronised from tick 1.
            h = rng.hash64(seed, 0, idx, rolls.NPC_INIT)
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
        return attrs.evolve(self, fired=self.fired.copy(),
                            **{name: getattr(self, name).copy() for name, _, _ in STATE_FIELDS})

    def to_bytes(self) -> bytes:
        """Exact, compact little-endian snapshot (bools bit-packed, crc32 trailer; netcode.game.state)."""
        return CODEC.encode(self, fingerprint=self.config.fingerprint(), seed=self.seed, tick=self.tick,
                            rows=self.num_entities)

    @classmethod
    def from_bytes(cls, config: SimConfig, data: bytes) -> World:
        """Inverse of ``to_bytes`` for the same config; anything malformed raises ValueError."""
        seed, tick, arrays, _ = CODEC.decode(data, fingerprint=config.fingerprint(), rows=config.num_entities,
                                             rules="a different SimConfig")
        w = cls._zeros(config, seed, tick)
        for name, a in arrays.items():
            getattr(w, name)[:] = a
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
    world.pos[slot] = spawn_positions(world.config, world.seed, world.tick, [slot], rolls.JOIN)[0]
    return slot


def remove_player(world: World, slot: int) -> None:
    """Free a player slot; its state is zeroed so checksums don't depend on who left."""
    if not 0 <= slot < world.config.max_players:
        raise ValueError(f"player slot {slot} out of range")
    if not world.active[slot]:
        raise ValueError(f"player slot {slot} is not in use")
    _reset_slot(world, slot)



def layout(num_entities: int) -> list[tuple[int, int]]:
    """How ``World.to_bytes()`` splits into its header, arrays and trailer: (size, item size) per part.
    Replay keyframes store each array as byte planes (all low bytes, then all high bytes), which deflate well."""
    return CODEC.layout(num_entities)
