"""The state-sync client's logic without pixels or sockets: prediction, interpolation, game UI state, measurements
(lag injection, connecting and frame timing are shared with the lockstep client: base.py).

`ClientSession` is a sans-IO object like the endpoints it wraps: the app (or a test) pumps
`session.endpoint` with a driver or a VirtualNetwork, hands the endpoint's events to
`on_events`, sets the player's controls with `set_controls`, and once per rendered frame calls
`frame(now)`, which returns a `Scene` — everything the renderer draws. The game on screen is the one the
server's WELCOME names; its client view (client_demo/games) turns controls into inputs and events into
effects.
"""
from __future__ import annotations

import math
from collections import deque

import attrs
import numpy as np

from netcode.game import Predicted
from netcode.interpolation import Frame, Interpolator, latest_frame
from netcode.prediction import Predictor
from netcode.statesync import messages as msg
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import (ConnectionLost, GameEvents, LateSnapshot, Scoreboard, ShotResult,
                                      SnapshotReceived, Welcome)

from .base import FrameTimes, Rate, SessionBase
from .games import view_for
from .scene import FEED_TIME, MARKER_TIME, TRACER_TIME, HitMarker, Scene, Toggles, Tracer, top_rows

FEED_SUMMARY_EVERY = 3.0  # seconds between the lines that sum up what the feed held back (drone kills)

__all__ = ["FEED_TIME", "MARKER_TIME", "TRACER_TIME", "ClientSession", "HitMarker", "Measurements", "Scene", "Toggles",
           "Tracer"]


@attrs.define
class Measurements(FrameTimes):
    """What the client measured over its run (printed by headless mode, shown by the net graph)."""

    snapshots: int = 0
    snapshot_bytes: int = 0
    snapshots_missing: int = 0
    late_snapshots: int = 0  # arrived after a newer one
    late_kept: int = 0  # ... and still ahead of the render time: interpolated through
    first_snapshot_at: float | None = None
    last_snapshot_tick: int = -1
    local_hits: int = 0
    confirmed_hits: int = 0
    kills: int = 0
    deaths: int = 0
    # our shots as the server judged them (SHOT_RESULT), against our own local ray test of the same tick
    shots_judged: int = 0
    shots_agreed: int = 0  # the server hit what we saw ourselves hit (or missed as we did)
    rewind_ms_total: float = 0.0
    rewind_status: dict = attrs.Factory(dict)


class ClientSession(SessionBase):
    """One player's state-sync client: StateSyncClient behind a LaggedEndpoint, plus Predictor and Interpolator."""

    mode = "state"

    # ------------------------------------------------------------------ connection

    def _new_metrics(self) -> Measurements:
        return Measurements()

    def _make_client(self, token: int | None) -> StateSyncClient:
        return StateSyncClient(self.server_addr, name=self.name, token=token, nonce=self._nonce,
                               transport_config=self._transport_config(), connect_token=self._connect_token())

    def _reset(self) -> None:
        self.welcome: Welcome | None = None
        self.view = None  # the game's client view, once the server named its game
        self.predictor: Predictor | None = None
        self.interp: Interpolator | None = None
        self.names: dict[int, str] = {}
        self.scores: list = []
        self.feed: deque[tuple[float, str]] = deque(maxlen=6)
        self._next_feed_summary = 0.0
        self._local_shots: dict[int, int] = {}  # tick -> what our local test hit (-1 = nothing)
        self._drawn: dict[tuple[int, int], Frame] = {}  # view -> the others we drew with it (recent frames)
        self._seen_input = -1
        self._died_at_tick: int | None = None
        self._bars: deque = deque(maxlen=120)
        # tick gaps between the last snapshots: a congested client gets every n-th tick's snapshot (the server's
        # adaptive rate), so the least recent gap, not the welcome's snapshot_every, is the stream's period
        self._gaps: deque = deque(maxlen=16)
        self._last_frame: Frame | None = None
        for k in ("snaps", "corr", "corr_dist"):
            self._rates[k] = Rate()
            self._rate_values[k] = 0.0

    # ------------------------------------------------------------------ events

    def on_events(self, events: list, now: float) -> None:
        """The endpoint's events (a DatagramDriver handler)."""
        self._sync_inputs()
        for e in events:
            kind = type(e)
            if kind is SnapshotReceived:
                self._on_snapshot(e, now)
            elif kind is LateSnapshot:
                self._on_late_snapshot(e, now)
            elif kind is GameEvents:
                self._on_game_events(e.events, now)
            elif kind is Scoreboard:
                self._on_scoreboard(e.rows)
            elif kind is ShotResult:
                self._on_shot_result(e)
            elif kind is Welcome:
                self._on_welcome(e)
            elif kind is ConnectionLost:
                self._on_lost(e.reason, e.code)

    def _on_shot_result(self, r: ShotResult) -> None:
        m = self.metrics
        m.rewind_ms_total += r.rewind_ms
        m.rewind_status[r.status] = m.rewind_status.get(r.status, 0) + 1
        local = self._local_shots.pop(r.tick, None)
        if local is not None:
            # the server rewound to our view: it should see exactly what our ray test saw
            m.shots_judged += 1
            m.shots_agreed += local == r.target
        for t in [t for t in self._local_shots if t < r.tick - 120]:
            del self._local_shots[t]

    def _on_scoreboard(self, rows: list) -> None:
        for r in rows:
            try:
                self.names[int(r[0])] = str(r[1])[:24]
            except (TypeError, ValueError, IndexError):
                continue  # the server's word, but still bytes off the wire: skip what doesn't parse
        if self.view is not None:
            self.scores = self.view.scoreboard(rows, self.welcome.score_columns, self.welcome.slot)

    def _on_welcome(self, w: Welcome) -> None:
        self.welcome = w
        self.token = w.token
        self.names[w.slot] = self.name
        self.view = view_for(w.game, w.config)
        t = self.toggles
        self.predictor = (Predictor(w.game, w.config, w.slot, prediction=t.prediction, reconciliation=t.reconciliation)
                          if isinstance(w.game, Predicted) else None)
        self.interp = Interpolator(w.tick_rate, w.snapshot_every, enabled=t.interpolation,
                                   teleport_per_tick=self.view.teleport_per_tick,
                                   position=w.game.entities.position_columns)
        self.client.next_input = self.view.input(self._controls)
        self.status = "playing"
        self.message = None

    def _on_snapshot(self, e: SnapshotReceived, now: float) -> None:
        m = self.metrics
        m.snapshots += 1
        m.snapshot_bytes += e.size
        if m.first_snapshot_at is None:
            m.first_snapshot_at = now
        every = self.welcome.snapshot_every if self.welcome else 1
        missing = 0
        if m.last_snapshot_tick >= 0:
            gap = e.tick - m.last_snapshot_tick
            self._gaps.append(gap)
            period = max(every, min(self._gaps))
            missing = max(0, gap // period - 1)
            m.snapshots_missing += missing
        m.last_snapshot_tick = e.tick
        self._bars.append((e.size, missing))
        table = e.table
        if self.interp is not None:
            self.interp.on_snapshot(e.tick, table, now, e.held)
        if self.predictor is not None:
            self.predictor.on_snapshot(e.tick, table, now, -1 if e.input_tick == msg.NO_TICK else e.input_tick)
        if self.view is not None:
            self.view.on_snapshot(e.tick, table, self.welcome.slot)

    def _on_late_snapshot(self, e: LateSnapshot, now: float) -> None:
        """A snapshot overtaken on the way: counted missing when the newer one came, but while the render time
        has not passed it, it is one more picture to interpolate through."""
        m = self.metrics
        m.late_snapshots += 1
        if self.interp is not None and e.tick > self.interp.render_tick(now):
            self.interp.on_snapshot(e.tick, e.table, now, e.held)
            m.snapshots_missing = max(0, m.snapshots_missing - 1)  # not lost after all
            m.snapshots += 1
            m.late_kept += 1

    def _on_game_events(self, events: list, now: float) -> None:
        me = self.welcome.slot if self.welcome else -1
        for ev in events:
            if not isinstance(ev, (list, tuple)) or len(ev) < 2:
                continue
            kind = ev[0]
            try:
                if kind == "join" and len(ev) >= 4:
                    self.names[int(ev[2])] = str(ev[3])
                    self.feed.append((now, f"{ev[3]} joined"))
                elif kind == "leave" and len(ev) >= 3:
                    self.feed.append((now, f"{self._name(int(ev[2]))} left"))
                elif kind == "chat" and len(ev) >= 4:
                    self.feed.append((now, f"{self._name(int(ev[2]))}: {str(ev[3])[:60]}"))
                elif self.view is not None:
                    self._on_game_item(list(ev), now, me)
            except (TypeError, ValueError, IndexError):
                continue

    def _on_game_item(self, ev: list, now: float, me: int) -> None:
        """One of the game's feed items: its line, its effects, and what it says about us."""
        line = self.view.feed_line(ev, self._name)
        if line:
            self.feed.append((now, line))
        self.view.on_feed(ev, now, me, self._drawn_position)
        kind = ev[0]
        if kind == "kill" and len(ev) >= 4:
            if int(ev[2]) == me:
                self.metrics.kills += 1
            if int(ev[3]) == me:
                self.metrics.deaths += 1
                self._died_at_tick = int(ev[1])
        elif kind == "hit" and len(ev) >= 5 and int(ev[2]) == me:
            self.metrics.confirmed_hits += 1
        elif kind == "respawn" and len(ev) >= 3 and int(ev[2]) == me:
            self._died_at_tick = None

    def _name(self, slot: int) -> str:
        if self.view is not None:
            return self.view.entity_name(slot, self.names)
        return self.names.get(slot, f"player {slot}")

    def _drawn_position(self, entity: int) -> tuple[float, float]:
        f = self._last_frame
        if f is not None:
            r = f.row(entity)
            if r is not None:
                return float(f.pos[r, 0]), float(f.pos[r, 1])
        return (math.nan, math.nan)

    # ------------------------------------------------------------------ input

    def _sync_inputs(self) -> None:
        p = self.predictor
        if p is None:
            return
        new = [ti for ti in self.client.sent_inputs if ti.tick > self._seen_input]
        for ti in new:
            p.on_input(ti.tick, ti.input)
        if new:
            self._seen_input = new[-1].tick

    def set_controls(self, controls) -> None:
        """The player's controls (client_demo.games.Controls); the game's view makes the input record."""
        super().set_controls(controls)
        if self.view is not None:
            self.client.next_input = self.view.input(controls)

    # ------------------------------------------------------------------ toggles

    def apply_toggles(self) -> None:
        """Push the toggles into the predictor and interpolator (they take effect on the next frame)."""
        t = self.toggles
        if self.predictor is not None:
            self.predictor.prediction = t.prediction
            self.predictor.reconciliation = t.reconciliation
        if self.interp is not None:
            self.interp.enabled = t.interpolation

    # ------------------------------------------------------------------ frame

    def frame(self, now: float) -> Scene:
        """Advance everything time-based to `now` and describe the picture."""
        self.apply_toggles()
        self._sync_inputs()
        t = self.toggles
        sc = Scene(now, self.status, self.message, t, lag_label=self.lag_label())
        while self.feed and now - self.feed[0][0] > FEED_TIME:
            self.feed.popleft()
        if self.view is not None and now >= self._next_feed_summary:
            self._next_feed_summary = now + FEED_SUMMARY_EVERY
            line = self.view.feed_summary(self._name)
            if line:
                self.feed.append((now, line))
        view, p, interp = self.view, self.predictor, self.interp
        if view is None or interp is None:
            sc.net_lines = self._net_lines(now, None)
            return sc
        me = self.welcome.slot
        sc.view = view
        sc.my_slot = me
        sc.names = self.names
        sc.world_size = view.world_px

        frame = interp.sample(now)
        self.client.view = frame.view  # what the player sees is what the server rewinds to (Valve, lag compensation)
        self._last_frame = frame
        own, row = None, None
        predicted_ids: set = set()
        if p is not None and p.ready:
            alpha = 1.0
            clock = self.client.clock
            if clock is not None and clock.synced and p.tick >= 0:
                alpha = clock.position(now) - p.tick
            drawn = p.draw_positions(now, alpha)
            own = (float(drawn[0, 0]), float(drawn[0, 1]))
            row = p.authoritative[0] if not t.prediction else p.predicted_rows()[0]
            # what the prediction also moves (football's ball) is drawn where it predicts it, in our time
            extra = [(int(e), p.predicted_rows()[i] if t.prediction else p.authoritative[i], drawn[i])
                     for i, e in enumerate(p.entities.tolist()) if i and p.present[i]]
            if extra:
                frame = self._with_predicted(frame, extra)
            predicted_ids = {e for e, _, _ in extra}
        mine = frame.row(me)
        if own is None and mine is not None:
            own = (float(frame.pos[mine, 0]), float(frame.pos[mine, 1]))
            row = frame.values[mine]
        if row is not None:
            status = view.me(row)
            sc.my_hp, sc.my_alive, sc.max_hp, sc.bar_label = status.hp, status.alive, status.max_hp, status.label
            sc.my_row = row
        sc.my_aim = self._controls.aim
        if self._died_at_tick is not None and not sc.my_alive:
            respawn = view.respawn_ticks()
            if respawn is not None:
                left = self._died_at_tick + respawn - interp.server_tick(now)
                sc.respawn_in = max(0.0, left / self.welcome.tick_rate)
        sc.me = own
        cx, cy = view.world_px
        sc.camera = own if own is not None else (cx * view.units / 2, cy * view.units / 2)
        others = frame.without(me)
        sc.others = others
        self._drawn[frame.view] = self._without(others, predicted_ids)
        if len(self._drawn) > 32:
            del self._drawn[next(iter(self._drawn))]
        if t.ghost and self.client.latest is not None:
            lt = self.client.latest
            sc.ghost = latest_frame(self.client.latest_tick, lt.ids, lt.values, view.cols)

        if p is not None:
            self._predicted_effects(now, me)
        sc.tracers, sc.markers = view.effects(now, frame, me, t.prediction)
        sc.feed = [text for _, text in self.feed]
        sc.score_columns = self.welcome.score_columns
        sc.scoreboard = top_rows(self.scores)
        sc.hud_lines = view.hud_lines(frame, me)
        sc.net_lines = self._net_lines(now, frame)
        sc.net_bars = list(self._bars)
        return sc

    @staticmethod
    def _with_predicted(frame: Frame, extra: list) -> Frame:
        """``frame`` with the entities the prediction moves set to their predicted rows and positions."""
        values, pos, ids = frame.values.copy(), frame.pos.copy(), frame.ids
        add_ids, add_rows, add_pos = [], [], []
        for e, row, at in extra:
            r = frame.row(e)
            if r is None:
                add_ids.append(e)
                add_rows.append(row)
                add_pos.append(at)
                continue
            values[r] = row
            pos[r] = np.round(at).astype(np.int64)
        if add_ids:
            ids = np.concatenate([ids, np.array(add_ids, dtype=np.int64)])
            values = np.vstack([values, np.array(add_rows, dtype=np.int64)])
            pos = np.vstack([pos, np.round(np.array(add_pos)).astype(np.int64)])
            order = np.argsort(ids, kind="stable")
            ids, values, pos = ids[order], values[order], pos[order]
        return Frame(frame.render_tick, frame.mode, ids, values, pos, frame.view, frame.from_tick, frame.to_tick)

    @staticmethod
    def _without(frame: Frame, ids: set) -> Frame:
        for e in ids:
            frame = frame.without(e)
        return frame

    def _predicted_effects(self, now: float, me: int) -> None:
        """Our predicted events, tested against the very picture whose view each input carried (the frame on
        screen when the input was sampled), which is what the server rewinds to."""
        events = self.predictor.take_events()
        if not events or not self.toggles.prediction:
            return
        views = {ti.tick: (ti.view_tick, ti.view_frac) for ti in self.client.sent_inputs}
        others = self._drawn.get(self._last_frame.view) if self._last_frame is not None else None

        def seen(tick: int):
            return self._drawn.get(views.get(tick), others)

        local = self.view.on_predicted(events, now, seen, me, self.predictor.inputs)
        for tick, target in local.items():
            self._local_shots[tick] = target
            if target >= 0:
                self.metrics.local_hits += 1

    # ------------------------------------------------------------------ measurements

    @property
    def _units(self) -> int:
        return self.view.units if self.view is not None else 1

    def _net_lines(self, now: float, frame: Frame | None) -> list[str]:
        r, rv = self._rates, self._rate_values
        m = self.metrics
        rv["snaps"] = r["snaps"].add(now, m.snapshots)
        p = self.predictor
        if p is not None:
            rv["corr"] = r["corr"].add(now, p.stats.corrections)
            rv["corr_dist"] = r["corr_dist"].add(now, p.stats.correction_distance / self._units)
        lines = self._transport_lines(now)
        size = (m.snapshot_bytes / m.snapshots) if m.snapshots else 0
        # lost: the server's datagrams that never came, by their sequence numbers (exact); the gaps between
        # snapshot ticks would also count the server lowering our snapshot rate as loss
        st = self._stats()
        lost = st.loss_in * 100 if st is not None else 0.0
        lines.append(f"snapshots {rv['snaps']:5.1f}/s  {size:5.0f} B  lost {lost:4.1f} %")
        if p is not None:
            lines.append(f"corrections {rv['corr']:4.1f}/s {rv['corr_dist']:5.1f} px/s  smooth {p.visual_error / self._units:4.1f} px")
        if frame is not None and self.interp is not None:
            ip = self.interp
            lines.append(f"interp {ip.delay(now) * 1000:5.1f} ms (target {ip.target_delay * 1000:5.1f}) {frame.mode}")
            lines.append(f"tick server ~{ip.server_tick(now):7.1f}  view {frame.render_tick:7.1f}  input {p.tick if p else -1}")
        if m.shots_judged:
            lines.append(f"shots {m.shots_judged:3d}  server agrees {100 * m.shots_agreed / m.shots_judged:3.0f} %  "
                         f"rewind {m.rewind_ms_total / max(1, sum(m.rewind_status.values())):3.0f} ms")
        lines.append(self.lag_label())
        return lines

    def summary(self, now: float) -> dict:
        """Everything measured since start, as plain numbers (headless output and --json)."""
        m = self.metrics
        playing = max(now - m.first_snapshot_at, 1e-9) if m.first_snapshot_at is not None else 0.0
        p = self.predictor
        corr = p.stats.corrections if p else 0
        dist_px = (p.stats.correction_distance / self._units) if p else 0.0
        out = self._common_summary(now, playing)
        out.update({
            "snapshots": m.snapshots, "snapshots_per_s": m.snapshots / playing if playing else 0.0,
            "snapshot_bytes_mean": m.snapshot_bytes / m.snapshots if m.snapshots else 0.0,
            # snapshot ticks skipped beyond the smallest recent period: loss, but also any lowering of our
            # snapshot rate by the server's adaptation (loss_in is the exact datagram loss)
            "snapshot_loss": m.snapshots_missing / (m.snapshots + m.snapshots_missing) if m.snapshots else 0.0,
            "late_snapshots": m.late_snapshots, "late_snapshots_kept": m.late_kept,
            "corrections": corr, "corrections_per_s": corr / playing if playing else 0.0,
            "correction_px_per_s": dist_px / playing if playing else 0.0,
            "correction_px_mean": dist_px / corr if corr else 0.0,
            "max_correction_px": (p.stats.max_correction / self._units) if p else 0.0,
            # corrections at ticks the server ran without our input (late or lost, mostly while the
            # input clock converges in the first second), and what is left without them
            "late_input_corrections": p.stats.late_input_corrections if p else 0,
            "steady_correction_px_per_s": ((p.stats.correction_distance - p.stats.late_input_distance) / self._units
                                           / playing) if p and playing else 0.0,
            "interp_delay_ms": self.interp.delay(now) * 1000 if self.interp else None,
            "extrapolated_frames": self.interp.extrapolated_frames if self.interp else 0,
            "frozen_frames": self.interp.frozen_frames if self.interp else 0,
            "local_hits": m.local_hits, "confirmed_hits": m.confirmed_hits, "kills": m.kills, "deaths": m.deaths,
            "shots_judged": m.shots_judged, "shots_agreed": m.shots_agreed,
            "hit_agreement": m.shots_agreed / m.shots_judged if m.shots_judged else None,
            "rewind_ms_mean": m.rewind_ms_total / max(1, sum(m.rewind_status.values())),
            "rewind_status": dict(m.rewind_status),
        })
        return out
