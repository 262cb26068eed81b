"""Applying one lockstep frame to a World: the one function server and clients share, so they cannot differ."""
from __future__ import annotations

import numpy as np

from ..sim import InputBatch, World, add_player, remove_player, step

NO_INPUT = 5  # code of move (0, 0), no buttons
_LUT_X = np.array([(c & 3) - 1 for c in range(256)], dtype=np.int8)
_LUT_Y = np.array([((c >> 2) & 3) - 1 for c in range(256)], dtype=np.int8)
_LUT_B = np.array([(c >> 4) & 1 for c in range(256)], dtype=np.uint8)


def apply_frame(world: World, codes: bytes, aims, join: int = 0, leave: int = 0, recorder=None,
                names=None) -> list:
    """Leaves, then joins, then one step with the frame's inputs (slot i of the match = player slot i).

    ``recorder`` (a replay MatchRecorder) is told each leave, join and the step, in that order;
    ``names(slot)`` names a joining player for it."""
    n = len(codes)
    if leave:
        for s in range(n):
            if leave >> s & 1 and world.active[s]:
                remove_player(world, s)
                if recorder is not None:
                    recorder.on_leave(world.tick, s)
    if join:
        for s in range(n):
            if join >> s & 1 and not world.active[s]:
                add_player(world, s)
                if recorder is not None:
                    recorder.on_join(world.tick, s, names(s) if names else f"slot{s}")
    batch = frame_batch(world.config, codes, aims)
    events = step(world, batch)
    if recorder is not None:
        recorder.on_tick(world, batch, events)
    return events


def frame_batch(config, codes: bytes, aims) -> InputBatch:
    """The InputBatch of one frame's input codes and aims (slots beyond ``len(codes)``: no input)."""
    n = len(codes)
    c = np.frombuffer(codes, dtype=np.uint8)
    batch = InputBatch.empty(config)
    batch.move[:n, 0] = _LUT_X[c]
    batch.move[:n, 1] = _LUT_Y[c]
    batch.buttons[:n] = _LUT_B[c]
    batch.aim[:n] = np.asarray(aims, dtype=np.int16)
    return batch


def lockstep_sim(players: int = 10, frame_rate: int = 15, seed: int = 1, npcs: int = 0, **overrides):
    """The arena rules scaled to a logic frame rate: speeds, cooldowns and respawn in seconds, not ticks."""
    from ..sim import SimConfig
    overrides.setdefault("width", 2048)
    overrides.setdefault("height", 2048)
    # a step must stay shorter than the radius (12 px): 165 px/s at 15 Hz is 11 px per frame
    overrides.setdefault("player_speed", min(240, 11 * frame_rate))
    overrides.setdefault("npc_speed", min(96, 9 * frame_rate))
    overrides.setdefault("fire_cooldown_ticks", max(1, frame_rate // 6))
    overrides.setdefault("respawn_ticks", 3 * frame_rate)
    overrides.setdefault("npc_move_ticks", (max(1, frame_rate // 2), frame_rate * 5 // 2))
    overrides.setdefault("npc_idle_ticks", (max(1, frame_rate // 2), frame_rate * 5 // 2))
    return SimConfig(max_players=players, npc_count=npcs, seed=seed, tick_rate=frame_rate, **overrides)
