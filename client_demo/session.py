"""The demo client's logic without pixels or sockets: prediction, interpolation, lag, game UI state, measurements.

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
from netcode.lagged import LaggedEndpoint, symmetric_links
from netcode.prediction import Predictor
from netcode.protocol import TransportConfig
from netcode.sim import BUTTON_FIRE, SUBPX, PlayerInput, SimConfig, cast_rays
from netcode.sim.fixed import max_per_tick
from netcode.statesync import messages as msg
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import ConnectionLost, GameEvents, Scoreboard, ShotResult, SnapshotReceived, Welcome
from netcode.statesync.schema import F_AIM, F_FLAGS, F_HP, F_X, F_Y, FLAG_ALIVE, FLAG_FIRED, FLAG_NPC

LAG_PRESETS = (0, 50, 150, 300)  # added round-trip ms, cycled with L
TRACER_TIME = 0.15
MARKER_TIME = 0.45
FEED_TIME = 6.0


@attrs.define
class Toggles:
    """What the player switched on or off at runtime (keys P, R, I, G, N, H)."""

    prediction: bool = True
    reconciliation: bool = True
    interpolation: bool = True
    ghost: bool = False
    net_graph: bool = False
    help: bool = False


@attrs.define
class Tracer:
    """A shot's line, sub-px, fading after TRACER_TIME. `own`: ours; `predicted`: drawn before the server said so."""

    x0: float
    y0: float
    x1: float
    y1: float
    born: float
    own: bool = False
    predicted: bool = False


@attrs.define
class HitMarker:
    """A hit on someone: `confirmed` by the server (GameEvents "hit") or `predicted` by our local ray test."""

    x: float
    y: float
    born: float
    confirmed: bool
    damage: int = 0
    kill: bool = False
    target: int = -1


@attrs.define(eq=False)
class Scene:
    """One frame for the renderer: positions in sub-px world coordinates."""

    now: float
    status: str  # "connecting", "playing", "lost"
    message: str | None
    toggles: Toggles
    world_size: tuple[int, int] = (4096, 4096)  # px
    walls: tuple = ()
    camera: tuple[float, float] = (0.0, 0.0)  # sub-px centre
    me: tuple[float, float] | None = None
    my_aim: int = 0
    my_alive: bool = True
    my_hp: int = 0
    max_hp: int = 100
    respawn_in: float | None = None
    others: Frame | None = None  # interpolated everyone else (our own row removed)
    ghost: Frame | None = None  # the raw newest snapshot
    tracers: list = attrs.Factory(list)
    markers: list = attrs.Factory(list)
    feed: list = attrs.Factory(list)  # strings, newest last
    scoreboard: list = attrs.Factory(list)  # (name, kills, deaths, is_me)
    net_lines: list = attrs.Factory(list)
    net_bars: list = attrs.Factory(list)  # (size bytes, missing before it) per recent snapshot
    lag_label: str = ""
    player_radius: int = 12
    npc_radius: int = 10
    my_slot: int = -1
    names: dict = attrs.Factory(dict)  # player slot -> name


class _Rate:
    """Rate of a cumulative counter over the last `window` seconds."""

    def __init__(self, window: float = 1.0):
        self.window = window
        self._q: deque[tuple[float, float]] = deque()

    def add(self, now: float, total: float) -> float:
        q = self._q
        q.append((now, total))
        while len(q) > 2 and q[1][0] <= now - self.window:
            q.popleft()
        t0, v0 = q[0]
        return (total - v0) / (now - t0) if now > t0 else 0.0


@attrs.define
class Measurements:
    """What the client measured over its run (printed by headless mode, shown by the net graph)."""

    started: float = 0.0
    frames: int = 0
    frame_work: list = attrs.Factory(list)  # seconds of logic + render per frame
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


class ClientSession:
    """One player's client: StateSyncClient behind a LaggedEndpoint, plus Predictor and Interpolator."""

    def __init__(self, server_addr, name: str = "player", *, lag_ms: float = 0.0, jitter_ms: float = 0.0,
                 loss_pct: float = 0.0, dup_pct: float = 0.0, seed: int | None = None, connect_timeout: float = 5.0,
                 token: int | None = None, toggles: Toggles | None = None, nonce: int | None = None):
        self.server_addr = server_addr
        self.name = name
        self.seed = seed
        self.connect_timeout = connect_timeout
        self.toggles = toggles or Toggles()
        self.lag = (lag_ms, jitter_ms, loss_pct, dup_pct)
        self._nonce = nonce
        self.metrics = Measurements()
        self.token = token  # from our Welcome: reclaims our player on a reconnect
        self._new_connection(token)

    # ------------------------------------------------------------------ connection

    def _new_connection(self, token: int | None) -> None:
        self.client = StateSyncClient(self.server_addr, name=self.name, token=token, nonce=self._nonce,
                                      transport_config=TransportConfig(connect_timeout=self.connect_timeout))
        up, down = symmetric_links(*self.lag)
        self.endpoint = LaggedEndpoint(self.client, up, down, seed=self.seed)
        self.status = "connecting"
        self._closing = False
        self.message: str | None = f"connecting to {self._addr_text()} …"
        self.lost_reason: str | None = None
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
        self._rates = {k: _Rate() for k in ("in", "out", "snaps", "corr", "corr_dist", "frames")}
        self._rate_values = dict.fromkeys(self._rates, 0.0)
        self._input = PlayerInput()

    def _addr_text(self) -> str:
        a = self.server_addr
        return f"{a[0]}:{a[1]}" if isinstance(a, tuple) and len(a) == 2 else str(a)

    def start(self, now: float) -> None:
        self.metrics.started = now
        self.client.connect(now)

    def reconnect(self, now: float) -> None:
        """Start over with a new connection, reclaiming our player with the Welcome token if we had one."""
        self.client.disconnect()
        if self._nonce is not None:
            self._nonce += 1  # a new attempt (a fixed nonce only makes tests reproducible)
        self._new_connection(self.token)
        self.client.connect(now)

    def close(self) -> None:
        """Disconnect (the DISCONNECT goes out unimpaired, or it might never leave)."""
        self._closing = True
        self.endpoint.set_links(*symmetric_links())
        self.client.disconnect()

    # ------------------------------------------------------------------ lag presets

    def set_lag(self, lag_ms: float, jitter_ms: float | None = None, loss_pct: float | None = None,
                dup_pct: float | None = None) -> None:
        _, jitter, loss, dup = self.lag
        self.lag = (lag_ms, jitter if jitter_ms is None else jitter_ms, loss if loss_pct is None else loss_pct,
                    dup if dup_pct is None else dup_pct)
        up, down = symmetric_links(*self.lag)
        self.endpoint.set_links(up, down)

    def cycle_lag(self) -> float:
        """Next of the 0/50/150/300 ms presets (keeps jitter/loss/dup); returns the new added RTT in ms."""
        cur = self.lag[0]
        nxt = next((p for p in LAG_PRESETS if p > cur), LAG_PRESETS[0])
        self.set_lag(nxt)
        return nxt

    def lag_label(self) -> str:
        lag, jit, loss, dup = self.lag
        parts = [f"+{lag:g} ms RTT"]
        if jit:
            parts.append(f"±{jit:g} ms")
        if loss:
            parts.append(f"{loss:g}% loss")
        if dup:
            parts.append(f"{dup:g}% dup")
        return "lag " + " ".join(parts) if (lag or jit or loss or dup) else "no added lag"

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

    def _on_lost(self, reason: str) -> None:
        if self.status == "lost" or self._closing:
            return
        self.status = "lost"
        self.lost_reason = reason
        self.message = f"{self.explain(reason)} — press C to reconnect"

    def explain(self, reason: str) -> str:
        """A transport reason in words for the player."""
        if reason.startswith("could not connect") and "timed out" in reason:
            return f"no answer from {self._addr_text()} (is the server running?)"
        if "closed by peer" in reason:
            return f"the server closed the connection ({reason})"
        if reason.endswith("timed out"):
            return f"the server stopped answering ({reason})"
        return reason

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

    def set_input(self, move_x: int = 0, move_y: int = 0, aim: int = 0, fire: bool = False) -> None:
        """The player's current controls; the client samples them once per input tick."""
        self._input = PlayerInput(int(move_x), int(move_y), int(aim) & 4095, BUTTON_FIRE if fire else 0)
        self.client.next_input = self._input

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
        board = sorted(((name, kills, deaths, slot == me) for slot, name, kills, deaths in self.scores),
                       key=lambda r: (-r[1], r[2], r[0]))
        if len(board) > 8:
            # the top seven, and always ourselves
            board = board[:7] + ([r for r in board[7:] if r[3]] or board[7:8])
        sc.scoreboard = board
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

    def note_frame(self, now: float, work: float) -> None:
        """The app finished a frame that took `work` seconds of logic + render."""
        m = self.metrics
        m.frames += 1
        if len(m.frame_work) < 1_000_000:
            m.frame_work.append(work)
        self._rate_values["frames"] = self._rates["frames"].add(now, m.frames)

    def _net_lines(self, now: float, frame: Frame | None) -> list[str]:
        conn = self.client.transport.connection
        st = conn.stats if conn is not None else None
        r, rv = self._rates, self._rate_values
        m = self.metrics
        if st is not None:
            rv["in"] = r["in"].add(now, st.bytes_in * 8 / 1000)
            rv["out"] = r["out"].add(now, st.bytes_out * 8 / 1000)
        rv["snaps"] = r["snaps"].add(now, m.snapshots)
        p = self.predictor
        if p is not None:
            rv["corr"] = r["corr"].add(now, p.stats.corrections)
            rv["corr_dist"] = r["corr_dist"].add(now, p.stats.correction_distance / SUBPX)
        work = m.frame_work[-60:]
        lines = [f"fps {rv['frames']:5.1f}   frame {1000 * (sum(work) / len(work) if work else 0):5.2f} ms"]
        if st is not None:
            lines.append(f"rtt {st.rtt * 1000:6.1f} ms  jitter {st.jitter * 1000:5.1f} ms  loss {st.loss * 100:4.1f} %")
            lines.append(f"in {rv['in']:6.1f} kbit/s   out {rv['out']:6.1f} kbit/s")
        else:
            lines.append("rtt  —  (not connected)")
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
        conn = self.client.transport.connection
        st = conn.stats if conn is not None else None
        elapsed = max(now - m.started, 1e-9)
        playing = max(now - m.first_snapshot_at, 1e-9) if m.first_snapshot_at is not None else 0.0
        work = np.asarray(m.frame_work) if m.frame_work else np.zeros(1)
        p = self.predictor
        corr = p.stats.corrections if p else 0
        dist_px = (p.stats.correction_distance / SUBPX) if p else 0.0
        out = {
            "server": self._addr_text(), "connected": self.status == "playing", "lost_reason": self.lost_reason,
            "duration_s": elapsed, "playing_s": playing, "frames": m.frames,
            "fps": m.frames / elapsed, "frame_ms_mean": float(work.mean() * 1000),
            "frame_ms_p50": float(np.percentile(work, 50) * 1000), "frame_ms_p99": float(np.percentile(work, 99) * 1000),
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
            "rtt_ms": st.rtt * 1000 if st else None, "jitter_ms": st.jitter * 1000 if st else None,
            "loss": st.loss if st else None,
            "kbit_in": (st.bytes_in * 8 / 1000 / playing) if st and playing else 0.0,
            "kbit_out": (st.bytes_out * 8 / 1000 / playing) if st and playing else 0.0,
            "interp_delay_ms": self.interp.delay(now) * 1000 if self.interp else None,
            "extrapolated_frames": self.interp.extrapolated_frames if self.interp else 0,
            "frozen_frames": self.interp.frozen_frames if self.interp else 0,
            "local_hits": m.local_hits, "confirmed_hits": m.confirmed_hits, "kills": m.kills, "deaths": m.deaths,
            "shots_judged": m.shots_judged, "shots_agreed": m.shots_agreed,
            "hit_agreement": m.shots_agreed / m.shots_judged if m.shots_judged else None,
            "rewind_ms_mean": m.rewind_ms_total / max(1, sum(m.rewind_status.values())),
            "rewind_status": dict(m.rewind_status),
            "lag": {"lag_ms": self.lag[0], "jitter_ms": self.lag[1], "loss_pct": self.lag[2], "dup_pct": self.lag[3]},
        }
        return out
