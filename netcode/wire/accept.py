"""The map a match server puts in its transport ACCEPT (msgpack, at most 200 bytes, docs/PROTOCOL.md).

``{"mode": "state" | "lockstep", "tick_rate" | "frame_rate": int, "game": spec, "game_version": int}``:
enough for a client to pick the right session, or to say in words why it can't play, before any game
message arrives.
"""
from __future__ import annotations

import msgpack

MODE_NAMES = {"state": "state sync", "lockstep": "lockstep frame sync"}


def accept_info(payload: bytes) -> dict:
    """The ACCEPT map ({} for an empty or malformed payload: a server that names nothing)."""
    try:
        info = msgpack.unpackb(payload, raw=False)
    except Exception:  # msgpack raises several types for garbage
        return {}
    return info if isinstance(info, dict) else {}


def other_mode(payload: bytes, mine: str) -> str | None:
    """Why a ``mine`` ("state"/"lockstep") client can't play this server, in words; None when it can."""
    named = accept_info(payload).get("mode")
    if named not in MODE_NAMES or named == mine:
        return None
    return (f"the server runs {MODE_NAMES[named]}, not {MODE_NAMES[mine]}"
            f" (use --mode {named})")
