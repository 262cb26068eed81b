"""Fixed-point scales, the integer sine table and exact integer helpers.

Conventions used by the whole simulation:

* Positions/velocities are int32 sub-pixels, ``SUBPX`` per pixel.
* Angles are integers in ``[0, ANGLE_FULL)``; angle 0 points along +x and
  angles grow towards +y (clockwise on a y-down screen).
* Unit vectors are scaled by ``TRIG_ONE`` (2**14).
* Division and right shifts of negative numbers floor (numpy ``//`` and
  ``>>`` on signed integers, same as Python).  Floor is not symmetric around
  zero, but it is the same on every machine, which is all determinism needs.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

SUBPX = 16
ANGLE_BITS = 12
ANGLE_FULL = 1 << ANGLE_BITS
ANGLE_MASK = ANGLE_FULL - 1
TRIG_SHIFT = 14
TRIG_ONE = 1 << TRIG_SHIFT
# round(2**14 / sqrt(2)), rounded down, so a diagonal step is never longer than a straight one.
DIAG_FACTOR = 11585

# The table is built from math.sin, but only the first quadrant is computed and
# the rest is mirrored, so the table is exactly odd/symmetric.  A machine whose
# libm rounds one entry differently fails this crc at import instead of
# silently desyncing from everyone else.
_SIN_TABLE_CRC32 = 0xC9EDFE23


def _build_sin_table() -> np.ndarray:
    quarter = ANGLE_FULL // 4
    q = [int(math.floor(math.sin(i * 2.0 * math.pi / ANGLE_FULL) * TRIG_ONE + 0.5)) for i in range(quarter + 1)]
    table = np.zeros(ANGLE_FULL, dtype=np.int32)
    table[: quarter + 1] = q
    table[quarter + 1 : 2 * quarter] = q[quarter - 1 : 0 : -1]
    table[2 * quarter :] = -table[: 2 * quarter]
    crc = zlib.crc32(table.astype("<i4").tobytes())
    if crc != _SIN_TABLE_CRC32:
        raise ImportError(f"integer sine table crc {crc:#010x} != {_SIN_TABLE_CRC32:#010x}: this libm rounds differently")
    table.setflags(write=False)
    return table


SIN_TABLE = _build_sin_table()


def direction(aim) -> np.ndarray:
    """Unit vectors for integer angles: int64 ``[..., 2]`` scaled by ``TRIG_ONE``."""
    a = np.asarray(aim, dtype=np.int64) & ANGLE_MASK
    out = np.empty(a.shape + (2,), dtype=np.int64)
    out[..., 0] = SIN_TABLE[(a + ANGLE_FULL // 4) & ANGLE_MASK]
    out[..., 1] = SIN_TABLE[a]
    return out


def isqrt(n) -> np.ndarray:
    """Exact floor square root of a non-negative int64 array (integer Newton)."""
    n = np.asarray(n, dtype=np.int64)
    if not n.size:
        return n.copy()
    if int(n.min()) < 0:
        raise ValueError("isqrt of a negative number")
    # Bit length by binary search, so the Newton start 2**ceil(bits/2) is >= the root
    # and the iteration decreases monotonically onto floor(sqrt(n)).
    bits = np.zeros(n.shape, dtype=np.int64)
    v = n.copy()
    for s in (32, 16, 8, 4, 2, 1):
        big = v >= (1 << s)
        bits += np.where(big, s, 0)
        v = np.where(big, v >> s, v)
    bits += v > 0
    x = np.left_shift(np.int64(1), (bits + 1) >> 1)
    while True:
        y = (x + n // np.maximum(x, 1)) >> 1
        smaller = y < x
        if not smaller.any():
            return x
        x = np.where(smaller, y, x)


def per_tick(rate_per_second: int, tick: int, tick_rate: int) -> int:
    """Integer amount to advance on ``tick`` so that every second sums exactly to ``rate_per_second``.

    Bresenham-style: the fractional part is carried by the tick number itself,
    so there is no accumulator state to save or resync.
    """
    return (tick * rate_per_second) // tick_rate - ((tick - 1) * rate_per_second) // tick_rate


def max_per_tick(rate_per_second: int, tick_rate: int) -> int:
    """Largest value ``per_tick`` can return."""
    return -(-rate_per_second // tick_rate)
