"""checksum(world): a machine-independent crc32 of the tick and every state array."""

from __future__ import annotations

import struct
import zlib

from .world import STATE_FIELDS, World


def checksum(world: World) -> int:
    """crc32 (unsigned 32-bit int) over the tick (<u8) and each state array in STATE_FIELDS
    order, converted to its fixed little-endian dtype, so it matches across processes and CPUs."""
    crc = zlib.crc32(struct.pack("<Q", world.tick))
    for name, dt, _ in STATE_FIELDS:
        crc = zlib.crc32(getattr(world, name).astype(dt, copy=False).tobytes(), crc)
    return crc
