"""Fixed-rate tick scheduling math, sans-IO: the driver passes ``now`` in and sleeps on its own."""

from __future__ import annotations

import math

import attrs
import numpy as np

__all__ = ["FixedTicker"]

MIN_RATE_HZ = 1
MAX_RATE_HZ = 1000


def _valid_rate(instance: FixedTicker, attribute: attrs.Attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and MIN_RATE_HZ <= value <= MAX_RATE_HZ):
        raise ValueError(f"FixedTicker.rate must be in [{MIN_RATE_HZ}, {MAX_RATE_HZ}] Hz, got {value!r}")


def _finite(instance: FixedTicker, attribute: attrs.Attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value)):
        raise ValueError(f"FixedTicker.{attribute.name} must be a finite number, got {value!r}")


def _positive_int(instance: FixedTicker, attribute: attrs.Attribute, value: int) -> None:
    if not (isinstance(value, int) and value >= 1):
        raise ValueError(f"FixedTicker.{attribute.name} must be an int >= 1, got {value!r}")


@attrs.define(eq=False)
class FixedTicker:
    """Decides how many fixed-rate ticks are due; tick k is scheduled at ``start + k / rate``.

    ``due(now)`` consumes: it returns how many ticks to run now and marks them as run. When more
    than ``max_catchup`` are due, the oldest excess ticks are skipped for good so a stall does not
    cause a burst of catch-up ticks that would stall the next frame too.
    """

    rate: float = attrs.field(validator=_valid_rate)
    start: float = attrs.field(default=0.0, validator=_finite)
    max_catchup: int = attrs.field(default=5, validator=_positive_int)
    window: int = attrs.field(default=4096, validator=_positive_int)
    tick: int = attrs.field(default=0, init=False)
    ticks: int = attrs.field(default=0, init=False)
    skipped: int = attrs.field(default=0, init=False)
    overruns: int = attrs.field(default=0, init=False)
    _durations: np.ndarray = attrs.field(init=False, repr=False)
    _recorded: int = attrs.field(default=0, init=False, repr=False)

    @_durations.default
    def _empty_durations(self) -> np.ndarray:
        return np.zeros(self.window, dtype=np.float64)

    @property
    def interval(self) -> float:
        """Seconds between ticks."""
        return 1.0 / self.rate

    def scheduled_time(self, tick: int) -> float:
        """When tick ``tick`` is due; computed from the index so errors never accumulate."""
        return self.start + tick / self.rate

    def next_deadline(self) -> float:
        """When the next tick (``self.tick``) is due; the driver sleeps until then."""
        return self.scheduled_time(self.tick)

    def due(self, now: float) -> int:
        """How many ticks to run now (at most ``max_catchup``); marks them as run."""
        end = self._ticks_scheduled_by(now)
        backlog = end - self.tick
        if backlog <= 0:
            return 0
        run = min(backlog, self.max_catchup)
        if backlog > run:
            self.overruns += 1
            self.skipped += backlog - run
        self.tick = end
        self.ticks += run
        return run

    def record(self, duration: float) -> None:
        """Record how long one tick took (seconds); the stats window keeps the latest ``window``."""
        if not (duration >= 0.0 and math.isfinite(duration)):
            raise ValueError(f"tick duration must be a finite number >= 0, got {duration!r}")
        self._durations[self._recorded % self.window] = duration
        self._recorded += 1

    def clear_durations(self) -> None:
        """Forget recorded durations (e.g. after a warm-up); counters are kept."""
        self._recorded = 0

    def stats(self) -> dict[str, float | int]:
        """Tick counters plus duration percentiles (ms) over the recorded window; 0.0 when empty."""
        samples = self._durations[: min(self._recorded, self.window)]
        counters = {"ticks": self.ticks, "overruns": self.overruns, "skipped": self.skipped, "samples": len(samples)}
        if len(samples) == 0:
            return counters | {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "mean_ms": 0.0}
        p50, p99 = np.percentile(samples, [50, 99]) * 1000.0
        return counters | {
            "p50_ms": float(p50),
            "p99_ms": float(p99),
            "max_ms": float(samples.max() * 1000.0),
            "mean_ms": float(samples.mean() * 1000.0),
        }

    def _ticks_scheduled_by(self, now: float) -> int:
        """Number of ticks whose scheduled time is <= ``now``, consistent with ``scheduled_time``."""
        if now < self.start:
            return 0
        count = math.floor((now - self.start) * self.rate) + 1
        # The float estimate can be one off at exact boundaries; settle it against scheduled_time.
        while count > 0 and self.scheduled_time(count - 1) > now:
            count -= 1
        while self.scheduled_time(count) <= now:
            count += 1
        return count
