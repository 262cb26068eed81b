"""The rollback sync test, in GGRS's manner: step a game with a given input stream, and after every frame load
the state of ``distance`` frames ago and step those frames again; every re-simulated frame must give the
checksum it gave the first time, and the run must end where a straight run (no rollbacks) ends.

It checks the two things rollback (netcode.lockstep.rollback) relies on: ``world_to_bytes`` captures the whole
state, and ``step`` depends on nothing else (no clock, no global RNG, no state outside the world). A game that
fails it would desync under rollback even on a perfect network; `netcode games --sync-test NAME` runs it.
"""
from __future__ import annotations

import attrs
import numpy as np

from .frames import apply_frame


@attrs.frozen
class SyncTestResult:
    """What the sync test found: ``ok``, and the first frame that re-simulated differently (-1: none)."""

    ok: bool
    frames: int
    distance: int
    resimulated: int
    first_mismatch: int = -1
    expected: int | None = None  # the first run's checksum of that frame
    got: int | None = None  # the re-simulation's
    straight_checksum: int | None = None
    rollback_checksum: int | None = None

    def describe(self) -> str:
        if self.ok:
            return (f"sync test passed: {self.frames} frames, a rollback of {self.distance} every frame "
                    f"({self.resimulated} frames re-simulated), final checksum {self.rollback_checksum:#010x}")
        if self.first_mismatch >= 0:
            return (f"sync test FAILED: frame {self.first_mismatch} re-simulated to checksum {self.got:#010x}, "
                    f"first run {self.expected:#010x}: step() depends on something world_to_bytes() does not "
                    f"capture (a clock, a global RNG, state outside the world)")
        return (f"sync test FAILED: the rolled-back run ended at checksum {self.rollback_checksum:#010x}, the "
                f"straight run at {self.straight_checksum:#010x}")


def bot_inputs(game, config, frames: int, seed: int = 1) -> list[bytes]:
    """A varied input stream for every slot: the game's own bot brain played blind, or random valid records."""
    schema = game.inputs
    players = config.max_players
    rng = np.random.default_rng(seed)
    bots = None
    if getattr(game, "bot_behaviours", None) and hasattr(game, "make_bot"):
        bots = [game.make_bot(seed * 1000 + i, game.bot_behaviours[-1]) for i in range(players)]
    out = []
    for _ in range(frames):
        if bots is not None:
            packed = np.array([b.blind() for b in bots], dtype=np.uint64)
        else:
            packed = np.array([schema.sanitize(rng.integers(-(1 << 12), 1 << 12, schema.n_fields))
                               for _ in range(players)], dtype=np.uint64)
        out.append(schema.encode_many(packed))
    return out


def sync_test(game, config, frames: int = 300, distance: int = 7, seed: int = 1,
              inputs: list[bytes] | None = None) -> SyncTestResult:
    """Run the sync test on ``game`` (every player slot seated at frame 1, then ``inputs`` or bot inputs)."""
    if distance < 1:
        raise ValueError("distance is at least 1 frame")
    records = inputs if inputs is not None else bot_inputs(game, config, frames, seed)
    frames = len(records)
    join = (1 << config.max_players) - 1

    def step(world, f: int) -> None:
        apply_frame(game, world, records[f - 1], join if f == 1 else 0)

    straight = game.new_world(config, seed)
    for f in range(1, frames + 1):
        step(straight, f)

    world = game.new_world(config, seed)
    saved = {0: game.world_to_bytes(world)}
    crcs: dict[int, int] = {}
    resimulated = 0
    for f in range(1, frames + 1):
        step(world, f)
        saved[f] = game.world_to_bytes(world)
        crcs[f] = game.checksum(world)
        back = max(0, f - distance)
        world = game.world_from_bytes(config, saved[back])
        for g in range(back + 1, f + 1):
            step(world, g)
            resimulated += 1
            crc = game.checksum(world)
            if crc != crcs[g]:
                return SyncTestResult(False, frames, distance, resimulated, g, crcs[g], crc)
        saved.pop(f - distance - 1, None)
    return SyncTestResult(game.checksum(world) == game.checksum(straight), frames, distance, resimulated,
                          straight_checksum=game.checksum(straight), rollback_checksum=game.checksum(world))
