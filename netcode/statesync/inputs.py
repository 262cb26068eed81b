"""Player inputs over the network: the server's per-client buffer and the client's clock sync.

Inputs are keyed by the server tick they are for. The server applies one per tick; the client
sends each input just early enough, steered by the server's report of how early they land
(Overwatch's command-frame sync, GDC 2017: the client's simulation runs slightly faster or slower
until its inputs arrive a small, steady margin ahead of need).
"""
from __future__ import annotations

from collections import deque

import attrs

from .messages import TickInput


@attrs.define
class InputCounters:
    """What happened to one client's inputs on the server."""

    received: int = 0  # first copies accepted into the buffer
    redundant: int = 0  # extra copies of inputs already buffered or applied (expected: redundancy)
    late: int = 0  # first copy arrived after its tick ran
    ahead: int = 0  # rejected: too far in the future
    applied: int = 0
    missing: int = 0  # ticks run with a repeated input because none had arrived


class InputBuffer:
    """The server's inputs (packed records) for one client, keyed by tick; applies one per tick, never more.

    A tick with no input repeats the last one with the schema's ``release`` fields cleared
    (``InputSchema.repeat``: a held fire button must not fire shots the player never made)."""

    def __init__(self, max_ahead: int = 32, margin_window: int = 16, release_mask: int = 0):
        self.max_ahead = max_ahead
        self.release_mask = release_mask
        self.counters = InputCounters()
        self.last = 0
        self.last_applied_tick = -1
        self._inputs: dict[int, TickInput] = {}
        self._newest = -1
        self._margins: deque[float] = deque(maxlen=margin_window)

    def add(self, ti: TickInput, next_tick: int, margin: float) -> None:
        """Offer one received input; margin = seconds between arrival and its tick's start."""
        t = ti.tick
        if t < next_tick:
            if t <= self._newest:
                self.counters.redundant += 1  # a copy of one we had, sent again for loss
            else:
                self.counters.late += 1
                self._note(t, margin)
            return
        if t in self._inputs:
            self.counters.redundant += 1
            return
        if t > next_tick + self.max_ahead:
            self.counters.ahead += 1
            self._margins.append(margin)  # tells the client how far ahead it runs
            return
        self._inputs[t] = ti
        self.counters.received += 1
        self._note(t, margin)

    def _note(self, t: int, margin: float) -> None:
        if t > self._newest:
            self._newest = t
        self._margins.append(margin)

    def take(self, tick: int) -> TickInput | None:
        """The input for this tick, or None: then `last` (repeated, fire released) stands in."""
        ti = self._inputs.pop(tick, None)
        if len(self._inputs) > 0 and min(self._inputs) < tick:
            for old in [k for k in self._inputs if k < tick]:
                del self._inputs[old]
        if ti is not None:
            self.last = ti.input
            self.last_applied_tick = tick
            self.counters.applied += 1
            return ti
        if self._newest >= 0:
            self.counters.missing += 1
            self.last &= ~self.release_mask
        return None

    @property
    def depth(self) -> int:
        return len(self._inputs)

    def margin(self) -> float | None:
        """The smallest recent arrival margin (None before any input): under jitter the minimum
        is the one that decides whether an input is late."""
        return min(self._margins) if self._margins else None


class ClockSync:
    """The client's input clock: which server tick its next input is for.

    Starts at server tick + RTT + target margin, then trims its rate by up to ±max_adjust from
    the server's margin reports; jumps when off by more than snap_threshold seconds.
    """

    def __init__(self, tick_rate: int, target_margin: float | None = None, gain: float = 1.0,
                 max_adjust: float = 0.08, snap_threshold: float = 0.25):
        self.rate = tick_rate
        self.target = target_margin if target_margin is not None else max(0.004, 0.5 / tick_rate)
        self.gain = gain
        self.max_adjust = max_adjust
        self.snap_threshold = snap_threshold
        self.synced = False
        self.adjust = 0.0
        self.snaps = 0
        self._pos = 0.0  # fractional input tick at self._at
        self._at = 0.0
        self._produced = -1  # newest tick an input was produced for
        self._last_report_tick = -1
        self._ignore_until_ack = -1  # after a jump, reports about older inputs are stale

    def position(self, now: float) -> float:
        return self._pos + (now - self._at) * self.rate * (1.0 + self.adjust)

    def _rebase(self, now: float) -> None:
        self._pos = self.position(now)
        self._at = now

    def on_snapshot(self, server_tick: int, margin: float | None, rtt: float, now: float,
                    input_ack: int = -1) -> None:
        """Feed each snapshot: its tick, the reported input margin (None before any input landed),
        and the newest of our input ticks the server has applied."""
        if not self.synced:
            self._pos = server_tick + (rtt + self.target) * self.rate + 1
            self._at = now
            self.synced = True
            return
        if margin is None or server_tick <= self._last_report_tick or input_ack < self._ignore_until_ack:
            return
        self._last_report_tick = server_tick
        error = margin - self.target
        self._rebase(now)
        if abs(error) > self.snap_threshold:
            self._pos -= error * self.rate
            self.adjust = 0.0
            self.snaps += 1
            # wait until the server has applied inputs made after the jump (and a window of them)
            self._ignore_until_ack = int(self._pos) + 16
            return
        self.adjust = max(-self.max_adjust, min(self.max_adjust, -error * self.gain))

    def next_tick_time(self, now: float | None = None) -> float:
        """When the next input tick becomes due (for a driver's timer)."""
        speed = self.rate * (1.0 + self.adjust)
        return self._at + (self._produced + 1 - self._pos) / speed

    def due_ticks(self, now: float, limit: int = 8) -> list[int]:
        """Ticks to produce inputs for now: each once, in order, never going backwards."""
        if not self.synced:
            return []
        newest = int(self.position(now))
        first = self._produced + 1
        if newest - first >= limit:
            first = newest - limit + 1  # fell far behind (a stall): skip, don't flood
        if newest < first:
            return []
        self._produced = newest
        return list(range(first, newest + 1))
