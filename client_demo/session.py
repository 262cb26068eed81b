"""The state-sync client's logic without pixels or sockets: prediction, interpolation, game UI state, measurements
(lag injection, connecting and frame timing are shared with the lockstep client: base.py).

`ClientSession` is a sans-IO object like the endpoints it wraps: the app (or a test) pumps
`session.endpoint` with a driver or a VirtualNetwork, hands the endpoint's events to
`on_events`, sets the player's input with `set_input`, and once per rendered frame calls
`frame(now)`, which returns a `Scene` — everything the renderer draws.
"""
from __future__ import annotations

import math
from collections import deque

import attrs
import numpy as np

from netcode.interpolation import Frame, Interpolator
from netcode.prediction import Predictor
from netcode.sim import SUBPX, SimConfig, cast_rays
from netcode.sim.fixed import max_per_tick
from netcode.statesync import messages as msg
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import ConnectionLost, GameEvents, Scoreboard, ShotResult, SnapshotReceived, Welcome
from netcode.statesync.schema import F_AIM, F_FLAGS, F_HP, F_X, F_Y, FLAG_ALIVE, FLAG_FIRED, FLAG_NPC

from .base import FrameTimes, Rate, SessionBase
from .scene import FEED_TIME, MARKER_TIME, TRACER_TIME, HitMarker, Scene, Toggles, Tracer, top_rows

__all__ = ["FEED_TIME", "MARKER_TIME", "TRACER_TIME", "ClientSession", "HitMarker", "Measurements", "Scene", "Toggles",
           "Tracer"]


@attrs.define
class Measurements(FrameTimes):
    """What the client measured over its run (printed by headless mode, shown by the net graph)."""

    snapshots: int = 0
    snapshot_bytes: int = 0
    snapshots_missing: int = 0
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
                               transport_config=self._transport_config())

    def _reset(self) -> None:
        self.welcome: Welcome | None = None
        self.sim: SimConfig | None = None
        self.predictor: Predictor | None = None
        self.interp: Interpolator | None = None
        self.names: dict[int, str] = {}
        self.scores: list = []
        self.feed: deque[tuple[float, str]] = deque(maxlen=6)
        self.tracers: list[Tracer] = []
        self.markers: list[HitMarker] = []
        self._pending_fire: deque = deque()
        self._local_shots: dict[int, int] = {}  # tick -> what our local ray test hit (-1 = nothing)
        self._drawn: dict[tuple[int, int], Frame] = {}  # view -> the others we drew with it (recent frames)
        self._seen_input = -1
        self._died_at_tick: int | None = None
        self._bars: deque = deque(maxlen=120)
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
            elif kind is GameEvents:
                self._on_game_events(e.events, now)
            elif kind is Scoreboard:
                self._on_scoreboard(e.rows)
            elif kind is ShotResult:
                self._on_shot_result(e)
            elif kind is Welcome:
                self._on_welcome(e)
            elif kind is ConnectionLost:
                self._on_lost(e.reason)

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
        scores = []
        for r in rows:
            try:
                slot, name, kills, deaths = int(r[0]), str(r[1])[:24], int(r[2]), int(r[3])
            except (TypeError, ValueError, IndexError, KeyError):
                continue  # the server's word, but still bytes off the wire: skip what doesn't parse
            scores.append((slot, name, kills, deaths))
            self.names[slot] = name
        self.scores = scores

    def _on_welcome(self, w: Welcome) -> None:
        try:
            self.sim = SimConfig.from_dict(w.sim)
        except ValueError as e:
            self._on_lost(f"the server's game rules are not ours ({e})")
            return
        self.welcome = w
        self.token = w.token
        self.names[w.slot] = self.name
        t = self.toggles
        self.predictor = Predictor(self.sim, w.slot, prediction=t.prediction, reconciliation=t.reconciliation)
        step = max_per_tick(max(self.sim.player_speed, self.sim.npc_speed) * SUBPX, w.tick_rate)
        self.interp = Interpolator(w.tick_rate, w.snapshot_every, enabled=t.interpolation,
                                   teleport_per_tick=4 * step)
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
            missing = max(0, (e.tick - m.last_snapshot_tick) // every - 1)
            m.snapshots_missing += missing
        m.last_snapshot_tick = e.tick
        self._bars.append((e.size, missing))
        table = e.table
        if self.interp is not None:
            self.interp.on_snapshot(e.tick, table, now)
        if self.predictor is not None:
            ids = table.ids
            i = int(np.searchsorted(ids, self.predictor.slot))
            if i < len(ids) and ids[i] == self.predictor.slot:
                v = table.values[i]
                self.predictor.on_snapshot(e.tick, int(v[F_X]), int(v[F_Y]), int(v[F_AIM]), int(v[F_HP]),
                                           bool(v[F_FLAGS] & FLAG_ALIVE), now,
                                           -1 if e.input_tick == msg.NO_TICK else e.input_tick,
                                           bool(v[F_FLAGS] & FLAG_FIRED))
        fired = np.flatnonzero(table.values[:, F_FLAGS] & FLAG_FIRED) if len(table) else ()
        if len(fired):
            v = table.values[fired]
            self._pending_fire.append((e.tick, table.ids[fired].astype(np.int64), v[:, F_X].astype(np.int64),
                                       v[:, F_Y].astype(np.int64), v[:, F_AIM].astype(np.int64)))

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
                elif kind == "kill" and len(ev) >= 4:
                    killer, victim = int(ev[2]), int(ev[3])
                    self.feed.append((now, f"{self._name(killer)} > {self._name(victim)}"))
                    if killer == me:
                        self.metrics.kills += 1
                        for mk in self.markers:
                            if mk.confirmed and mk.target == victim:
                                mk.kill = True
                    if victim == me:
                        self.metrics.deaths += 1
                        self._died_at_tick = int(ev[1])
                elif kind == "hit" and len(ev) >= 5 and int(ev[2]) == me:
                    self.metrics.confirmed_hits += 1
                    target = int(ev[3])
                    x, y = self._drawn_position(target)
                    # one marker per target: a burst of hits reads as one growing number
                    old = [mk for mk in self.markers if mk.confirmed and mk.target == target]
                    damage = int(ev[4]) + sum(mk.damage for mk in old)
                    self.markers = [mk for mk in self.markers if not (mk.confirmed and mk.target == target)]
                    self.markers.append(HitMarker(x, y, now, True, damage, target=target))
                elif kind == "respawn" and len(ev) >= 3 and int(ev[2]) == me:
                    self._died_at_tick = None
                elif kind == "chat" and len(ev) >= 4:
                    self.feed.append((now, f"{self._name(int(ev[2]))}: {str(ev[3])[:60]}"))
            except (TypeError, ValueError):
                continue

    def _name(self, slot: int) -> str:
        if self.sim is not None and slot >= self.sim.max_players:
            return f"drone {slot - self.sim.max_players}"
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
        self.tracers = [tr for tr in self.tracers if now - tr.born < TRACER_TIME]
        self.markers = [mk for mk in self.markers if now - mk.born < MARKER_TIME]
        while self.feed and now - self.feed[0][0] > FEED_TIME:
            self.feed.popleft()
        sim, p, interp = self.sim, self.predictor, self.interp
        if sim is None or p is None or interp is None:
            sc.net_lines = self._net_lines(now, None)
            return sc
        me = p.slot
        sc.my_slot = me
        sc.names = self.names
        sc.world_size = (sim.width, sim.height)
        sc.walls = sim.walls
        sc.player_radius, sc.npc_radius = sim.player_radius, sim.npc_radius
        sc.max_hp = sim.player_hp

        frame = interp.sample(now)
        self.client.view = frame.view  # what the player sees is what the server rewinds to (Valve, lag compensation)
        self._last_frame = frame
        alpha = 1.0
        clock = self.client.clock
        if clock is not None and clock.synced and p.tick >= 0:
            alpha = clock.position(now) - p.tick
        own = p.draw_position(now, alpha)
        mine = frame.row(me)
        if own is None and mine is not None:
            own = (float(frame.pos[mine, 0]), float(frame.pos[mine, 1]))
        auth = p.authoritative
        if auth is not None:
            sc.my_hp, sc.my_alive = auth.hp, auth.alive
            sc.my_aim = self._input.aim if t.prediction else auth.aim
        if self._died_at_tick is not None and not sc.my_alive:
            left = self._died_at_tick + sim.respawn_ticks - interp.server_tick(now)
            sc.respawn_in = max(0.0, left / self.welcome.tick_rate)
        sc.me = own
        sc.camera = own if own is not None else (sim.width * SUBPX / 2, sim.height * SUBPX / 2)
        if mine is not None:
            keep = np.ones(len(frame.ids), dtype=bool)
            keep[mine] = False
            others = Frame(frame.render_tick, frame.mode, frame.ids[keep], frame.pos[keep], frame.aim[keep],
                           frame.hp[keep], frame.flags[keep], frame.view, frame.from_tick, frame.to_tick)
        else:
            others = frame
        sc.others = others
        self._drawn[frame.view] = others
        if len(self._drawn) > 32:
            del self._drawn[next(iter(self._drawn))]
        if t.ghost and self.client.latest is not None:
            lt = self.client.latest
            v = lt.values
            sc.ghost = Frame(float(self.client.latest_tick), "latest", lt.ids.astype(np.int64),
                             v[:, 0:2].astype(np.int64), v[:, 2], v[:, 3], v[:, 4], (self.client.latest_tick, 0))

        self._emit_snapshot_tracers(now, frame, me)
        self._emit_predicted_shots(now, others)
        sc.tracers = list(self.tracers)
        sc.markers = list(self.markers)
        sc.feed = [text for _, text in self.feed]
        sc.scoreboard = top_rows([(name, kills, deaths, slot == me) for slot, name, kills, deaths in self.scores])
        sc.net_lines = self._net_lines(now, frame)
        sc.net_bars = list(self._bars)
        return sc

    def _radii(self, flags: np.ndarray) -> np.ndarray:
        sim = self.sim
        return np.where(flags & FLAG_NPC, sim.npc_radius * SUBPX, sim.player_radius * SUBPX).astype(np.int64)

    def _cast(self, origin, aim: int, frame: Frame, exclude_row: int = -1) -> tuple[int, int]:
        """Our own ray test against what is drawn: (row hit or -1, distance sub-px)."""
        sim = self.sim
        alive = (frame.flags & FLAG_ALIVE) != 0
        hit, dist = cast_rays([origin], [aim], sim.weapon_range * SUBPX, frame.pos, self._radii(frame.flags),
                              alive, np.asarray(sim.walls, dtype=np.int64).reshape(-1, 4) * SUBPX,
                              exclude=[exclude_row], bounds=(sim.width * SUBPX, sim.height * SUBPX))
        return int(hit[0]), int(dist[0])

    def _ray_end(self, x, y, aim, dist):
        a = aim * 2 * math.pi / 4096
        return x + math.cos(a) * dist, y + math.sin(a) * dist

    def _emit_snapshot_tracers(self, now: float, frame: Frame, me: int) -> None:
        """Others' shots (FLAG_FIRED + aim) appear when the render time reaches the tick they were fired."""
        q = self._pending_fire
        upto = frame.render_tick if self.toggles.interpolation else float("inf")
        while q and q[0][0] <= upto:
            tick, ids, xs, ys, aims = q.popleft()
            if len(self.tracers) > 200:
                continue
            for e, x, y, a in zip(ids.tolist(), xs.tolist(), ys.tolist(), aims.tolist()):
                if e == me and self.toggles.prediction:
                    continue  # our own shots were drawn when we fired them
                row = frame.row(e)
                _, dist = self._cast((x, y), a, frame, -1 if row is None else row)
                x1, y1 = self._ray_end(x, y, a, dist)
                self.tracers.append(Tracer(x, y, x1, y1, now, own=e == me))
        while len(q) > 64:
            q.popleft()

    def _emit_predicted_shots(self, now: float, others: Frame) -> None:
        """Our shots as the prediction fires them, tested against the hitboxes we draw right now."""
        shots = self.predictor.take_shots()
        if not self.toggles.prediction:
            return
        views = {ti.tick: (ti.view_tick, ti.view_frac) for ti in self.client.sent_inputs} if shots else {}
        for shot in shots[-4:]:
            ox, oy = shot.origin
            aim = int(self.predictor.inputs.get(shot.tick, self._input).aim)
            # test against the very picture whose view the input carried (the frame on screen when
            # the input was sampled), which is what the server rewinds to
            seen = self._drawn.get(views.get(shot.tick), others)
            row, dist = self._cast((ox, oy), aim, seen)
            self._local_shots[shot.tick] = int(seen.ids[row]) if row >= 0 else -1
            x1, y1 = self._ray_end(ox, oy, aim, dist)
            self.tracers.append(Tracer(ox, oy, x1, y1, now, own=True, predicted=True))
            if row >= 0:
                self.metrics.local_hits += 1
                self.markers.append(HitMarker(float(seen.pos[row, 0]), float(seen.pos[row, 1]), now, False))

    # ------------------------------------------------------------------ measurements

    def _net_lines(self, now: float, frame: Frame | None) -> list[str]:
        r, rv = self._rates, self._rate_values
        m = self.metrics
        rv["snaps"] = r["snaps"].add(now, m.snapshots)
        p = self.predictor
        if p is not None:
            rv["corr"] = r["corr"].add(now, p.stats.corrections)
            rv["corr_dist"] = r["corr_dist"].add(now, p.stats.correction_distance / SUBPX)
        lines = self._transport_lines(now)
        size = (m.snapshot_bytes / m.snapshots) if m.snapshots else 0
        seen = m.snapshots + m.snapshots_missing
        lines.append(f"snapshots {rv['snaps']:5.1f}/s  {size:5.0f} B  lost {100 * m.snapshots_missing / seen if seen else 0:4.1f} %")
        if p is not None:
            lines.append(f"corrections {rv['corr']:4.1f}/s {rv['corr_dist']:5.1f} px/s  smooth {p.visual_error / SUBPX:4.1f} px")
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
        dist_px = (p.stats.correction_distance / SUBPX) if p else 0.0
        out = self._common_summary(now, playing)
        out.update({
            "snapshots": m.snapshots, "snapshots_per_s": m.snapshots / playing if playing else 0.0,
            "snapshot_bytes_mean": m.snapshot_bytes / m.snapshots if m.snapshots else 0.0,
            "snapshot_loss": m.snapshots_missing / (m.snapshots + m.snapshots_missing) if m.snapshots else 0.0,
            "corrections": corr, "corrections_per_s": corr / playing if playing else 0.0,
            "correction_px_per_s": dist_px / playing if playing else 0.0,
            "correction_px_mean": dist_px / corr if corr else 0.0,
            "max_correction_px": (p.stats.max_correction / SUBPX) if p else 0.0,
            # corrections at ticks the server ran without our input (late or lost, mostly while the
            # input clock converges in the first second), and what is left without them
            "late_input_corrections": p.stats.late_input_corrections if p else 0,
            "steady_correction_px_per_s": ((p.stats.correction_distance - p.stats.late_input_distance) / SUBPX
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
