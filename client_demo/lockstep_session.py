"""The demo client against a lockstep server: sans-IO logic producing the same `Scene` as state sync.

A `LockstepSession` wraps a `netcode.lockstep.LockstepClient` (behind the same lag simulator): the
client steps its own World on each complete frame bundle, and the input the player holds is sampled
for frame f + D after frame f was played (D = the server's input delay). There is nothing to predict,
reconcile or interpolate between server states — every client shows the same confirmed frames — so P,
R and G say "n/a in lockstep". I switches *render smoothing*: at 15 Hz a world drawn as stepped moves in
visible jumps, so the picture slides from the previous frame's positions to the current one's over one
frame interval (render interpolation, Fiedler's "Fix Your Timestep!"), at the price of drawing up to one
interval behind the simulation; a jump longer than a few frames' motion (a respawn) is not slid. What it
shows besides: frame number, input delay, the playout (jitter) buffer and the checksum/desync status.
"""
from __future__ import annotations

from collections import deque

import attrs
import numpy as np

from netcode.game import EventFeed
from netcode.lockstep import LockstepClient
from netcode.lockstep.client import ClientConfig
from netcode.lockstep.events import ConnectionLost, MatchOver, Synced, Welcomed
from netcode.lockstep.rollback import unmatched

from .base import FrameTimes, SessionBase
from .games import view_for
from .scene import FEED_TIME, Scene
from .worldview import fill_from_world

NA = "n/a in lockstep"
NOTICE_TIME = 2.5
FREEZE_FRAMES = 2  # the picture standing still this many frame intervals counts as a stall
LATE_WINDOW = 30  # frames: more than a quarter of our inputs filled in these → warn about the input delay


def _players(result: dict) -> list[dict]:
    """END's per-player rows (dicts only)."""
    rows = result.get("players")
    return [p for p in rows if isinstance(p, dict)] if isinstance(rows, list) else []


@attrs.define
class LockstepMeasurements(FrameTimes):
    """What a lockstep client measured over its run (headless output, net graph)."""

    first_frame_at: float | None = None
    stalls: int = 0  # times the picture stood still for more than FREEZE_FRAMES intervals
    longest_freeze: float = 0.0  # seconds
    inputs_replaced: int = 0  # frames whose bundle did not carry the input we sampled (late or lost: filled)
    inputs_compared: int = 0
    hits: int = 0  # counted from confirmed events: a predicted kill a rollback takes back is not one
    kills: int = 0
    deaths: int = 0


class LockstepSession(SessionBase):
    """One player's lockstep client: LockstepClient behind a LaggedEndpoint, its World drawn as a Scene."""

    mode = "lockstep"
    brain = None  # a bot's brain(client) -> packed input; None: the player's controls (set_controls)

    def _new_metrics(self) -> LockstepMeasurements:
        return LockstepMeasurements()

    def _make_client(self, token: int | None) -> LockstepClient:
        c = LockstepClient(self.server_addr, name=self.name[:24], token=token, nonce=self._nonce,
                           transport_config=self._transport_config(), brain=self._sample,
                           connect_token=self._connect_token(), config=ClientConfig(rollback=self.rollback))
        c.on_frame = self._on_frame
        c.on_confirmed = self._on_confirmed
        c.on_canceled = self._on_canceled
        return c

    def _reset(self) -> None:
        self.names: dict[int, str] = {}
        self.result: dict | None = None  # END: the match's results
        self.sync: tuple[int, bool] | None = None  # the server's verdict on our catch-up handshake
        self._unshown: list = []  # sim events of frames played since the last picture
        self._recent: deque = deque()  # (time shown, sim events)
        self._told: dict[int, list] = {}  # rollback: frame -> the events shown for it on prediction (drawn lists)
        self._sent: dict[int, int] = {}  # frame -> the input record we sampled for it
        self.view = None  # the game's client view, once the server named its game
        self._fire_latch = False
        self._bars: deque = deque(maxlen=120)
        self._bytes_seen = 0
        self._shown_frame = -1
        self._shown_at: float | None = None
        self._frozen_counted = False
        self._seen_toggles = self._mode_toggles()
        self._notice: tuple[str, float] | None = None
        self._pending_notice: str | None = None
        self._resyncs_seen = 0
        self._rb_seen: deque = deque()  # (time, rollbacks, frames re-simulated, mispredicted) for the rates
        self._prev_pos: np.ndarray | None = None  # positions after the frame before the newest (smoothing)
        self._cur_pos: np.ndarray | None = None  # positions after the newest frame

    # ------------------------------------------------------------------ input

    def set_controls(self, controls) -> None:
        super().set_controls(controls)
        if controls.fire:
            self._fire_latch = True  # a click shorter than a frame interval still fires once

    def _sample(self, client: LockstepClient) -> int:
        """The input hook LockstepClient calls for frame `client.input_frame` (after playing that minus D)."""
        if self.brain is not None:
            inp = self.brain(client)
        else:
            if self.view is None or self.view.game is not client.game:
                self.view = view_for(client.game, client.sim)
            c = self._controls
            if self._fire_latch:
                c = attrs.evolve(c, fire=True)
            inp = self.view.input(c)
        self._fire_latch = False
        self._sent[client.input_frame] = inp
        return inp

    # ------------------------------------------------------------------ events

    def on_events(self, events: list, now: float) -> None:
        """The endpoint's events (a DatagramDriver handler)."""
        for e in events:
            kind = type(e)
            if kind is Welcomed:
                self._on_welcome(e)
            elif kind is Synced:
                self.sync = (e.frame, e.ok)
                if not e.ok:
                    self._pending_notice = f"our world differed from the server's at frame {e.frame}: resyncing"
            elif kind is MatchOver:
                self._on_match_over(e.result)
            elif kind is ConnectionLost:
                connected_once = self.client.welcome is not None or self.client.transport.connection is not None
                self._on_lost(f"{'disconnected' if connected_once else 'could not connect'}: {e.reason}", e.code)

    def _on_welcome(self, e: Welcomed) -> None:
        w = self.client.welcome
        c = self.client
        if self.view is None or self.view.game is not c.game or self.view.config != c.sim:
            self.view = view_for(c.game, c.sim)
        self.token = w.get("token", self.token)
        self.names[e.slot] = self.name[:24]
        if self.client.counters.resyncs > self._resyncs_seen:
            self._resyncs_seen = self.client.counters.resyncs
            self._pending_notice = f"the server resynced us at frame {e.frame} (our world had diverged)"
        self.status = "playing"
        self.message = None

    def _on_match_over(self, result: dict) -> None:
        self.result = result
        self.token = None  # the match is over: C joins a new one
        # the server's word, but still bytes off the wire: use only what has the expected types
        rows = [p for p in _players(result) if isinstance(p.get("slot"), int) and isinstance(p.get("name"), str)]
        for p in rows:
            self.names[p["slot"]] = p["name"][:24]
        scored = [p for p in rows if isinstance(p.get("score"), int) and p["score"] > 0]
        best = max(scored, key=lambda p: p["score"], default=None)
        top = f" — {best['name'][:24]} leads with {best['score']}" if best else ""
        self.status = "ended"
        reason = result.get("reason")
        why = f" ({reason})" if isinstance(reason, str) and reason != "frames" else ""  # "frames": its set length
        self.message = f"match over after {result.get('frames', '?')} frames{why}{top} — C: new match"

    def _on_lost(self, reason: str, code=None) -> None:
        if self.status == "ended":
            self.lost_reason = reason  # the match is over anyway: keep its results on screen
            return
        super()._on_lost(reason, code)

    def _on_frame(self, client: LockstepClient, f: int) -> None:
        """Called by the client after it stepped frame f: collect what the picture and the measurements need."""
        game = client.game
        view = game.entity_view(client.world)
        self._prev_pos, self._cur_pos = self._cur_pos, np.asarray(view.pos).copy()
        events = client.frame_events
        if events:
            shown = list(events)  # our own copy: a rollback may take events out of what is drawn
            self._unshown.append(shown)
            if client.rb is not None:
                self._told[f] = shown
        slot = client.slot
        replaced = False
        sent = self._sent.pop(f, None)
        records, size = client.frame_inputs, game.inputs.record_size
        if client.rb is not None:
            sent = None  # a predicted frame holds what we sent: the server's word comes in its bundle (filled)
        if sent is not None and 0 <= slot < len(records) // size:
            mt = self.metrics
            mt.inputs_compared += 1
            if game.inputs.from_bytes(records, slot * size) != sent:
                replaced = True
                mt.inputs_replaced += 1
        if self._sent and min(self._sent) < f:
            self._sent = {g: v for g, v in self._sent.items() if g > f}
        total = client.counters.bytes_in
        if f > client.live_frame + 1:  # the frame right after a welcome would show the welcome's bytes
            self._bars.append((total - self._bytes_seen, int(replaced or f in client.filled_frames)))
        self._bytes_seen = total

    def _on_confirmed(self, client: LockstepClient, f: int, events: list) -> None:
        """A frame's events that can no longer change (with rollback: once the frame is agreed, including
        events no predicted step showed): what the kills, deaths and hits count."""
        game, slot, mt = client.game, client.slot, self.metrics
        if client.rb is not None:
            # what no predicted step showed (a remote press predicted as released) is drawn now, late
            late = unmatched(events, self._told.pop(f, ()))
            if late:
                self._unshown.append(late)
            for g in [g for g in self._told if g < f]:  # frames whose shown events all came true or went
                del self._told[g]
        if isinstance(game, EventFeed):
            # the feed's "kill" [killer, victim] and "hit" [shooter, target, ...] items are what the client counts
            for item in game.feed(client.world, events):
                if item[0] == "kill" and len(item) >= 4:
                    mt.kills += item[2] == slot
                    mt.deaths += item[3] == slot
                elif item[0] == "hit" and len(item) >= 4 and item[2] == slot:
                    mt.hits += 1

    def _on_canceled(self, client: LockstepClient, f: int, events: list) -> None:
        """Events shown for predicted frame ``f`` that did not happen: out of the picture and the feed."""
        shown = self._told.get(f)
        if shown is not None:
            shown[:] = unmatched(shown, events)  # in place: the drawn list is this one

    def _name(self, slot: int) -> str:
        c = self.client
        names = {**c.names, **self.names}
        if self.view is not None:
            return self.view.entity_name(slot, names)
        return names.get(slot, f"player {slot}")

    # ------------------------------------------------------------------ toggles

    def _mode_toggles(self) -> tuple:
        t = self.toggles
        return (t.prediction, t.reconciliation, t.interpolation, t.ghost)

    def _toggle_notice(self, now: float) -> None:
        """P/R/G do nothing in lockstep: say so instead of silently ignoring the key; I is frame smoothing."""
        cur = self._mode_toggles()
        if cur != self._seen_toggles:
            names = ("prediction", "reconciliation", "interpolation", "ghost")
            changed = [n for n, a, b in zip(names, cur, self._seen_toggles) if a != b]
            if changed == ["interpolation"]:
                self._notice = ("smoothing between frames " + ("on (drawn up to one frame behind)"
                                                               if self.toggles.interpolation else "off"), now)
            else:
                self._notice = (f"{', '.join(changed)}: {NA} — every client steps the same confirmed frames", now)
            self._seen_toggles = cur
        if self._pending_notice is not None:
            self._notice = (self._pending_notice, now)
            self._pending_notice = None

    # ------------------------------------------------------------------ frame

    def frame(self, now: float) -> Scene:
        """Describe the picture at `now`: the world as of the last frame played."""
        c = self.client
        self._toggle_notice(now)
        sc = Scene(now, self.status, self.message, self.toggles, lag_label=self.lag_label(), mode="lockstep",
                   bars_label="lockstep bytes in per frame")
        if self._notice is not None and now - self._notice[1] < NOTICE_TIME:
            sc.notice = self._notice[0]
        for events in self._unshown:
            self._recent.append((now, events))
        self._unshown.clear()
        while self._recent and now - self._recent[0][0] > FEED_TIME:
            self._recent.popleft()
        self._watch_freezes(now)
        if c.rb is not None:
            k = c.rb.counters
            self._rb_seen.append((now, k.rollbacks, k.resimulated, k.mispredicted))
            while now - self._rb_seen[0][0] > 1.0:
                self._rb_seen.popleft()
        if c.world is not None and self.view is not None:
            if self.status == "playing" and c.frame == 0 and c.have == 0:
                sc.message = "waiting for the match to start (when it is full, or after its start timeout) …"
            v = self.view
            fill_from_world(sc, v, c.world, c.slot, self._recent, c.rate, self._name, range(c.sim.max_players),
                            self._smoothed(now))
            sc.my_aim = self._controls.aim
            sc.names = {**c.names, **self.names}
            w, h = v.world_px
            sc.camera = sc.me if sc.me is not None else (w * v.units / 2, h * v.units / 2)
            sc.hud_lines = v.hud_lines(sc.others, c.slot)
            sc.status_lines = self.status_lines()
        sc.net_lines = self._net_lines(now)
        sc.net_bars = list(self._bars)
        return sc

    def _smoothed(self, now: float) -> np.ndarray | None:
        """Positions slid from the previous frame's to the newest's over one interval since it was first
        shown (None: draw the world as stepped)."""
        prev, cur, c = self._prev_pos, self._cur_pos, self.client
        if (not self.toggles.interpolation or prev is None or cur is None or self._shown_at is None
                or prev.shape != cur.shape or self.view is None):
            return None
        alpha = min(1.0, (now - self._shown_at) / c.interval)
        if alpha >= 1.0:
            return None
        d = cur.astype(np.int64) - prev
        slide = np.abs(d).max(axis=1) <= self.view.teleport_per_tick  # a respawn or a resync is a jump, not a move
        out = cur.astype(np.int64)
        out[slide] = prev[slide] + (d[slide] * alpha).astype(np.int64)
        return out

    def _watch_freezes(self, now: float) -> None:
        c = self.client
        if c.frame != self._shown_frame:
            if self.metrics.first_frame_at is None and c.frame > 0:
                self.metrics.first_frame_at = now
            self._shown_frame, self._shown_at, self._frozen_counted = c.frame, now, False
            return
        if self._shown_at is None or c.frame == 0 or self.status != "playing":
            return
        still = now - self._shown_at
        mt = self.metrics
        if still > FREEZE_FRAMES * c.interval:
            mt.longest_freeze = max(mt.longest_freeze, still)
            if not self._frozen_counted:
                self._frozen_counted = True
                mt.stalls += 1

    def desync_text(self) -> str:
        """The checksum/desync status in a few words."""
        c = self.client
        if c.counters.resyncs:
            return f"DESYNC flagged by the server: resynced {c.counters.resyncs}x"
        if c.synced is False:
            return "handshake FAILED: resync requested"
        hs = ("handshake pending" if c.handshake_pending else
              f"handshake ok @ {self.sync[0]}" if self.sync else "handshake sent")
        return f"in sync ({hs})" if c.synced else hs

    def rollback_rates(self) -> tuple[float, float]:
        """(rollbacks, frames re-simulated) per second over the last second of pictures."""
        seen = self._rb_seen
        if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
            return 0.0, 0.0
        dt = seen[-1][0] - seen[0][0]
        return (seen[-1][1] - seen[0][1]) / dt, (seen[-1][2] - seen[0][2]) / dt

    def status_lines(self) -> list[tuple[str, bool]]:
        """The HUD's lockstep lines as (text, warning): frame and input delay, the checksum status, and a
        warning when our inputs keep missing their frames."""
        c = self.client
        jb = c.jitter_buffer * 1000
        diverged = bool(c.counters.resyncs) or c.synced is False
        if c.rb is not None:
            rb = c.rb
            per_s, resim = self.rollback_rates()
            lines = [(f"frame {c.frame}  predicted {rb.ahead} ahead (lead {c.lead.value * 1000:.0f} ms)  "
                      f"input delay {c.delay} fr", False),
                     (f"rollbacks {per_s:.1f}/s  re-simulated {resim:.0f} fr/s  deepest {rb.counters.max_depth}  "
                      f"prediction misses {rb.counters.mispredicted}  events taken back {rb.canceled}", rb.stalled)]
        else:
            lines = [(f"frame {c.frame}  input delay {c.delay} fr = {c.delay * c.interval * 1000:.0f} ms  "
                      f"buffer {jb:.0f} ms", False)]
        lines.append((f"checksums sent {c.counters.checksums_sent}  {self.desync_text()}", diverged))
        # the server's own word (each bundle marks whose input it had to fill), whatever keys were pressed
        late = sum(1 for f in c.filled_frames if f > c.have - LATE_WINDOW)
        if c.frame >= LATE_WINDOW and late > LATE_WINDOW // 4:
            # the server never waits: a late input goes into the next frame it has not built yet
            lines.append(("your inputs arrive after their frames (delay + lead < round trip): the server moves "
                          "them to the next frame", True))
        return lines

    def _net_lines(self, now: float) -> list[str]:
        c = self.client
        cc = c.counters
        mt = self.metrics
        lines = self._transport_lines(now)
        if c.welcome is not None:
            lines.append(f"frame {c.frame}  decoded {c.have}  server ~{c.newest}  @ {c.rate} Hz")
            lines.append(f"input delay {c.delay} fr ({c.delay * c.interval * 1000:.0f} ms)  buffer "
                         f"{c.jitter_buffer * 1000:4.1f} ms  max stall {c.max_stall * 1000:4.0f} ms")
            # rolling back, no sampled input is compared with its bundle: the bundles' own word on filled inputs
            filled = f"{cc.inputs_filled}" if c.rb is not None else f"{mt.inputs_replaced}/{mt.inputs_compared}"
            lines.append(f"stalls {mt.stalls}  inputs filled {filled}  requests {cc.requests}  "
                         f"dup {cc.duplicate_bundles}")
            lines.append(f"checksums {cc.checksums_sent}  {self.desync_text()}")
        if c.rb is not None:
            k = c.rb.counters
            per_s, resim = self.rollback_rates()
            lines.append(f"rollback window {c.rb.window}: {c.rb.ahead} ahead  {per_s:.1f}/s  {resim:.0f} fr/s "
                         f"re-simulated  misses {k.mispredicted}  stalls {k.stalls}  carried {cc.inputs_carried}")
        else:
            lines.append("prediction / reconciliation: " + NA + " (--rollback 0)   smoothing " +
                         ("on" if self.toggles.interpolation else "OFF"))
        lines.append(self.lag_label())
        return lines

    # ------------------------------------------------------------------ measurements

    def summary(self, now: float) -> dict:
        """Everything measured since start, as plain numbers (headless output and --json)."""
        c = self.client
        cc = c.counters
        mt = self.metrics
        playing = max(now - mt.first_frame_at, 1e-9) if mt.first_frame_at is not None else 0.0
        out = self._common_summary(now, playing)
        mine = None
        if self.result is not None:
            mine = next((p for p in _players(self.result) if p.get("slot") == c.slot), None)
        out.update({
            "frame": c.frame, "frames_played": cc.frames, "frame_rate": c.rate,
            "frames_per_s": cc.frames / playing if playing else 0.0,
            "input_delay_frames": c.delay, "input_delay_ms": c.delay * c.interval * 1000,
            "jitter_buffer_ms": c.jitter_buffer * 1000, "max_stall_ms": c.max_stall * 1000,
            "max_gap_ms": c.max_gap * 1000, "stalls": mt.stalls, "longest_freeze_ms": mt.longest_freeze * 1000,
            "inputs_filled": mt.inputs_replaced, "inputs_compared": mt.inputs_compared,
            "server_missing": mine.get("missing") if mine else None, "server_late": mine.get("late") if mine else None,
            "bundles": cc.bundles, "duplicate_bundles": cc.duplicate_bundles, "requests": cc.requests,
            "checksums_sent": cc.checksums_sent, "handshake_ok": self.sync[1] if self.sync else None,
            "desyncs": cc.resyncs, "resyncs": cc.resyncs, "bad_messages": cc.bad_messages,
            "hits": mt.hits, "kills": mt.kills, "deaths": mt.deaths, "match_result": self.result,
            "inputs_filled_by_server": cc.inputs_filled, "inputs_carried": cc.inputs_carried,
            "rollback_window": c.rb.window if c.rb is not None else 0,
        })
        if c.rb is not None:
            k = c.rb.counters
            shown = sorted(c.input_latency)
            out.update({"rollbacks": k.rollbacks, "resimulated_frames": k.resimulated,
                        "prediction_misses": k.mispredicted, "max_rollback_depth": k.max_depth,
                        "rollback_stalls": k.stalls, "lead_ms": c.lead.value * 1000,
                        "events_canceled": c.rb.canceled,
                        "input_to_screen_frames_p50": (shown[len(shown) // 2] / c.interval) if shown else None})
        return out
