"""Tag: the game docs/GAME_API.md builds step by step, and the tests serve from outside netcode/.

Players run about a square field; whoever is "it" passes it on by touching someone. ``GAME`` has no
optional capability at all (no bots, prediction, lag compensation, feed or scoreboard): the core needs
nothing more. ``WITH_BOTS`` adds one capability, bot players, so ``netcode bots`` can play it.

Serve it from this folder:  netcode serve --game tag_game:GAME   (or tag_game:WITH_BOTS)
"""
from __future__ import annotations

import struct
import zlib

import attrs
import numpy as np

from netcode.game import EntitySchema, EntityView, InputSchema, axis, button


# 1. The rules of a match: frozen, plain values, to_dict() for handshakes and replays.
def _at_least_one(inst, attr, value):
    if not 1 <= value <= 1 << 16:
        raise ValueError(f"{attr.name} must be 1..65536, got {value}")


@attrs.frozen
class TagConfig:
    """The rules of a tag match."""

    max_players: int = attrs.field(default=8, validator=_at_least_one)
    tick_rate: int = attrs.field(default=30, validator=_at_least_one)
    size: int = attrs.field(default=300, validator=_at_least_one)  # field side in world units (1 unit per px)
    speed: int = attrs.field(default=5, validator=_at_least_one)  # units per tick
    radius: int = attrs.field(default=20, validator=_at_least_one)

    def to_dict(self) -> dict:
        return attrs.asdict(self)


# 2. The world: structure-of-arrays, one row per player slot, and the tick counter every layer reads.
@attrs.define(eq=False)
class TagWorld:
    """A tag match: who plays where, who is it."""

    config: TagConfig
    seed: int
    tick: int = 0
    pos: np.ndarray = None
    active: np.ndarray = None
    it: int = -1
    tags: int = 0

    def __attrs_post_init__(self):
        n = self.config.max_players
        self.pos = np.zeros((n, 2), np.int32) if self.pos is None else self.pos
        self.active = np.zeros(n, bool) if self.active is None else self.active


# 3. The game object: what the netcode calls.
class TagGame:
    """The whole of a game, in about a hundred lines."""

    name = "tag"
    version = 1
    description = "tag: touch someone to pass on being it"
    modes = ("state", "lockstep")
    inputs = InputSchema([axis("move_x"), axis("move_y"), button("sprint")])  # 2 + 2 + 1 bits: one byte
    entities = EntitySchema(("x", "y", "it"), units_per_px=1, view_radius=5000)
    options = {"size": "field side in px"}

    def make_config(self, *, mode, max_players, tick_rate, **options):
        return TagConfig(max_players=max_players, tick_rate=tick_rate, **options)

    def config_from_dict(self, data):
        try:
            return TagConfig(**{k: int(v) for k, v in data.items()})
        except (TypeError, ValueError) as e:
            raise ValueError(f"not a tag config: {e}") from None

    def new_world(self, config, seed):
        return TagWorld(config, seed)

    def add_player(self, world, slot=None):
        free = np.flatnonzero(~world.active)
        if slot is None:
            if not len(free):
                raise RuntimeError("full")
            slot = int(free[0])
        if not 0 <= slot < world.config.max_players or world.active[slot]:
            raise ValueError(f"slot {slot} is taken or out of range")
        world.active[slot] = True
        # randomness comes from the seed and the tick, never from a global RNG: every machine agrees
        h = zlib.crc32(struct.pack("<QQI", world.seed, world.tick, slot))
        world.pos[slot] = (h % world.config.size, (h >> 12) % world.config.size)
        if world.it < 0:
            world.it = slot
        return slot

    def remove_player(self, world, slot):
        if not 0 <= slot < world.config.max_players or not world.active[slot]:
            raise ValueError("not in use")
        world.active[slot] = False
        world.pos[slot] = 0
        if world.it == slot:
            rest = np.flatnonzero(world.active)
            world.it = int(rest[0]) if len(rest) else -1

    def player_slots(self, world):
        return world.active

    def step(self, world, inputs):
        c = world.config
        world.tick += 1
        move = np.clip(inputs[:, 0:2], -1, 1).astype(np.int32) * (c.speed * (1 + (inputs[:, 2:3] != 0)))
        world.pos[:] = np.clip(world.pos + move * world.active[:, None], 0, c.size)
        events = []
        if world.it >= 0:
            d = world.pos - world.pos[world.it]
            near = np.flatnonzero(world.active & ((d * d).sum(axis=1) < (2 * c.radius) ** 2))
            near = near[near != world.it]
            if len(near):
                events.append(("tag", world.tick, world.it, int(near[0])))
                world.it = int(near[0])
                world.tags += 1
        return events

    def checksum(self, world):
        return zlib.crc32(self.world_to_bytes(world))

    def world_to_bytes(self, world):
        return (struct.pack("<QQii", world.seed, world.tick, world.it, world.tags)
                + world.pos.astype("<i4").tobytes() + np.packbits(world.active).tobytes())

    def world_from_bytes(self, config, data):
        n = config.max_players
        if len(data) != 24 + 8 * n + (n + 7) // 8:
            raise ValueError("not a tag world")
        seed, tick, it, tags = struct.unpack_from("<QQii", data)
        pos = np.frombuffer(data, "<i4", 2 * n, 24).reshape(n, 2).astype(np.int32)
        bits = np.unpackbits(np.frombuffer(data, np.uint8, offset=24 + 8 * n))
        active = bits[:n].astype(bool)
        # bytes come from the network and from files: refuse what no match can reach
        if bits[n:].any() or tags < 0 or not (it == -1 or (0 <= it < n and active[it])) or (
                (pos < 0) | (pos > config.size)).any():
            raise ValueError("not a tag world")
        return TagWorld(config, seed, tick, pos, active, it, tags)

    def entity_view(self, world):
        n = world.config.max_players
        values = np.zeros((n, 3), np.int32)
        values[:, 0:2] = world.pos
        if world.it >= 0:
            values[world.it, 2] = 1
        return EntityView(values, world.pos, world.active.copy(), (world.config.size, world.config.size))

    def max_step(self, config):
        return 2 * config.speed


GAME = TagGame()


# 4. One optional capability: bots (netcode.game.HasBots). This brain walks a square and sprints now and then.
class Walker:
    """A scripted tag player: the same input stream whatever it sees."""

    def __init__(self, seed: int):
        self.i = seed % 4
        self.t = 0

    def decide(self, tick: int) -> int:
        mx, my = ((1, 0), (0, 1), (-1, 0), (0, -1))[(tick // 40 + self.i) % 4]
        return GAME.inputs.pack((mx, my, int((tick // 7 + self.i) % 3 == 0)))

    def from_world(self, world, slot):
        return self.decide(world.tick)

    def from_snapshot(self, config, ids, values, slot):
        self.t += 1
        return self.decide(self.t)

    def blind(self):
        self.t += 1
        return self.decide(self.t)


class TagWithBots(TagGame):
    """Tag, with bot players for ``netcode bots`` and the demo."""

    bot_behaviours = ("walk",)

    def make_bot(self, seed, behaviour="walk"):
        if behaviour != "walk":
            raise ValueError(f"tag bots only walk, not {behaviour!r}")
        return Walker(seed)


WITH_BOTS = TagWithBots()
