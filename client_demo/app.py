"""The pygame demo client: a window (or a headless dummy surface), keyboard and mouse, the frame loop.

`run_client(ClientOptions(...))` is a coroutine: it binds a UDP socket with the project's DatagramDriver, pumps
a `ClientSession` through it and renders until the window closes or `duration` runs out, then
returns what it measured. `netcode demo` can await it next to its own server.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time

from netcode.aio.driver import DatagramDriver, local_host_for
from netcode.bots import LockstepBrain, NoBots, make_brain

from .games.base import Controls, angle_of
from .modes import MODE_NAMES, new_session, settle
from .options import ClientOptions
from .scene import Toggles

_pygame = None


def _import_pygame():
    """pygame, imported on first use (so `--help` and the no-display fallback never need it)."""
    global _pygame
    if _pygame is None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame
        _pygame = pygame
    return _pygame


def has_display() -> bool:
    """Whether a real window can be opened: on Linux that needs X11 or Wayland (or an SDL driver chosen)."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        if os.environ.get("SDL_VIDEODRIVER", "") in ("dummy", "offscreen"):
            return False
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def resolve(host: str, port: int) -> tuple[str, int]:
    """HOST:PORT as the numeric address replies come from (the client drops datagrams from any other)."""
    infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    return infos[0][4][0], port


class ClientApp:
    """One run of the client: a session, its driver, a surface and the input devices (or a bot)."""

    def __init__(self, opts: ClientOptions):
        self.opts = opts
        self.server_addr = opts.server
        self.headless = opts.headless
        self.size = opts.size
        self.fps = max(1, opts.fps)
        self.quiet = opts.quiet
        self.render = opts.render
        self.session = new_session(opts.mode, opts.server, opts.name, lag_ms=opts.lag, jitter_ms=opts.jitter,
                                   loss_pct=opts.loss, dup_pct=opts.dup, seed=opts.seed,
                                   connect_timeout=opts.connect_timeout, toggles=Toggles(net_graph=opts.net_graph),
                                   credentials=opts.credentials, rollback=opts.rollback)
        self.bot_kind = opts.bot
        self.bot_seed = opts.seed or 1
        self.bot = None  # the game's brain, once the server named its game
        self._attach_bot()
        self.driver: DatagramDriver | None = None
        self.surface = None
        self.renderer = None
        self.running = True
        self.last_scene = None
        self._printed_loss = False
        self._buttons = {1: False, 3: False}
        self._reconnect_requested = False
        self._screenshot_requests: list[str] = []

    # ------------------------------------------------------------------ setup

    def open_display(self) -> None:
        pg = _import_pygame()
        if self.headless:
            os.environ["SDL_VIDEODRIVER"] = "dummy"
        pg.display.init()
        pg.font.init()
        if self.headless:
            self.surface = pg.display.set_mode(self.size) if self.render else None
            if self.surface is None and self.render:
                self.surface = pg.Surface(self.size)
        else:
            self.surface = pg.display.set_mode(self.size)
            pg.display.set_caption(f"netcode client — {self.session._addr_text()}")
            pg.mouse.set_visible(False)
        if self.render:
            from .render import Renderer
            self.renderer = Renderer(self.size)

    def _bind_host(self) -> str:
        return local_host_for(self.server_addr[0])

    async def connect(self) -> None:
        self.driver = await DatagramDriver.bind(self.session.endpoint, self._bind_host(), 0,
                                                handler=self._on_events)
        self.session.start(time.monotonic())
        self.driver.start()

    async def reconnect(self) -> None:
        """A new connection (new socket, new nonce), reclaiming our player with the Welcome token."""
        old = self.driver
        had_token = self.session.token is not None
        self.session.reconnect(time.monotonic())
        self._printed_loss = False
        if old is not None:
            await old.close()
        self.driver = await DatagramDriver.bind(self.session.endpoint, self._bind_host(), 0,
                                                handler=self._on_events)
        self.driver.start()
        self.say(f"reconnecting to {self.session._addr_text()}" + (" with our token" if had_token else ""))

    def _on_events(self, events: list, now: float) -> None:
        """The driver's handler: events to the session; a probe that learned the server's mode hands over."""
        self.session.on_events(events, now)
        s = settle(self.session)
        if s is not self.session:
            self.session = s
            self._attach_bot()
            if self.driver is not None:
                self.driver.wake()  # the game client reads the welcome already queued at once, not at the next timer
            self.say(f"the server runs {MODE_NAMES[s.mode]}")

    def _attach_bot(self) -> None:
        """A lockstep bot decides once per frame from the client's own world (its input hook)."""
        if self.bot_kind and self.session.mode == "lockstep":
            self.session.brain = LockstepBrain(self.bot_seed, None if self.bot_kind == "auto" else self.bot_kind)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"client: {text}", flush=True)

    # ------------------------------------------------------------------ input

    def _controls(self) -> None:
        """Keyboard, mouse and window events → toggles and the player's input."""
        pg = _import_pygame()
        s = self.session
        t = s.toggles
        for ev in pg.event.get():
            if ev.type == pg.QUIT:
                self.running = False
            elif ev.type == pg.KEYDOWN:
                k = ev.key
                if k == pg.K_ESCAPE:
                    self.running = False
                elif k == pg.K_p:
                    t.prediction = not t.prediction
                elif k == pg.K_r:
                    t.reconciliation = not t.reconciliation
                elif k == pg.K_i:
                    t.interpolation = not t.interpolation
                elif k == pg.K_g:
                    t.ghost = not t.ghost
                elif k == pg.K_n:
                    t.net_graph = not t.net_graph
                elif k == pg.K_h:
                    t.help = not t.help
                elif k == pg.K_l:
                    self.say(f"lag preset +{s.cycle_lag():g} ms RTT")
                elif k in (pg.K_c, pg.K_RETURN) and s.status in ("lost", "ended"):
                    self._reconnect_requested = True
                elif k == pg.K_F12:
                    self._screenshot_requests.append(screenshot_path())
            elif ev.type == pg.MOUSEBUTTONDOWN and ev.button in (1, 3):
                self._buttons[ev.button] = True
            elif ev.type == pg.MOUSEBUTTONUP and ev.button in (1, 3):
                self._buttons[ev.button] = False
        s.apply_toggles()
        keys = pg.key.get_pressed()
        mx = (1 if keys[pg.K_d] or keys[pg.K_RIGHT] else 0) - (1 if keys[pg.K_a] or keys[pg.K_LEFT] else 0)
        my = (1 if keys[pg.K_s] or keys[pg.K_DOWN] else 0) - (1 if keys[pg.K_w] or keys[pg.K_UP] else 0)
        aim = s._controls.aim
        sc = self.last_scene
        if sc is not None and sc.me is not None and self.renderer is not None:
            px, py = pg.mouse.get_pos()
            mx_, my_ = self.renderer.to_screen(*sc.me)
            dx, dy = px - mx_, py - my_
            if dx or dy:
                aim = angle_of(dx, dy)
        s.set_controls(Controls(mx, my, aim, self._buttons[1], self._buttons[3] or bool(keys[pg.K_SPACE]),
                                bool(keys[pg.K_LSHIFT] or keys[pg.K_RSHIFT])))

    def _bot_controls(self) -> None:
        s = self.session
        if s.mode != "state" or s.welcome is None:
            return  # lockstep bots are the session's brain; before the mode is known there is nothing to do
        if self.bot is None:
            try:
                self.bot = make_brain(s.welcome.game, self.bot_seed, None if self.bot_kind == "auto" else self.bot_kind)
            except NoBots as e:
                self.say(f"no bot can play here: {e}")
                self.bot_kind = None
                return
        latest = s.client.latest
        s.client.next_input = self.bot.from_snapshot(s.welcome.config, latest.ids if latest else None,
                                                     latest.values if latest else None, s.welcome.slot)

    # ------------------------------------------------------------------ loop

    def frame(self, now: float) -> None:
        """One frame: controls, logic, drawing; measured as the frame's work."""
        started = time.perf_counter()
        if self.headless:
            if self.bot is not None:
                self._bot_controls()
        else:
            self._controls()
        scene = self.session.frame(now)
        self.last_scene = scene
        if self.renderer is not None and self.surface is not None:
            cursor = None
            if not self.headless:
                cursor = _import_pygame().mouse.get_pos()
            self.renderer.draw(self.surface, scene, cursor)
            if not self.headless:
                _import_pygame().display.flip()
        self.session.note_frame(now, time.perf_counter() - started)
        for path in self._screenshot_requests:
            self.save_screenshot(path)
        self._screenshot_requests.clear()

    def save_screenshot(self, path: str) -> bool:
        if self.surface is None:
            return False
        pg = _import_pygame()
        pg.image.save(self.surface, path)
        self.say(f"screenshot saved to {path}")
        return True

    async def run(self, duration: float = 0.0) -> dict:
        start = time.monotonic()
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        next_frame = start
        while self.running:
            now = time.monotonic()
            if duration > 0 and now - start >= duration:
                break
            self.frame(now)
            s = self.session  # a probe may have handed over to the game session
            if s.status == "ended" and self.headless:
                self.say(s.message.replace(" — C: new match", ""))
                break
            if s.status == "lost" and not self._printed_loss:
                self._printed_loss = True
                reason = s.message.replace(" — press C to reconnect", "") if s.message else s.lost_reason
                self.say(f"connection problem: {reason}" + ("" if self.headless else " — press C to reconnect"))
                if self.headless:
                    break
            if self._reconnect_requested:
                self._reconnect_requested = False
                await self.reconnect()
            next_frame += period
            delay = next_frame - time.monotonic()
            if delay < -0.25:
                next_frame = time.monotonic()  # fell far behind: don't sprint to catch up
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))
        return self.session.summary(time.monotonic())

    async def close(self) -> None:
        self.session.close()
        if self.driver is not None:
            await self.driver.close()


def screenshot_path() -> str:
    """Where F12 saves: screenshots/ (ignored by git), made if missing."""
    os.makedirs("screenshots", exist_ok=True)
    return os.path.join("screenshots", f"netcode-client-{time.strftime('%Y%m%d-%H%M%S')}-{int(time.time() * 1000) % 1000:03d}.png")


def print_summary(stats: dict) -> None:
    print(f"client: {stats['frames']} frames in {stats['duration_s']:.1f} s: {stats['fps']:.1f} fps, "
          f"frame time mean {stats['frame_ms_mean']:.2f} ms (p99 {stats['frame_ms_p99']:.2f} ms)")
    rtt = stats["rtt_ms"]
    print(f"client: snapshots {stats['snapshots_per_s']:.1f}/s ({stats['snapshot_bytes_mean']:.0f} B, "
          f"{100 * (stats['loss_in'] or 0.0):.1f} % of the server's datagrams lost); "
          f"RTT {rtt if rtt is not None else float('nan'):.1f} ms; "
          f"in {stats['kbit_in']:.1f} kbit/s, out {stats['kbit_out']:.1f} kbit/s")
    print(f"client: corrections {stats['corrections']} ({stats['corrections_per_s']:.2f}/s), "
          f"mean correction distance per second {stats['correction_px_per_s']:.2f} px/s "
          f"(mean {stats['correction_px_mean']:.2f} px, max {stats['max_correction_px']:.2f} px; "
          f"{stats['late_input_corrections']} where the server had no input from us in time, "
          f"{stats['steady_correction_px_per_s']:.2f} px/s without those); "
          f"interpolation delay {stats['interp_delay_ms'] or 0:.1f} ms; hits {stats['confirmed_hits']} confirmed, "
          f"{stats['local_hits']} predicted locally", flush=True)
    if stats.get("shots_judged"):
        print(f"client: {stats['shots_judged']} shots judged by the server: it agreed with our own ray test on "
              f"{100 * stats['hit_agreement']:.1f} % (rewind {stats['rewind_ms_mean']:.1f} ms on average, "
              f"{stats['rewind_status']})", flush=True)


def print_lockstep_summary(stats: dict) -> None:
    rtt = stats["rtt_ms"]
    print(f"client: lockstep: {stats['frames']} pictures in {stats['duration_s']:.1f} s: {stats['fps']:.1f} fps, "
          f"frame time mean {stats['frame_ms_mean']:.2f} ms (p99 {stats['frame_ms_p99']:.2f} ms)")
    print(f"client: played {stats['frames_played']} frames (to frame {stats['frame']}) at {stats['frame_rate']} Hz, "
          f"input delay {stats['input_delay_frames']} frames = {stats['input_delay_ms']:.0f} ms, jitter buffer "
          f"{stats['jitter_buffer_ms']:.1f} ms; RTT {rtt if rtt is not None else float('nan'):.1f} ms; "
          f"in {stats['kbit_in']:.1f} kbit/s, out {stats['kbit_out']:.1f} kbit/s")
    hs = {True: "ok", False: "FAILED"}.get(stats["handshake_ok"], "n/a")
    late = "" if stats["server_missing"] is None else (f"; the server filled {stats['server_missing']} of our inputs, "
                                                       f"{stats['server_late']} came late")
    if stats.get("rollback_window"):
        # a rolling-back client compares no sampled input with its bundle (it predicted that frame): the server's
        # bundles say which of our inputs it filled
        filled = f"{stats['inputs_filled_by_server']}"
    else:
        filled = f"{stats['inputs_filled']} of {stats['inputs_compared']}"
    print(f"client: stalls {stats['stalls']} (longest freeze {stats['longest_freeze_ms']:.0f} ms, max stall "
          f"{stats['max_stall_ms']:.0f} ms), inputs filled by the server {filled}{late}, gap requests "
          f"{stats['requests']}; checksum reports "
          f"{stats['checksums_sent']}, handshake {hs}, "
          f"desyncs {stats['desyncs']}; hits {stats['hits']}, kills {stats['kills']}, deaths {stats['deaths']}",
          flush=True)
    if stats.get("rollback_window"):
        shown = stats["input_to_screen_frames_p50"]
        print(f"client: rollback window {stats['rollback_window']} frames, lead {stats['lead_ms']:.0f} ms: "
              f"{stats['rollbacks']} rollbacks re-simulated {stats['resimulated_frames']} frames (deepest "
              f"{stats['max_rollback_depth']}), {stats['rollback_stalls']} stalls at the window, "
              f"{stats['events_canceled']} shown events taken back; input to screen "
              f"p50 {shown if shown is not None else float('nan'):.1f} frames; {stats['inputs_carried']} of our "
              f"inputs came late and were carried to the next frame", flush=True)


async def run_client(opts: ClientOptions) -> dict:
    """Play (or, headless, let a bot play) as ``opts`` says; returns the measurements.

    With no display (no DISPLAY/WAYLAND_DISPLAY on Linux, or pygame can't open a window) it runs
    headless with a bot and prints its measurements instead. A connection that fails or drops is
    reported in one line, never a traceback; `stats["error"]` says what went wrong.
    """
    def say(text):
        if not opts.quiet:
            print(f"client: {text}", flush=True)

    try:
        addr = resolve(*opts.server)
    except (OSError, UnicodeError) as e:
        say(f"cannot resolve {opts.server[0]!r}: {getattr(e, 'strerror', None) or e}")
        return {"error": f"cannot resolve {opts.server[0]}", "connected": False}
    if not opts.headless and not has_display():
        say("no display found (no DISPLAY or WAYLAND_DISPLAY): running headless with a bot")
        opts = opts.evolve(headless=True)
    if opts.headless and opts.bot is None:
        opts = opts.evolve(bot="auto")  # the game's most active behaviour
    app = ClientApp(opts.evolve(server=addr))
    try:
        app.open_display()
    except ImportError as e:  # installed without the client extra
        say(f"pygame is not installed ({e}): pip install 'netcode[client]' for the window; "
            "playing headless without pictures")
        app.headless, app.render, app.renderer, app.surface = True, False, None, None
        if opts.bot is None:
            opts = opts.evolve(headless=True, bot="auto", duration=opts.duration or 10.0)
            app.bot_kind = "auto"
    except Exception as e:  # pygame.error, or no usable video driver at all
        if opts.headless:
            say(f"cannot render even to a dummy surface ({e}); running without pictures")
            app.render = False
            app.renderer = None
            app.surface = None
        else:
            say(f"cannot open a window ({e}): running headless with a bot")
            if _pygame is not None:
                _pygame.display.quit()
            return await run_client(opts.evolve(headless=True, duration=opts.duration or 10.0))
    try:
        await app.connect()
    except OSError as e:
        say(f"cannot open a UDP socket: {e.strerror or e}")
        return {"error": "no socket", "connected": False}
    say(f"connecting to {addr[0]}:{addr[1]} as {opts.name!r}" + (f" ({app.session.lag_label()})" if opts.lagged
                                                                else ""))
    if opts.headless and opts.duration <= 0:
        say("running until interrupted (Ctrl-C); measurements follow")
    interrupted = False
    try:
        stats = await app.run(opts.duration)
    except asyncio.CancelledError:  # Ctrl-C, or the caller cancelled us: still report what we measured
        stats = app.session.summary(time.monotonic())
        interrupted = True
    finally:
        if opts.screenshot and app.surface is not None:
            app.save_screenshot(opts.screenshot)
        await app.close()
        if _pygame is not None:
            _pygame.display.quit()
    if app.session.status == "lost":
        stats["error"] = app.session.lost_reason
    elif not stats.get("connected") and not interrupted:
        # the run ended before the handshake could fail by itself: say so rather than print nothing
        when = f"within {opts.duration:g} s" if opts.duration else "before the window closed"
        stats["error"] = f"no answer from {addr[0]}:{addr[1]} {when} (is the server running?)"
        say(stats["error"])
    if opts.headless and not opts.quiet and stats.get("snapshots"):
        print_summary(stats)
    elif opts.headless and not opts.quiet and stats.get("frames_played"):
        print_lockstep_summary(stats)
    if opts.json_path:
        with open(opts.json_path, "w") as f:
            json.dump(stats, f, indent=2)
    if interrupted:
        raise asyncio.CancelledError
    return stats
