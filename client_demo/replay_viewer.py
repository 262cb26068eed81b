"""The replay viewer: a recorded match (.ncr) played back with the demo client's renderer.

`ReplayViewer(path)` owns a `netcode.replay.Playback` (re-simulating the match tick by tick, with
its shot audits) and a playback clock: play/pause, speed 0.25x-8x, seeking to any tick through the
replay's keyframes, following any player or a free camera. `scene()` turns the world at the current
tick into the client's `Scene` (so `Renderer` draws arena, walls, players, drones, tracers, hit
markers, kill feed and scoreboard exactly as the client does); `draw()` adds what only a replay
has: the followed player's shots with their rewind audit (the hitboxes the server rewound to,
drawn as ghosts where they were, with the verdict and how far back it rewound), the timeline, the
HUD and the help. `run_viewer(...)` is the window (or headless) loop behind `netcode replay play`.

Keys: space play/pause, - / + or [ / ] speed, left/right -/+5 s, Home/End, 0-9 jump to 0-90 %,
, / . one tick back/forward, Tab / Shift+Tab next/previous player, F free camera (WASD pans),
click the timeline to seek or a player to follow, H help, F12 screenshot, Esc/Q quit.
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections import deque

from netcode.replay import Playback, ReplayError
from netcode.replay import format as fmt
from .games import view_for
from .scene import FEED_TIME, MARKER_TIME, TRACER_TIME, Scene, Toggles
from .worldview import fill_from_world

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
AUDIT_TIME = 0.6  # s of match time a shot's rewound hitboxes stay on screen (they stay while paused)
PAN_SPEED = 900.0  # free camera, px per second of wall time
STEP_BUDGET = 0.040  # most wall time per frame spent re-simulating; beyond it playback falls behind

HELP = [
    "space  play / pause",
    "- +  or  [ ]   speed 0.25x .. 8x",
    "left / right   -5 s / +5 s      , .   one tick",
    "Home / End     start / end      0-9  jump to 0-90 %",
    "click the timeline: seek        click a player: follow",
    "Tab / Shift+Tab   next / previous player",
    "F  free camera (WASD pans)      F12  screenshot",
    "followed player's shots: rewound hitboxes as ghosts",
    "H  this help     Esc / Q  quit",
]

def _pg():
    """pygame, imported on first use through app.py (only render.py and app.py import it)."""
    from .app import _import_pygame

    return _import_pygame()


def fmt_time(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60.0)
    return f"{int(m)}:{s:04.1f}"


class ReplayViewer:
    """A replay, a playback clock and a camera; `frame(dt)` = input, advance, draw."""

    def __init__(self, path, *, speed: float = 1.0, follow: str | int | None = None, start: int | None = None,
                 size: tuple[int, int] = (1280, 720), playing: bool = True):
        self.path = str(path)
        self.pb = Playback(path, audit=True)  # ReplayError: one sentence, for the command to print
        pb = self.pb
        if pb.world is None or pb.last_tick is None:
            raise ReplayError(f"{self.path} holds no game to play")
        self.rate = pb.tick_rate
        self.cfg = pb.sim
        self.game = pb.game
        self.view = view_for(pb.game, pb.sim)
        self.units = self.view.units
        self.first_tick = pb.first_tick
        self.last_tick = max(pb.last_tick, pb.first_tick)
        if not SPEEDS[0] <= speed <= SPEEDS[-1]:
            raise ValueError(f"speed must be {SPEEDS[0]:g}..{SPEEDS[-1]:g}, got {speed:g}")
        self.speed = float(speed)
        self.size = size
        self.names: dict[int, str] = {}
        for p in pb.players:
            self.names[p["slot"]] = p["name"]
        self.slots = sorted(self.names)
        self.window = max(1, int(math.ceil(max(FEED_TIME, AUDIT_TIME, MARKER_TIME, TRACER_TIME) * self.rate)))
        self.recent: deque = deque()  # (tick, events, audits) of the last `window` ticks
        self.keyframe_ticks = [r.tick for r in pb.records if isinstance(r, fmt.Keyframe)]
        self.kill_ticks: list[tuple[int, int, int]] = []  # from the EVENT records: (tick, killer, victim)
        for r in pb.records:
            if isinstance(r, fmt.Items) and r.kind == fmt.Kind.EVENT:
                for item in r.items:
                    try:
                        if item[1] == "kill":
                            self.kill_ticks.append((int(item[0]), int(item[2][0]), int(item[2][1])))
                    except (TypeError, ValueError, IndexError, KeyError):
                        continue
        self.follow: int | None = self.resolve_follow(follow) if follow is not None else (
            self.slots[0] if self.slots else None)
        self._last_follow = self.follow
        wpx, hpx = self.view.world_px
        self.cam = (wpx * self.units / 2, hpx * self.units / 2)
        self.playing = playing
        self.show_help = False
        self.running = True
        self.ticks_stepped = 0
        self.seeks = 0
        self.behind = False  # re-simulation could not keep up with the speed last frame
        self._dragging = False
        self._drag_x: int | None = None
        self._screenshot_requests: list[str] = []
        self.renderer = None
        self.seek(self.first_tick if start is None else self._check_tick(start))
        self.pos = float(self.tick)

    # ------------------------------------------------------------------ state

    @property
    def tick(self) -> int:
        return self.pb.tick

    @property
    def world(self):
        return self.pb.world

    def checksum(self) -> int:
        """The checksum of the world on screen (the game's)."""
        return int(self.game.checksum(self.pb.world))

    def seated(self, slot: int) -> bool:
        """Whether player ``slot`` is in the game at the tick on screen."""
        slots = self.game.player_slots(self.world)
        return 0 <= slot < len(slots) and bool(slots[slot])

    def position(self, entity: int) -> tuple[float, float]:
        """Where ``entity`` is at the tick on screen (world units)."""
        pos = self.game.entity_view(self.world).pos
        return float(pos[entity, 0]), float(pos[entity, 1])

    @property
    def time_s(self) -> float:
        return (self.tick - self.first_tick) / self.rate

    @property
    def duration_s(self) -> float:
        return (self.last_tick - self.first_tick) / self.rate

    def name(self, entity: int) -> str:
        return self.view.entity_name(entity, self.names)

    def following_text(self) -> str:
        if self.follow is None:
            return "free camera"
        here = "" if self.seated(self.follow) else ", not in the game now"
        return f"following {self.name(self.follow)} (slot {self.follow}{here})"

    def resolve_follow(self, who: str | int) -> int:
        """A player by name (exact, then case-insensitive) or slot number; ValueError names the players."""
        text = str(who)
        for slot, name in self.names.items():
            if name == text:
                return slot
        for slot, name in self.names.items():
            if name.lower() == text.lower():
                return slot
        if text.isdigit() and int(text) in self.names:
            return int(text)
        have = ", ".join(f"{n} (slot {s})" for s, n in sorted(self.names.items())) or "none"
        raise ValueError(f"no player {text!r} in this replay (players: {have})")

    def _check_tick(self, tick: int) -> int:
        if not self.first_tick <= tick <= self.last_tick:
            raise ValueError(f"tick {tick} is outside the replay (ticks {self.first_tick}..{self.last_tick})")
        return int(tick)

    # ------------------------------------------------------------------ playback

    def _take_audits(self) -> list:
        comp = getattr(self.pb._p, "comp", None)  # the re-simulation's LagCompensator (Playback(audit=True))
        if comp is None or not comp.audit:
            return []
        out = list(comp.audit)
        comp.audit.clear()
        return out

    def _advance(self) -> bool:
        """One tick forward, keeping its events and shot audits; False at the end of the replay."""
        if self.tick >= self.last_tick:
            return False
        events = self.pb.step()
        if events is None:
            self.last_tick = self.tick
            return False
        self.ticks_stepped += 1
        audits = self._take_audits()
        t = self.tick
        if events or audits:
            self.recent.append((t, events, audits))
        while self.recent and self.recent[0][0] <= t - self.window:
            self.recent.popleft()
        return True

    def seek(self, tick: int) -> None:
        """Show the world right after tick `tick` (clamped to the replay): through the nearest keyframe
        when that is shorter, then forward over the last seconds so the feed, tracers and audits are there."""
        tick = min(max(int(tick), self.first_tick), self.last_tick)
        cur = self.tick
        if not (cur <= tick <= cur + self.window):
            begin = max(self.first_tick, tick - self.window)
            self.pb.seek(begin)
            self._take_audits()
            self.recent.clear()
            self.seeks += 1
        while self.tick < tick and self._advance():
            pass
        self.pos = float(self.tick)

    def seek_fraction(self, frac: float) -> None:
        frac = min(max(frac, 0.0), 1.0)
        self.seek(round(self.first_tick + frac * (self.last_tick - self.first_tick)))

    def set_speed(self, speed: float) -> None:
        self.speed = min(max(float(speed), SPEEDS[0]), SPEEDS[-1])

    def faster(self) -> None:
        self.set_speed(next((s for s in SPEEDS if s > self.speed + 1e-9), SPEEDS[-1]))

    def slower(self) -> None:
        self.set_speed(next((s for s in reversed(SPEEDS) if s < self.speed - 1e-9), SPEEDS[0]))

    def toggle_play(self) -> None:
        if not self.playing and self.tick >= self.last_tick:
            self.seek(self.first_tick)  # play again from the start
        self.playing = not self.playing
        self.pos = float(self.tick)

    def cycle_follow(self, direction: int = 1) -> None:
        """Next (or previous) player, preferring those in the game at this tick."""
        here = [s for s in self.slots if self.seated(s)] or self.slots
        if not here:
            self.follow = None
            return
        if self.follow in here:
            i = (here.index(self.follow) + direction) % len(here)
        else:
            i = 0 if direction > 0 else len(here) - 1
        self.follow = self._last_follow = here[i]

    def toggle_free_camera(self) -> None:
        if self.follow is None:
            back = self._last_follow if self._last_follow is not None else (self.slots[0] if self.slots else None)
            self.follow = back
        else:
            self.cam = self._camera()
            self._last_follow = self.follow
            self.follow = None

    def update(self, dt: float) -> None:
        """Advance the clock by `dt` seconds of wall time (if playing) and re-simulate up to it."""
        self.behind = False
        if not self.playing:
            return
        self.pos += dt * self.rate * self.speed
        target = min(int(self.pos), self.last_tick)
        deadline = time.perf_counter() + STEP_BUDGET
        while self.tick < target:
            if not self._advance():
                break
            if time.perf_counter() > deadline:
                self.behind = self.tick < target
                break
        if self.behind:
            self.pos = float(self.tick)  # don't pile up a debt: play as fast as the machine can
        if self.tick >= self.last_tick:
            self.playing = False
            self.pos = float(self.tick)

    # ------------------------------------------------------------------ what to draw

    def _camera(self) -> tuple[float, float]:
        if self.follow is not None and self.seated(self.follow):
            return self.position(self.follow)
        return self.cam

    def scene(self) -> Scene:
        """The current tick as the client's Scene (world units, `now` = match seconds)."""
        w = self.world
        sc = Scene(self.tick / self.rate, "playing", None, Toggles(help=False))
        sc.names = self.names
        sc.lag_label = ""
        f = self.follow
        recent = ((t / self.rate, events) for t, events, _ in self.recent)
        fill_from_world(sc, self.view, w, f, recent, self.rate, self.name, self.slots)
        me_here = f is not None and self.seated(f)
        sc.camera = self._camera() if me_here or f is None else self.cam
        return sc

    def shot_audits(self, max_age: float = AUDIT_TIME) -> list:
        """The followed player's shot audits (netcode.rewind.ShotAudit) of the last `max_age` s, oldest first."""
        if self.follow is None:
            return []
        now = self.tick / self.rate
        return [a for t, _, audits in self.recent if now - t / self.rate < max_age
                for a in audits if a.shooter == self.follow]

    # ------------------------------------------------------------------ input

    def handle_event(self, ev) -> None:
        pg = _pg()
        if ev.type == pg.QUIT:
            self.running = False
        elif ev.type == pg.KEYDOWN:
            k = ev.key
            mods = getattr(ev, "mod", 0)
            if k in (pg.K_ESCAPE, pg.K_q):
                self.running = False
            elif k == pg.K_SPACE:
                self.toggle_play()
            elif k in (pg.K_MINUS, pg.K_KP_MINUS, pg.K_LEFTBRACKET):
                self.slower()
            elif k in (pg.K_PLUS, pg.K_EQUALS, pg.K_KP_PLUS, pg.K_RIGHTBRACKET):
                self.faster()
            elif k == pg.K_LEFT:
                self.seek(self.tick - 5 * self.rate)
            elif k == pg.K_RIGHT:
                self.seek(self.tick + 5 * self.rate)
            elif k == pg.K_HOME:
                self.seek(self.first_tick)
            elif k == pg.K_END:
                self.seek(self.last_tick)
            elif pg.K_0 <= k <= pg.K_9:
                self.seek_fraction((k - pg.K_0) / 10)
            elif k == pg.K_PERIOD:
                self.playing = False
                self.seek(self.tick + 1)
            elif k == pg.K_COMMA:
                self.playing = False
                self.seek(self.tick - 1)
            elif k == pg.K_TAB:
                self.cycle_follow(-1 if mods & pg.KMOD_SHIFT else 1)
            elif k == pg.K_f:
                self.toggle_free_camera()
            elif k == pg.K_h:
                self.show_help = not self.show_help
            elif k == pg.K_F12:
                self._screenshot_requests.append(f"netcode-replay-{int(time.time())}.png")
        elif ev.type == pg.MOUSEBUTTONDOWN and ev.button == 1:
            if self._on_timeline(ev.pos):
                self._dragging = True
                self._seek_to_x(ev.pos[0])
            else:
                self._click_player(ev.pos)
        elif ev.type == pg.MOUSEBUTTONUP and ev.button == 1:
            self._dragging = False
        elif ev.type == pg.MOUSEMOTION and self._dragging:
            self._drag_x = ev.pos[0]  # seeks once per frame, however many motion events arrived

    def handle_events(self) -> None:
        pg = _pg()
        for ev in pg.event.get():
            self.handle_event(ev)
        if self._drag_x is not None:
            self._seek_to_x(self._drag_x)
            self._drag_x = None

    def _pan(self, dt: float) -> None:
        pg = _pg()
        try:
            keys = pg.key.get_pressed()
        except pg.error:
            return
        dx = (1 if keys[pg.K_d] else 0) - (1 if keys[pg.K_a] else 0)
        dy = (1 if keys[pg.K_s] else 0) - (1 if keys[pg.K_w] else 0)
        if not (dx or dy):
            return
        if self.follow is not None:
            self.toggle_free_camera()  # panning leaves the followed player where they are
        step = PAN_SPEED * self.units * dt
        wpx, hpx = self.view.world_px
        cx = min(max(self.cam[0] + dx * step, 0.0), wpx * self.units)
        cy = min(max(self.cam[1] + dy * step, 0.0), hpx * self.units)
        self.cam = (cx, cy)

    def timeline_rect(self):
        w, h = self.size
        return _pg().Rect(290, h - 44, max(40, w - 310), 14)

    def _on_timeline(self, pos) -> bool:
        return self.timeline_rect().inflate(8, 16).collidepoint(pos)

    def _seek_to_x(self, x: int) -> None:
        r = self.timeline_rect()
        self.seek_fraction((x - r.left) / max(1, r.width))

    def _click_player(self, pos) -> None:
        if self.renderer is None:
            return
        best, best_d = None, 20 ** 2
        for s in self.slots:
            if not self.seated(s):
                continue
            x, y = self.renderer.to_screen(*self.position(s))
            d = (x - pos[0]) ** 2 + (y - pos[1]) ** 2
            if d <= best_d:
                best, best_d = s, d
        if best is not None:
            self.follow = self._last_follow = best

    # ------------------------------------------------------------------ drawing

    def draw(self, surf) -> None:
        from .render import Renderer

        if self.renderer is None:
            self.renderer = Renderer(surf.get_size())
        self.size = surf.get_size()
        r = self.renderer
        sc = self.scene()
        r.draw_world(surf, sc)
        self._draw_audits(surf, sc)
        if self.follow is not None and self.seated(self.follow):
            r.draw_health(surf, sc, dead_text=f"{self.name(self.follow)} died")
        r.draw_scoreboard(surf, sc.scoreboard, sc.score_columns)
        r.draw_feed(surf, sc.feed, top=62)
        self._draw_status(surf)
        self._draw_timeline(surf)
        self._draw_audit_panel(surf)
        if self.show_help:
            self._draw_help(surf)

    def _draw_audits(self, surf, sc: Scene) -> None:
        """The followed player's recent shots: each rewound hitbox as a ghost where the server saw it
        (the hit one red, with a line to where that entity is now), the verdict and the rewind."""
        from .render import CONFIRMED, GHOST, _mix, BG

        pg = _pg()
        r = self.renderer
        ox, oy = r.offset
        now = self.tick / self.rate
        audits = self.shot_audits()
        u = self.units
        view = self.game.entity_view(self.world)
        pos, present = view.pos, view.present
        for i, a in enumerate(audits):
            fade = max(0.25, 1.0 - (now - a.tick / self.rate) / AUDIT_TIME)
            for eid, x, y, rad, hittable in a.near:
                gx, gy = x / u + ox, y / u + oy
                hit = eid == a.hit
                color = _mix(CONFIRMED if hit else GHOST, BG, fade * (1.0 if hittable else 0.5))
                if 0 <= eid < len(pos) and present[eid]:
                    cx, cy = pos[eid, 0] / u + ox, pos[eid, 1] / u + oy
                    if (cx - gx) ** 2 + (cy - gy) ** 2 > 4:
                        pg.draw.line(surf, _mix(color, BG, 0.6), (gx, gy), (cx, cy), 1)
                _dashed_circle(surf, color, (gx, gy), rad / u + 1, 2 if hit else 1)
            if i != len(audits) - 1:
                continue  # the verdict of the newest shot only (older ones fade out as ghosts)
            verdict = f"HIT {self.name(a.hit)}" if a.hit >= 0 else "miss"
            label = f"{verdict}  rewound {a.rewind_ms:.0f} ms ({a.applied.status})"
            if a.hit >= 0:
                spot = next(((x, y) for eid, x, y, *_ in a.near if eid == a.hit), None)
            else:
                spot = None
            if spot is None:
                ang = a.aim * (2 * math.pi / 4096)
                spot = (a.origin[0] + math.cos(ang) * a.dist, a.origin[1] + math.sin(ang) * a.dist)
            t = r.text(label, CONFIRMED if a.hit >= 0 else GHOST)
            t.set_alpha(round(255 * fade))
            surf.blit(t, (spot[0] / u + ox + 14, spot[1] / u + oy + 8))

    def _draw_audit_panel(self, surf) -> None:
        """Bottom right: the followed player's last shot as the server judged it."""
        from .render import CONFIRMED, DIM, TEXT

        if self.follow is None:
            return
        last = None
        for t, _, audits in reversed(self.recent):
            for a in reversed(audits):
                if a.shooter == self.follow:
                    last = a
                    break
            if last is not None:
                break
        if last is None:
            return
        r = self.renderer
        w, h = surf.get_size()
        v = last.applied
        ms_per_tick = 1000.0 / self.rate
        view = f"the shooter saw the world {(last.tick - v.time_q / 65536) * ms_per_tick:.0f} ms before the shot"
        claim = ("no view claimed" if last.claimed is None else
                 f"claimed {(last.tick - last.claimed[0] - last.claimed[1] / 65536) * ms_per_tick:.0f} ms back")
        age = (self.tick - last.tick) / self.rate
        lines = [
            (f"last shot of {self.name(self.follow)}: tick {last.tick} ({age:.1f} s ago)", DIM),
            (("HIT " + self.name(last.hit)) if last.hit >= 0 else "miss", CONFIRMED if last.hit >= 0 else TEXT),
            (f"rewound {last.rewind_ms:.0f} ms, {v.status}; {view}", TEXT),
            (f"{claim}; {len(last.near)} hitbox{'' if len(last.near) == 1 else 'es'} near the ray", DIM),
        ]
        pw = max(r.text(s, c, r.mono).get_width() for s, c in lines) + 20
        ph = 18 * len(lines) + 12
        x0, y0 = w - pw - 10, h - 66 - ph
        surf.blit(r.panel(pw, ph), (x0, y0))
        for i, (s, c) in enumerate(lines):
            surf.blit(r.text(s, c, r.mono), (x0 + 10, y0 + 6 + 18 * i))

    def _draw_status(self, surf) -> None:
        from .render import DIM, TEXT, WARN

        r = self.renderer
        w, _ = surf.get_size()
        state = "PLAY" if self.playing else ("END" if self.tick >= self.last_tick else "PAUSED")
        line1 = (f"{state}  {self.speed:g}x{'  (falling behind)' if self.behind else ''}   tick {self.tick} / "
                 f"{self.last_tick}   {fmt_time(self.time_s)} / {fmt_time(self.duration_s)}")
        line2 = f"{self.following_text()}   —   H help"
        t1 = r.text(line1, WARN if self.behind else TEXT)
        t2 = r.text(line2, DIM)
        pw = max(t1.get_width(), t2.get_width()) + 24
        surf.blit(r.panel(pw, 44), (w // 2 - pw // 2, 8))
        surf.blit(t1, (w // 2 - t1.get_width() // 2, 14))
        surf.blit(t2, (w // 2 - t2.get_width() // 2, 32))

    def _draw_timeline(self, surf) -> None:
        from .render import CONFIRMED, DIM, ME, TEXT

        pg = _pg()
        r = self.renderer
        bar = self.timeline_rect()
        surf.blit(r.panel(bar.width + 20, 44), (bar.left - 10, bar.top - 14))
        pg.draw.rect(surf, (40, 46, 62), bar)
        span = max(1, self.last_tick - self.first_tick)

        def x_of(t: int) -> int:
            return bar.left + round((t - self.first_tick) / span * bar.width)

        done = x_of(self.tick) - bar.left
        if done > 0:
            pg.draw.rect(surf, (70, 110, 160), pg.Rect(bar.left, bar.top, done, bar.height))
        for t in self.keyframe_ticks:
            if self.first_tick <= t <= self.last_tick:
                pg.draw.line(surf, DIM, (x_of(t), bar.bottom), (x_of(t), bar.bottom + 4))
        p = self.cfg.max_players
        for t, killer, victim in self.kill_ticks:
            if victim < p and self.first_tick <= t <= self.last_tick:
                color = ME if self.follow is not None and self.follow in (killer, victim) else CONFIRMED
                pg.draw.line(surf, color, (x_of(t), bar.top - 5), (x_of(t), bar.top - 1), 2)
        x = x_of(self.tick)
        pg.draw.line(surf, (255, 255, 255), (x, bar.top - 3), (x, bar.bottom + 3), 2)
        left = r.text(fmt_time(self.time_s), TEXT, r.mono)
        right = r.text(fmt_time(self.duration_s), DIM, r.mono)
        surf.blit(left, (bar.left, bar.bottom + 4))
        surf.blit(right, (bar.right - right.get_width(), bar.bottom + 4))

    def _draw_help(self, surf) -> None:
        r = self.renderer
        w, h = surf.get_size()
        pw, ph = 460, 24 * len(HELP) + 20
        x0, y0 = w // 2 - pw // 2, h // 2 - ph // 2
        surf.blit(r.panel(pw, ph), (x0, y0))
        for i, line in enumerate(HELP):
            surf.blit(r.text(line), (x0 + 16, y0 + 12 + 24 * i))

    # ------------------------------------------------------------------ loop

    def frame(self, surf, dt: float, events: bool = True) -> None:
        """One frame: input (when `events`), the clock, drawing."""
        if events:
            self.handle_events()
            self._pan(dt)
        self.update(dt)
        if surf is not None:
            self.draw(surf)
        for path in self._screenshot_requests:
            save_screenshot(surf, path)
        self._screenshot_requests.clear()


def _dashed_circle(surf, color, centre, radius: float, width: int = 1, dashes: int = 12) -> None:
    pg = _pg()
    x, y = centre
    rect = pg.Rect(0, 0, round(2 * radius), round(2 * radius))
    rect.center = (round(x), round(y))
    for i in range(dashes):
        a0 = 2 * math.pi * i / dashes
        pg.draw.arc(surf, color, rect, a0, a0 + math.pi / dashes, width)


def save_screenshot(surf, path: str) -> bool:
    if surf is None:
        return False
    _pg().image.save(surf, path)
    print(f"replay: screenshot saved to {path}", flush=True)
    return True


def run_viewer(path, *, speed: float = 1.0, follow=None, start: int | None = None, headless: bool = False,
               duration: float = 0.0, screenshot: str | None = None, size=(1280, 720), fps: int = 60,
               quiet: bool = False) -> dict:
    """Open a window (or, headless, the dummy driver) and play `path`. Returns what it showed.

    Raises ReplayError (an unusable file) or ValueError (a bad --follow/--start/--speed) before
    anything opens. Headless runs `duration` seconds of wall time (0: until the replay ends).
    """
    from .app import has_display

    viewer = ReplayViewer(path, speed=speed, follow=follow, start=start, size=size)
    if not quiet:
        for w in viewer.pb.warnings:
            print(f"warning: {w}", file=sys.stderr, flush=True)
    if not headless and not has_display():
        if not quiet:
            print("replay: no display found (no DISPLAY or WAYLAND_DISPLAY): playing headless", flush=True)
        headless = True
        duration = duration or 10.0
    pg = _pg()
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    pg.display.init()
    pg.font.init()
    try:
        surf = pg.display.set_mode(size)
        if not headless:
            pg.display.set_caption(f"netcode replay — {os.path.basename(str(path))}")
        period = 1.0 / fps if fps > 0 else 0.0
        start_tick = viewer.tick
        started = last = time.perf_counter()
        frames = 0
        work = 0.0
        while viewer.running:
            now = time.perf_counter()
            if duration > 0 and now - started >= duration:
                break
            if headless and duration <= 0 and not viewer.playing:
                break
            dt, last = now - last, now
            viewer.frame(surf, min(dt, 0.25), events=True)
            if not headless:
                pg.display.flip()
            frames += 1
            work += time.perf_counter() - now
            delay = now + period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        elapsed = max(time.perf_counter() - started, 1e-9)
        if screenshot:
            viewer.draw(surf)
            save_screenshot(surf, screenshot)
    finally:
        pg.display.quit()
    stats = {
        "file": str(path), "start_tick": start_tick, "end_tick": viewer.tick, "ticks_stepped": viewer.ticks_stepped,
        "match_s": (viewer.tick - start_tick) / viewer.rate, "wall_s": elapsed, "frames": frames,
        "fps": frames / elapsed, "frame_ms_mean": 1000 * work / max(frames, 1), "speed": viewer.speed,
        "following": viewer.following_text(), "seeks": viewer.seeks, "checksum": viewer.checksum(),
    }
    if headless and not quiet:
        print(f"replay: showed ticks {stats['start_tick']}..{stats['end_tick']} of {viewer.first_tick}.."
              f"{viewer.last_tick} ({stats['end_tick'] - stats['start_tick']} ticks, "
              f"{stats['match_s']:.1f} s of match) "
              f"in {elapsed:.1f} s at {viewer.speed:g}x: {frames} frames, {stats['fps']:.1f} fps "
              f"({stats['frame_ms_mean']:.1f} ms per frame); {stats['following']}; "
              f"world checksum {stats['checksum']:#010x}", flush=True)
    return stats
