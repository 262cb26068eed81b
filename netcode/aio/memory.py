"""The C allocator of a long-running server process (glibc on Linux; elsewhere nothing is done).

glibc serves blocks above M_MMAP_THRESHOLD (128 KiB) with their own mmap and gives them back on free, but
the first such free *raises* the threshold (up to 32 MiB, "dynamic mmap threshold", mallopt(3)), so from
then on a tick's large numpy temporaries (snapshot batches, AOI keys) come from the main heap, where they
fragment it and the freed pages stay resident. A soak showed it: live Python and numpy memory flat
(tracemalloc: under 1 MB grown after the warm-up) while RSS climbed 5–9 % in steps over ten minutes.
Pinning the threshold (at 64 KiB, so the mid-size ones go to mmap too) keeps those temporaries out of the
heap and returns them on free. It narrows the steps; it does not remove every one (see the soak figures in
the closing note of the security issue).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 1024  # below glibc's 128 KiB default, held fixed: a tick's mid-size arrays go to mmap too
TRIM_THRESHOLD = 1 << 20  # give free heap tops back once 1 MiB is free (default 128 KiB, dynamic too)


def pin_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (True if it was done)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl): nothing to pin
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
