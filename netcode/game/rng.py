"""Stateless counter-based randomness: a splitmix64 hash of (seed, tick, entity, purpose).

The world carries no RNG state, so any tick can be recomputed from a keyframe
and rollback/prediction never has to snapshot a generator.
"""

from __future__ import annotations

import numpy as np

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB

# A "purpose" is a small integer a game picks per kind of roll (spawn, wander, ...): distinct
# purposes are independent streams, so e.g. a spawn roll never correlates with a wander roll.


def _mix_int(z: int) -> int:
    z &= _MASK64
    z = ((z ^ (z >> 30)) * _M1) & _MASK64
    z = ((z ^ (z >> 27)) * _M2) & _MASK64
    return z ^ (z >> 31)


def _mix_array(z: np.ndarray) -> np.ndarray:
    # uint64 array arithmetic wraps mod 2**64 like the C reference; constants are
    # explicit np.uint64 so no numpy version ever promotes to float.
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def hash64(seed: int, tick: int, index, purpose: int) -> np.ndarray:
    """uint64 hash per element of ``index`` (array-like of non-negative ints)."""
    key = _mix_int(_mix_int(_mix_int(purpose) ^ (tick & _MASK64)) ^ (seed & _MASK64))
    idx = np.asarray(index, dtype=np.int64)
    # ndmin=1: 0-d operands would turn into numpy scalars, whose wrap-around warns.
    z = np.array(idx, dtype=np.uint64, ndmin=1)
    return _mix_array(z * np.uint64(_GOLDEN) + np.uint64(key)).reshape(idx.shape)


def below(h: np.ndarray, n: int) -> np.ndarray:
    """Map uint64 hashes to int64 in ``[0, n)`` using the high 32 bits (multiply-shift, no modulo)."""
    if not 0 < n <= 1 << 31:
        raise ValueError("range must be in (0, 2**31]")
    return (((h >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32)).astype(np.int64)


def randint(seed: int, tick: int, index, purpose: int, lo: int, hi: int) -> np.ndarray:
    """int64 uniform in ``[lo, hi)`` per element of ``index``."""
    return lo + below(hash64(seed, tick, index, purpose), hi - lo)
