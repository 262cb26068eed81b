"""Client-side prediction and server reconciliation of the local player, with the shared simulation.

The client runs its own inputs through `netcode.sim.step` as soon as it sends them, so the player
moves without waiting a round trip; each snapshot then says where the server had us at tick T
(after our inputs up to T), and we rewind to that and replay our inputs after T (Gambetta, "Client-
Side Prediction and Server Reconciliation"; Valve, "Source Multiplayer Networking": prediction
errors are corrected, and smoothed over a short time rather than snapped).

Player movement depends only on the player's own inputs, the walls and the tick number, so a
private World holding just our slot (no NPCs, no other players) predicts it exactly.
"""
from __future__ import annotations

import math

import attrs
import numpy as np

from .sim import BUTTON_FIRE, InputBatch, PlayerInput, ShotFired, SimConfig, World, step

_IDLE = PlayerInput()
_NO_RESPAWN = 32767  # a dead predicted player waits for the server to say where it respawned
_HISTORY = 256  # ticks of predicted state kept (4 s at 60 Hz: far more than any RTT we keep inputs for)


@attrs.frozen
class PlayerState:
    """The local player's state at the end of one tick (positions in sub-px)."""

    x: int
    y: int
    aim: int
    hp: int
    alive: bool
    cooldown: int = 0

    def same_as(self, other: PlayerState) -> bool:
        """Equal in everything a snapshot says (the cooldown is ours alone)."""
        return (self.x, self.y, self.aim, self.hp, self.alive) == (other.x, other.y, other.aim, other.hp, other.alive)


@attrs.define
class PredictionStats:
    """What reconciliation found: mispredictions and how far off they were (sub-px)."""

    snapshots: int = 0
    corrections: int = 0  # snapshots whose state differed from our prediction of that tick (position)
    correction_distance: float = 0.0  # sum of those position errors, sub-px
    max_correction: float = 0.0
    # of those, the ones at ticks the server ran without our input (it arrived late or not at all,
    # e.g. while the input clock is still converging after connecting): not a model error
    late_input_corrections: int = 0
    late_input_distance: float = 0.0
    replays: int = 0  # replays run (a correction or any other difference, e.g. hp)
    replayed_ticks: int = 0
    teleports: int = 0  # deaths/respawns: the server moved us in a way no input could predict
    last_error: float = 0.0  # position error at the most recent snapshot, sub-px (also when not applied)


class Predictor:
    """Predicts our own player one step per input tick and reconciles against snapshots.

    Feed it `on_input(tick, input)` for every input sent (ticks ascending) and
    `on_snapshot(tick, state)` for every snapshot that holds our entity; draw it with
    `draw_position(now, alpha)`.
    """

    def __init__(self, sim: SimConfig | dict, slot: int, *, prediction: bool = True, reconciliation: bool = True,
                 smoothing: float = 0.1, snap_distance_px: float = 96.0):
        sim = SimConfig.from_dict(sim) if isinstance(sim, dict) else sim
        # Only slots up to ours exist, and no NPCs: a step costs tens of microseconds.
        self.config = attrs.evolve(sim, npc_count=0, max_players=slot + 1)
        self.slot = slot
        self.prediction = prediction
        self.reconciliation = reconciliation
        # smoothing: seconds for the visual error to fall to ~5 % (three time constants)
        self.tau = max(smoothing, 1e-6) / 3.0
        self.snap_distance = snap_distance_px * 16
        self.stats = PredictionStats()
        self.world = World.new(self.config)
        self.world.active[slot] = True
        self._batch = InputBatch.empty(self.config)
        self.inputs: dict[int, PlayerInput] = {}  # tick -> our input for that tick
        self.history: dict[int, PlayerState] = {}  # tick -> predicted state after that tick
        self.authoritative: PlayerState | None = None
        self.auth_tick = -1
        self.ready = False  # set by the first snapshot holding us
        self.offset = np.zeros(2)  # visual error (drawn - predicted), decays to zero
        self._offset_at: float | None = None
        self.new_shots: list[ShotFired] = []  # our shots predicted by forward steps (not replays)
        self._last_input = _IDLE  # the input of the tick before the next one stepped
        self._server_fired = -1  # the newest tick a snapshot showed us firing

    # ------------------------------------------------------------------ inputs

    @property
    def tick(self) -> int:
        """The newest tick predicted (the world's tick), -1 before the first snapshot."""
        return self.world.tick if self.ready else -1

    def on_input(self, tick: int, inp: PlayerInput) -> None:
        """Our input for `tick` was sent: remember it and predict that tick."""
        self.inputs[tick] = inp
        if len(self.inputs) > _HISTORY:
            for old in sorted(self.inputs)[:-_HISTORY]:
                del self.inputs[old]
        if not self.ready or tick <= self.world.tick:
            return
        while self.world.tick < tick:
            events = self._step(self.world.tick + 1)
            self.new_shots.extend(e for e in events if type(e) is ShotFired)

    def _input_for(self, tick: int) -> PlayerInput:
        inp = self.inputs.get(tick)
        if inp is not None:
            return inp
        # The server's rule for a tick with no input: repeat the last one, fire released.
        prev = self._last_input
        return PlayerInput(prev.move_x, prev.move_y, prev.aim, prev.buttons & ~BUTTON_FIRE)

    def _step(self, tick: int) -> list:
        inp = self._input_for(tick)
        self._last_input = inp
        s, b = self.slot, self._batch
        b.move[s, 0], b.move[s, 1], b.aim[s], b.buttons[s] = inp.move_x, inp.move_y, inp.aim, inp.buttons
        events = step(self.world, b)
        self.history[tick] = self._state()
        if len(self.history) > _HISTORY:
            for old in [t for t in self.history if t <= tick - _HISTORY]:
                del self.history[old]
        return events

    def _state(self) -> PlayerState:
        w, s = self.world, self.slot
        return PlayerState(int(w.pos[s, 0]), int(w.pos[s, 1]), int(w.aim[s]), int(w.hp[s]), bool(w.alive[s]),
                           int(w.cooldown[s]))

    def _load(self, tick: int, st: PlayerState) -> None:
        w, s = self.world, self.slot
        w.tick = tick
        w.pos[s] = (st.x, st.y)
        w.vel[s] = 0
        w.aim[s] = st.aim
        w.hp[s] = st.hp
        w.alive[s] = st.alive
        w.cooldown[s] = st.cooldown
        w.respawn[s] = 0 if st.alive else _NO_RESPAWN

    # ------------------------------------------------------------------ snapshots

    def on_snapshot(self, tick: int, x: int, y: int, aim: int, hp: int, alive: bool, now: float | None = None,
                    input_tick: int | None = None, fired: bool | None = None) -> None:
        """The server's state of our entity at `tick`, which includes our inputs up to `input_tick`
        (the newest it applied; -1 = none yet; None = unknown); `fired`: its FIRED flag."""
        if tick <= self.auth_tick:
            return
        self.stats.snapshots += 1
        predicted = self.history.get(tick)
        auth = PlayerState(int(x), int(y), int(aim), int(hp), bool(alive), self._cooldown_at(tick, fired, predicted))
        self.authoritative, self.auth_tick = auth, tick
        for old in [t for t in self.inputs if t <= tick - _HISTORY // 2]:
            del self.inputs[old]
        if not self.ready:
            self._reset_and_replay(tick, auth)
            self.ready = True
            return
        if predicted is None:
            # older than our history or newer than our prediction (inputs stalled): just take it
            if self.reconciliation or tick > self.world.tick:
                self._rebase(tick, auth, now, teleport=True)
            return
        error = math.hypot(auth.x - predicted.x, auth.y - predicted.y)
        both_alive = auth.alive and predicted.alive
        self.stats.last_error = error if both_alive else 0.0
        if not self.reconciliation:
            return  # prediction runs open-loop: whatever drift builds up stays
        if predicted.same_as(auth) and predicted.cooldown == auth.cooldown:
            return  # replaying identical inputs from an identical state gives what we already have
        if both_alive and error > 0:
            self.stats.corrections += 1
            self.stats.correction_distance += error
            self.stats.max_correction = max(self.stats.max_correction, error)
            if input_tick is not None and input_tick < tick:
                self.stats.late_input_corrections += 1
                self.stats.late_input_distance += error
        teleport = auth.alive != predicted.alive
        if teleport:
            self.stats.teleports += 1
        self._rebase(tick, auth, now, teleport)

    def _cooldown_at(self, tick: int, fired: bool | None, predicted: PlayerState | None) -> int:
        """Our weapon cooldown at the end of `tick` as the server has it. Snapshots don't carry it,
        but they show when we fired: a shot at tick F leaves C ticks of cooldown, one less each tick
        after. Without this, a fire button held through one late input would keep every predicted
        shot a few ticks off the server's for as long as it stays held."""
        c = self.config.fire_cooldown_ticks
        if fired:
            self._server_fired = tick
            return c
        since = tick - self._server_fired
        if fired is not None and self._server_fired >= 0 and 0 < since < c:
            return c - since
        return predicted.cooldown if predicted is not None else 0

    def _rebase(self, tick: int, auth: PlayerState, now: float | None, teleport: bool) -> None:
        before = self._state() if self.ready else None
        self._reset_and_replay(tick, auth)
        after = self._state()
        if before is None:
            return
        moved = np.array([before.x - after.x, before.y - after.y], dtype=float)
        self._decay(now)
        self.offset += moved
        if teleport or float(np.hypot(*self.offset)) > self.snap_distance:
            self.offset[:] = 0.0  # a respawn or a huge error: jump, don't slide across the map

    def _reset_and_replay(self, tick: int, auth: PlayerState) -> None:
        # replay up to the newest input we sent (before the first snapshot: whatever we sent already)
        newest = max(self.world.tick if self.ready else max(self.inputs, default=tick), tick)
        self._load(tick, auth)
        self._last_input = self.inputs.get(tick, self._last_input)
        self.history[tick] = auth
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

    def predicted_state(self) -> PlayerState | None:
        return self.history.get(self.world.tick) if self.ready else None

    def draw_position(self, now: float, alpha: float = 1.0) -> tuple[float, float] | None:
        """Where to draw our player (sub-px): between the last two predicted ticks by `alpha`, plus
        the decaying correction offset; or, with prediction off, the latest server position."""
        if not self.ready:
            return None
        if not self.prediction:
            a = self.authoritative
            return (float(a.x), float(a.y))
        self._decay(now)
        cur = self.history.get(self.world.tick)
        prev = self.history.get(self.world.tick - 1, cur)
        if cur is None:
            a = self.authoritative
            return (float(a.x), float(a.y))
        alpha = min(max(alpha, 0.0), 1.0)
        return (prev.x + (cur.x - prev.x) * alpha + self.offset[0], prev.y + (cur.y - prev.y) * alpha + self.offset[1])

    @property
    def visual_error(self) -> float:
        """Current size of the smoothing offset, sub-px."""
        return float(np.hypot(*self.offset))

    def take_shots(self) -> list[ShotFired]:
        """Our shots the prediction fired since the last call (for immediate tracers)."""
        shots, self.new_shots = self.new_shots, []
        return shots
