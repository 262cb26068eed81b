"""Applying one lockstep frame to a game's world: the one function server and clients share, so they cannot differ."""
from __future__ import annotations

import numpy as np


def frame_inputs(game, players: int, records: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(packed uint64 [P], int32 [P, F] inputs) of one frame's records for match slots 0..n-1 (= player slots
    of a world with ``players`` slots; slots beyond ``n``: no input)."""
    schema = game.inputs
    n = len(records) // schema.record_size
    packed = np.zeros(players, dtype=np.uint64)
    packed[:n] = schema.decode_many(records, n)
    return packed, schema.unpack_many(packed)


def apply_frame(game, world, records: bytes, join: int = 0, leave: int = 0, recorder=None, names=None) -> list:
    """Leaves, then joins, then one step with the frame's input records (slot i of the match = player slot i).

    ``recorder`` (a replay MatchRecorder) is told each leave, join and the step, in that order;
    ``names(slot)`` names a joining player for it."""
    n = len(records) // game.inputs.record_size
    if leave or join:
        seated = game.player_slots(world)
        for s in range(n):
            if leave >> s & 1 and seated[s]:
                game.remove_player(world, s)
                if recorder is not None:
                    recorder.on_leave(world.tick, s)
        seated = game.player_slots(world)
        for s in range(n):
            if join >> s & 1 and not seated[s]:
                game.add_player(world, s)
                if recorder is not None:
                    recorder.on_join(world.tick, s, names(s) if names else f"slot{s}")
    packed, inputs = frame_inputs(game, len(game.player_slots(world)), records)
    events = game.step(world, inputs)
    if recorder is not None:
        recorder.on_tick(world, packed, events)
    return events
