"""How much of one core this process has used since a mark: the figure that tells whether a run was limited by
the server or by its load generator (a process near 100 % of a core falls behind)."""
from __future__ import annotations

import time


class CpuShare:
    """This process's CPU time (user + system) since ``mark()``, as a percentage of one core over the wall time."""

    __slots__ = ("_wall", "_cpu")

    def __init__(self):
        self.mark()

    def mark(self) -> None:
        self._wall, self._cpu = time.monotonic(), time.process_time()

    def pct(self, now: float | None = None) -> float:
        """The share since the mark, up to ``now`` (time.monotonic(); now if None)."""
        wall = (time.monotonic() if now is None else now) - self._wall
        return 100.0 * (time.process_time() - self._cpu) / max(1e-6, wall)
