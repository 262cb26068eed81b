"""Exact bytes of a structure-of-arrays world, for a game's ``world_to_bytes`` / ``world_from_bytes``.

Layout (little-endian): a header (4-byte magic, u16 format, u32 config fingerprint, u64 seed, u64 tick,
u32 row count), then each declared array in order (bool arrays bit-packed, ``np.packbits`` order, padding
bits zero; others as their declared dtype), then the game's own trailing bytes (scalars), then a crc32 of
everything before it. Lockstep catch-up, replay keyframes and rollback all move these bytes, so a reader
must refuse anything else: wrong length, crc, magic, format, fingerprint or row count raise ValueError.

``layout(n)`` tells the replay writer where each array starts and its item size, so keyframes are stored
as byte planes (all first bytes, then all second bytes...), which deflate much better (docs/REPLAY.md).
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

HEADER = struct.Struct("<4sHIQQI")  # magic, format, config fingerprint, seed, tick, rows
TRAILER = struct.Struct("<I")  # crc32 of everything before it


class StateCodec:
    """The byte layout of one game's world: ``fields`` are (name, dtype such as ``"<i4"`` or ``"|b1"``,
    per-row shape) of its arrays, ``tail`` the size of the game's trailing scalar bytes."""

    def __init__(self, magic: bytes, version: int, fields: Sequence[tuple[str, str, tuple[int, ...]]],
                 tail: int = 0, what: str = "world snapshot"):
        if len(magic) != 4:
            raise ValueError("magic must be 4 bytes")
        self.magic, self.version, self.tail, self.what = bytes(magic), int(version), int(tail), what
        self.fields = tuple((str(n), str(dt), tuple(shape)) for n, dt, shape in fields)

    def sizes(self, rows: int) -> list[tuple[str, str, tuple[int, ...], int]]:
        """(name, dtype, shape, bytes) of every array for ``rows`` rows."""
        out = []
        for name, dt, shape in self.fields:
            count = rows * int(np.prod(shape, dtype=np.int64))
            out.append((name, dt, shape, (count + 7) // 8 if dt == "|b1" else count * np.dtype(dt).itemsize))
        return out

    def size(self, rows: int) -> int:
        return HEADER.size + sum(s[3] for s in self.sizes(rows)) + self.tail + TRAILER.size

    def layout(self, rows: int, tail_item: int = 1) -> list[tuple[int, int]]:
        """(size, item size) of each part: the header, every array, the tail (if any) and the crc."""
        segs = [(HEADER.size, 1)]
        for _, dt, _, size in self.sizes(rows):
            segs.append((size, 1 if dt == "|b1" else np.dtype(dt).itemsize))
        if self.tail:
            segs.append((self.tail, tail_item))
        return segs + [(TRAILER.size, 1)]

    def encode(self, arrays: Mapping[str, np.ndarray] | object, *, fingerprint: int, seed: int, tick: int,
               rows: int, tail: bytes = b"") -> bytes:
        """The bytes of ``arrays`` (a mapping, or an object with the arrays as attributes)."""
        if len(tail) != self.tail:
            raise ValueError(f"tail is {len(tail)} bytes, the layout says {self.tail}")
        get = arrays.__getitem__ if isinstance(arrays, Mapping) else (lambda n: getattr(arrays, n))
        parts = [HEADER.pack(self.magic, self.version, fingerprint, seed, tick, rows)]
        for name, dt, _ in self.fields:
            a = get(name)
            parts.append(np.packbits(a).tobytes() if dt == "|b1" else a.astype(dt, copy=False).tobytes())
        parts.append(tail)
        body = b"".join(parts)
        return body + TRAILER.pack(zlib.crc32(body))

    def decode(self, data, *, fingerprint: int, rows: int, rules: str = "other rules"
               ) -> tuple[int, int, dict[str, np.ndarray], bytes]:
        """(seed, tick, arrays by name, tail bytes) of bytes made by ``encode``; ValueError for anything else.
        ``rules`` completes "... was made with" when the fingerprint or row count does not match."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"{self.what} must be bytes, not {type(data).__name__}")
        data = bytes(data)
        sizes = self.sizes(rows)
        expected = self.size(rows)
        if len(data) != expected:
            raise ValueError(f"{self.what} is {len(data)} bytes, expected {expected}")
        body, (crc,) = data[:-TRAILER.size], TRAILER.unpack(data[-TRAILER.size:])
        if zlib.crc32(body) != crc:
            raise ValueError(f"{self.what} crc mismatch")
        magic, fmt, fp, seed, tick, count = HEADER.unpack_from(body)
        if magic != self.magic or fmt != self.version:
            raise ValueError(f"not a {self.what} of this format")
        if fp != fingerprint or count != rows:
            raise ValueError(f"{self.what} was made with {rules}")
        arrays = {}
        off = HEADER.size
        for name, dt, shape, size in sizes:
            if dt == "|b1":
                count = rows * int(np.prod(shape, dtype=np.int64))
                bits = np.unpackbits(np.frombuffer(body, dtype=np.uint8, count=size, offset=off))
                if bits[count:].any():
                    raise ValueError(f"{name}: padding bits set")
                arrays[name] = bits[:count].astype(bool).reshape((rows,) + shape)
            else:
                chunk = np.frombuffer(body, dtype=dt, count=size // np.dtype(dt).itemsize, offset=off)
                arrays[name] = chunk.reshape((rows,) + shape)
            off += size
        return seed, tick, arrays, body[off:]
