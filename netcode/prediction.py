"""Client-side prediction and server reconciliation of the entities one's own input moves.

The client runs its own inputs through the game's ``PredictionModel`` (netcode.game) as soon as it sends
them, so its player moves without waiting a round trip; each snapshot then says where the server had
those entities at tick T (after our inputs up to T), and we rewind to that and replay our inputs after T
(Gambetta, "Client-Side Prediction and Server Reconciliation"; Valve, "Source Multiplayer Networking":
prediction errors are corrected, and smoothed over a short time rather than snapped).

The model decides what it predicts: the arena predicts our player alone (its movement depends only on
our inputs, the walls and the tick), football predicts our player and the ball it pushes.
"""
from __future__ import annotations

import math

import attrs
import numpy as np

_HISTORY = 256  # ticks of predicted state kept (4 s at 60 Hz: far more than any RTT we keep inputs for)


@attrs.define
class PredictionStats:
    """What reconciliation found: mispredictions of our own entity and how far off they were (world units)."""

    snapshots: int = 0
    corrections: int = 0  # snapshots whose position of our entity differed from our prediction of that tick
    correction_distance: float = 0.0  # sum of those position errors
    max_correction: float = 0.0
    # of those, the ones at ticks the server ran without our input (it arrived late or not at all,
    # e.g. while the input clock is still converging after connecting): not a model error
    late_input_corrections: int = 0
    late_input_distance: float = 0.0
    replays: int = 0  # replays run (a correction or any other difference, e.g. hp)
    replayed_ticks: int = 0
    teleports: int = 0  # jumps no input could predict (respawns): drawn at once, not smoothed
    last_error: float = 0.0  # position error at the most recent snapshot (also when not applied)


class Predictor:
    """Predicts the model's entities one step per input tick and reconciles against snapshots.

    Feed it ``on_input(tick, packed)`` for every input sent (ticks ascending) and
    ``on_snapshot(tick, table)`` for every snapshot; draw with ``draw_positions(now, alpha)``.
    """

    def __init__(self, game, config, slot: int, *, prediction: bool = True, reconciliation: bool = True,
                 smoothing: float = 0.1, snap_distance_px: float = 96.0):
        self.game = game
        self.schema = game.inputs
        self.model = game.prediction_model(config, slot)
        self.entities = np.asarray(self.model.entities, dtype=np.int64)
        self.slot = slot
        self.cols = list(game.entities.position_columns)
        self.prediction = prediction
        self.reconciliation = reconciliation
        # smoothing: seconds for the visual error to fall to ~5 % (three time constants)
        self.tau = max(smoothing, 1e-6) / 3.0
        self.snap_distance = snap_distance_px * game.entities.units_per_px
        self.stats = PredictionStats()
        self.inputs: dict[int, int] = {}  # tick -> our packed input for that tick
        self.history: dict[int, np.ndarray] = {}  # tick -> predicted rows [k, F] after that tick
        self.authoritative: np.ndarray | None = None  # the newest server rows of our entities
        self.present = np.zeros(len(self.entities), dtype=bool)
        self.auth_tick = -1
        self.ready = False  # set by the first snapshot holding our own entity
        self.offset = np.zeros((len(self.entities), 2))  # visual error (drawn - predicted), decays to zero
        self._offset_at: float | None = None
        self.new_events: list = []  # events of forward predicted steps (not replays)
        self._last_input = 0  # the input of the tick before the next one stepped

    # ------------------------------------------------------------------ inputs

    @property
    def tick(self) -> int:
        """The newest tick predicted, -1 before the first snapshot."""
        return self.model.tick if self.ready else -1

    def on_input(self, tick: int, packed: int) -> None:
        """Our input for `tick` was sent: remember it and predict that tick."""
        self.inputs[tick] = packed
        if len(self.inputs) > _HISTORY:
            for old in sorted(self.inputs)[:-_HISTORY]:
                del self.inputs[old]
        if not self.ready or tick <= self.model.tick:
            return
        while self.model.tick < tick:
            self.new_events.extend(self._step(self.model.tick + 1))

    def _input_for(self, tick: int) -> int:
        inp = self.inputs.get(tick)
        if inp is not None:
            return inp
        # The server's rule for a tick with no input: repeat the last one, release fields cleared.
        return self.schema.repeat(self._last_input)

    def _step(self, tick: int) -> list:
        inp = self._input_for(tick)
        self._last_input = inp
        events = self.model.step(inp)
        self.history[tick] = self.model.rows().copy()
        if len(self.history) > _HISTORY:
            for old in [t for t in self.history if t <= tick - _HISTORY]:
                del self.history[old]
        return events

    # ------------------------------------------------------------------ snapshots

    def rows_of(self, table) -> tuple[np.ndarray, np.ndarray]:
        """The snapshot rows of our predicted entities in ``table`` (an EntityTable) and which are present."""
        ids = table.ids
        n = len(ids)
        rows = np.zeros((len(self.entities), table.values.shape[1]), dtype=np.int32)
        if not n:
            return rows, np.zeros(len(self.entities), dtype=bool)
        i = np.minimum(np.searchsorted(ids, self.entities), n - 1)
        present = ids[i] == self.entities
        rows[present] = table.values[i[present]]
        return rows, present

    def on_snapshot(self, tick: int, table, now: float | None = None, input_tick: int | None = None) -> None:
        """The server's snapshot table at `tick`, which includes our inputs up to `input_tick` (the newest
        it applied; -1 = none yet; None = unknown). Ignored unless it holds our own entity."""
        rows, present = self.rows_of(table)
        self.on_rows(tick, rows, present, now, input_tick)

    def on_rows(self, tick: int, rows: np.ndarray, present: np.ndarray, now: float | None = None,
                input_tick: int | None = None) -> None:
        """``on_snapshot`` with the rows of our entities already picked out."""
        if tick <= self.auth_tick or not present[0]:
            return
        self.stats.snapshots += 1
        observe = getattr(self.model, "observe", None)
        if observe is not None:
            observe(tick, rows, present)
        predicted = self.history.get(tick)
        self.authoritative, self.present, self.auth_tick = rows, present, tick
        for old in [t for t in self.inputs if t <= tick - _HISTORY // 2]:
            del self.inputs[old]
        if not self.ready:
            self._reset_and_replay(tick, rows, present)
            self.ready = True
            return
        if predicted is None:
            # older than our history or newer than our prediction (inputs stalled): just take it
            if self.reconciliation or tick > self.model.tick:
                self._rebase(tick, rows, present, now, teleport=True)
            return
        c = self.cols
        error = math.hypot(*(float(rows[0, k]) - float(predicted[0, k]) for k in c))
        # a death or a respawn is no prediction error: the model may say when our entity lives (the arena does)
        alive = getattr(self.model, "alive", None)
        was, now_alive = (alive(predicted[0]), alive(rows[0])) if alive is not None else (True, True)
        both_alive = was and now_alive
        self.stats.last_error = error if both_alive else 0.0
        if not self.reconciliation:
            return  # prediction runs open-loop: whatever drift builds up stays
        if np.array_equal(predicted[present], rows[present]):
            return  # replaying identical inputs from an identical state gives what we already have
        if both_alive and error > 0:
            self.stats.corrections += 1
            self.stats.correction_distance += error
            self.stats.max_correction = max(self.stats.max_correction, error)
            if input_tick is not None and input_tick < tick:
                self.stats.late_input_corrections += 1
                self.stats.late_input_distance += error
        teleport = was != now_alive
        if teleport:
            self.stats.teleports += 1
        self._rebase(tick, rows, present, now, teleport)

    def _positions(self) -> np.ndarray:
        r = self.model.rows()
        return r[:, self.cols].astype(float)

    def _rebase(self, tick: int, rows: np.ndarray, present: np.ndarray, now: float | None,
                teleport: bool = False) -> None:
        before = self._positions() if self.ready else None
        self._reset_and_replay(tick, rows, present)
        if before is None:
            return
        self._decay(now)
        if teleport:
            self.offset[:] = 0.0
            return
        self.offset += before - self._positions()
        # a respawn or a huge error: jump, don't slide across the map
        far = np.hypot(self.offset[:, 0], self.offset[:, 1]) > self.snap_distance
        self.offset[far] = 0.0

    def _reset_and_replay(self, tick: int, rows: np.ndarray, present: np.ndarray) -> None:
        # replay up to the newest input we sent (before the first snapshot: whatever we sent already)
        newest = max(self.model.tick if self.ready else max(self.inputs, default=tick), tick)
        self.model.reset(tick, rows, present)
        self._last_input = self.inputs.get(tick, self._last_input)
        self.history[tick] = self.model.rows().copy()
        n = 0
        for t in range(tick + 1, newest + 1):
            self._step(t)
            n += 1
        self.stats.replays += 1
        self.stats.replayed_ticks += n

    # ------------------------------------------------------------------ drawing

    def _decay(self, now: float | None) -> None:
        if now is None:
            return
        if self._offset_at is not None and now > self._offset_at:
            self.offset *= math.exp(-(now - self._offset_at) / self.tau)
        self._offset_at = now

    def predicted_rows(self) -> np.ndarray | None:
        """The newest predicted rows of our entities (None before the first snapshot)."""
        return self.history.get(self.model.tick) if self.ready else None

    def draw_positions(self, now: float, alpha: float = 1.0) -> np.ndarray | None:
        """Where to draw each predicted entity (float ``[k, 2]``): between the last two predicted ticks by
        `alpha`, plus the decaying correction offsets; or, with prediction off, the latest server positions."""
        if not self.ready:
            return None
        a = self.authoritative[:, self.cols].astype(float)
        if not self.prediction:
            return a
        self._decay(now)
        cur = self.history.get(self.model.tick)
        if cur is None:
            return a
        prev = self.history.get(self.model.tick - 1, cur)
        alpha = min(max(alpha, 0.0), 1.0)
        p0, p1 = prev[:, self.cols].astype(float), cur[:, self.cols].astype(float)
        return p0 + (p1 - p0) * alpha + self.offset

    def draw_position(self, now: float, alpha: float = 1.0) -> tuple[float, float] | None:
        """Where to draw our own entity (the model's first)."""
        p = self.draw_positions(now, alpha)
        return None if p is None else (float(p[0, 0]), float(p[0, 1]))

    @property
    def visual_error(self) -> float:
        """Current size of our own entity's smoothing offset, world units."""
        return float(np.hypot(*self.offset[0]))

    def take_events(self) -> list:
        """The events our forward prediction produced since the last call (for immediate effects)."""
        events, self.new_events = self.new_events, []
        return events
