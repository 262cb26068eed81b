"""Rollback, sans-IO: a lockstep client steps its world ahead of the authoritative frames on predicted inputs,
and when a frame's authoritative inputs differ from the prediction it loads the last state both agree on and
re-simulates up to where it was (GGPO's and GGRS's scheme over our server relay; docs/LOCKSTEP.md "Rollback").

Any game of the Game interface works: states are ``world_to_bytes`` / ``world_from_bytes`` (the exact state,
the same bytes lockstep catch-up and replays use), inputs are the game's records. Predictions:

* our own slot: the input we made for that frame (we know it before the server does);
* every other slot: its last authoritative input repeated with the ``release`` fields cleared (a held stick
  stays held, a press is not repeated: ``InputSchema.repeat``), no joins and no leaves.

At most ``window`` frames are predicted past the newest authoritative one; beyond that the world waits (a
stall, counted) rather than re-simulate without bound. Checksums are only ever taken of frames stepped with
authoritative inputs from an agreed state: a frame's checksum is computed when it is stepped and reported once
the frame is agreed (``on_checksum``), and recomputed if a rollback re-simulates it.

Game events follow the same rule (Photon Quantum's confirmed and canceled events): ``events`` are the newest
frame's, predicted or not, for what must show at once (a muzzle flash, a sound); once a frame is agreed its
events as finally stepped go to ``on_confirmed(frame, events)`` (they will never change: a score, a kill feed),
after those ``events`` reported for it that the re-simulation did not produce have gone to ``on_canceled(frame,
events)`` (take back the effect).
"""
from __future__ import annotations

from collections import deque

import attrs

from .frames import apply_frame

DEFAULT_WINDOW = 8


def unmatched(events, among) -> list:
    """The ``events`` not among ``among``, each counted as often as it occurs (a multiset difference)."""
    left = list(among)
    out = []
    for e in events:
        if e in left:
            left.remove(e)
        else:
            out.append(e)
    return out


@attrs.define
class RollbackCounters:
    """What prediction cost: rollbacks, frames re-simulated and stalls at the window's edge."""

    predicted: int = 0  # frames stepped on (partly) predicted inputs
    rollbacks: int = 0  # times an authoritative frame differed from its prediction
    resimulated: int = 0  # frames stepped again because of those
    mispredicted: int = 0  # frames whose prediction turned out wrong (the first of each rollback)
    stalls: int = 0  # times the world stopped at the window's edge (waiting for the server's frames)
    max_depth: int = 0  # most frames one rollback re-simulated


class Rollback:
    """One client's world, predicted ahead: ``confirm`` authoritative frames in order, ``local_input`` our own,
    ``advance`` to the frame the clock says; ``world`` / ``frame`` are what to draw."""

    def __init__(self, game, config, world, frame: int, base: bytes, slot: int, window: int = DEFAULT_WINDOW,
                 checksum_every: int = 0, on_checksum=None, on_confirmed=None, on_canceled=None):
        if window < 1:
            raise ValueError("the rollback window is at least 1 frame")
        self.game = game
        self.config = config  # the game's config (world_from_bytes needs it)
        self.world = world
        self.frame = frame  # the newest frame stepped (predicted or not)
        self.agreed = frame  # every frame up to here was stepped with its authoritative inputs
        self.have = frame  # authoritative inputs are known up to here
        self.slot = slot
        self.window = window
        self.every = checksum_every
        self.on_checksum = on_checksum  # called as on_checksum(frame, crc) once a checksum frame is agreed
        self.on_confirmed = on_confirmed  # on_confirmed(frame, events): an agreed frame's events (never undone)
        self.on_canceled = on_canceled  # on_canceled(frame, events): reported on prediction, gone after a rollback
        self.counters = RollbackCounters()
        self.last_depth = 0  # frames the latest rollback re-simulated
        self.stalled = False  # at the window's edge, waiting for the server's frames
        self.depths: deque = deque(maxlen=4096)  # frames each recent rollback re-simulated
        self.size = game.inputs.record_size
        self._repeat = game.inputs.repeat
        self._auth: dict[int, tuple[bytes, int, int]] = {}  # frame -> (records, join, leave), frames (agreed, have]
        self._used: dict[int, tuple[bytes, int, int]] = {}  # frame -> what it was stepped with, (agreed, frame]
        self._saved: dict[int, bytes] = {frame: game.world_to_bytes(world)}  # state after each frame [agreed, frame]
        self._crc: dict[int, int] = {}  # checksum frames in (agreed, frame] -> checksum when stepped
        self._last = base  # the authoritative records of frame `have`: what predictions repeat
        self._local: dict[int, int] = {}  # frame -> our own input
        self.events: list = []  # the game events of the newest frame stepped for the first time
        self._told: dict[int, list] = {}  # frame -> the events `events` reported for it, (agreed, frame]
        self._latest: dict[int, list] = {}  # frame -> its events as last stepped, (agreed, frame]
        self.canceled = 0  # events reported on a prediction that a rollback took back

    # ------------------------------------------------------------------ inputs

    def local_input(self, frame: int, packed: int) -> None:
        """Our own input for ``frame`` (predicts our slot until the server's frame says otherwise)."""
        if frame > self.agreed:
            self._local[frame] = packed

    def confirm(self, frame: int, records: bytes, join: int = 0, leave: int = 0) -> None:
        """The authoritative inputs of the next frame (``have + 1``; frames come in order)."""
        if frame != self.have + 1:
            raise ValueError(f"frame {frame} confirmed after {self.have}")
        self.have = frame
        self._last = records
        if frame > self.agreed:
            self._auth[frame] = (records, join, leave)

    def predict(self, frame: int) -> tuple[bytes, int, int]:
        """The inputs frame ``frame`` is stepped with before the server's word on it arrives."""
        size, repeat, last = self.size, self._repeat, self._last
        n = len(last) // size
        out = bytearray(n * size)
        own = self._local.get(frame)
        for s in range(n):
            if s == self.slot and own is not None:
                v = own
            else:
                v = repeat(int.from_bytes(last[s * size:(s + 1) * size], "little"))
            out[s * size:(s + 1) * size] = v.to_bytes(size, "little")
        return bytes(out), 0, 0

    # ------------------------------------------------------------------ stepping

    def _step(self, frame: int) -> list:
        inputs = self._auth.get(frame) if frame <= self.have else None
        if inputs is None:
            inputs = self.predict(frame)
            self.counters.predicted += 1
        events = apply_frame(self.game, self.world, *inputs)
        self._latest[frame] = events
        self._used[frame] = inputs
        self.frame = frame
        self._saved[frame] = self.game.world_to_bytes(self.world)
        if self.every and frame % self.every == 0:
            self._crc[frame] = self.game.checksum(self.world)
        return events

    def reconcile(self) -> int:
        """Compare the frames confirmed since the last agreed one with what they were stepped with; on the first
        difference load the state before it and re-simulate up to the current frame. Returns the frames
        re-simulated (0: every prediction held)."""
        upto = min(self.have, self.frame)
        depth = 0
        for f in range(self.agreed + 1, upto + 1):
            if self._used[f] != self._auth[f]:
                self.counters.mispredicted += 1
                self.counters.rollbacks += 1
                end = self.frame
                self.world = self.game.world_from_bytes(self.config, self._saved[f - 1])
                for g in range(f, end + 1):
                    self._step(g)
                depth = end - f + 1
                self.depths.append(depth)
                self.counters.resimulated += depth
                self.counters.max_depth = max(self.counters.max_depth, depth)
                break
        self.last_depth = depth
        self._agree(upto)
        return depth

    def _agree(self, upto: int) -> None:
        """Frames up to ``upto`` were stepped with their authoritative inputs: report their checksums, forget
        what only a rollback to before them would need."""
        if upto <= self.agreed:
            return
        for f in range(self.agreed + 1, upto + 1):
            crc = self._crc.pop(f, None)
            if crc is not None and self.on_checksum is not None:
                self.on_checksum(f, crc)
            self._auth.pop(f, None)
            self._used.pop(f, None)
            self._local.pop(f, None)
            self._saved.pop(f - 1, None)
            self._settle_events(f, self._told.pop(f, ()), self._latest.pop(f, ()))
        self.agreed = upto

    def _settle_events(self, f: int, told, final) -> None:
        """Frame ``f`` is agreed: those events ``told`` on prediction that are not among its ``final`` ones
        (counted as many times as they were told) are canceled, then the ``final`` ones confirmed."""
        if told and told is not final:
            gone = unmatched(told, final)
            if gone:
                self.canceled += len(gone)
                if self.on_canceled is not None:
                    self.on_canceled(f, gone)
        if final and self.on_confirmed is not None:
            self.on_confirmed(f, final)

    def advance(self, target: int, limit: int = 1 << 30) -> int:
        """Step new frames up to ``target`` (at most ``limit``), never more than ``window`` past the newest
        authoritative frame; returns the frames stepped."""
        self.reconcile()
        steps = 0
        while self.frame < target and steps < limit:
            if self.frame - self.have >= self.window:
                if not self.stalled:
                    self.counters.stalls += 1
                    self.stalled = True
                break
            self.stalled = False
            f = self.frame + 1
            self.events = self._told[f] = self._step(f)
            steps += 1
            if self.frame <= self.have:  # stepped on authoritative inputs from an agreed state
                self._agree(self.frame)
        return steps

    @property
    def ahead(self) -> int:
        """Frames stepped past the newest authoritative one (what a rollback could have to re-simulate)."""
        return max(0, self.frame - self.have)
