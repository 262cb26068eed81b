"""Draws a `Scene` with pygame: the game's world (through its painter), tracers, hit markers, HUD, net graph.

Only this module, app.py and the painters in client_demo/games import pygame; everything drawn was
decided by a session (session.py, lockstep_session.py) or the replay viewer.
"""
from __future__ import annotations

import math

import numpy as np
import pygame

from .games import painter_for
from .scene import MARKER_TIME, TRACER_TIME, Scene

BG = (16, 18, 26)
OUTSIDE = (8, 9, 13)
GRID = (27, 31, 43)
BORDER = (90, 100, 130)
WALL = (62, 70, 94)
WALL_EDGE = (110, 122, 158)
ME = (70, 200, 255)
ME_DARK = (20, 70, 100)
PLAYER = (240, 96, 72)
NPC = (132, 178, 116)
GHOST = (235, 235, 235)
GHOST_ME = (255, 220, 90)
TRACER_OWN = (255, 236, 120)
TRACER_OTHER = (255, 150, 90)
CONFIRMED = (255, 48, 48)
PREDICTED = (235, 235, 235)
TEXT = (220, 226, 240)
DIM = (140, 148, 170)
WARN = (255, 190, 80)
PANEL = (0, 0, 0, 170)

HELP = [
    "WASD move   mouse aim   click fire   (the game's controls)",
    "P  prediction on/off",
    "R  reconciliation on/off",
    "I  interpolation on/off",
    "G  ghost of the raw server state",
    "N  net graph",
    "L  lag preset: +0 / 50 / 150 / 300 ms RTT",
    "C  reconnect     F12  screenshot",
    "H  this help     Esc  quit",
]
HELP_LOCKSTEP = [
    "WASD move   mouse aim   click fire",
    "lockstep: your input plays D frames later, on every",
    "client at once; no prediction / reconciliation:",
    "P R G are n/a in lockstep",
    "I  smoothing between frames on/off",
    "N  net graph (frames, delay, buffer, checksums)",
    "L  lag preset: +0 / 50 / 150 / 300 ms RTT",
    "C  reconnect (same slot) / new match     F12  screenshot",
    "H  this help     Esc  quit",
]


def _mix(c, bg, a: float):
    return tuple(int(bg[i] + (c[i] - bg[i]) * a) for i in range(3))


class Renderer:
    """Draws scenes onto a surface; caches text and the static arena."""

    def __init__(self, size: tuple[int, int] = (1280, 720)):
        pygame.font.init()
        self.size = size
        self.font = pygame.font.Font(None, 20)
        self.mono = pygame.font.SysFont("dejavusansmono,monospace", 13) if pygame.font.get_fonts() else self.font
        self.big = pygame.font.Font(None, 40)
        self._text: dict = {}
        self._panel_cache: dict = {}
        self.offset = (0.0, 0.0)  # world px -> screen px of the last frame drawn
        self.units = 1  # world units per pixel of the game on screen
        self._painters: dict = {}

    def painter(self, view):
        p = self._painters.get(id(view))
        if p is None:
            self._painters = {id(view): painter_for(view)}  # one game on screen at a time
            p = self._painters[id(view)]
        return p

    def to_screen(self, x: float, y: float) -> tuple[float, float]:
        """Where a world point (world units) was drawn in the last frame."""
        return x / self.units + self.offset[0], y / self.units + self.offset[1]

    def on_screen(self, pos: np.ndarray, ox: float, oy: float, w: int, h: int, pad: int = 30):
        """Screen x, y of world positions ``pos`` [n, 2] and the rows that are visible."""
        sx = pos[:, 0] / self.units + ox
        sy = pos[:, 1] / self.units + oy
        vis = (sx > -pad) & (sx < w + pad) & (sy > -pad) & (sy < h + pad)
        return sx, sy, np.flatnonzero(vis)

    # ------------------------------------------------------------------ helpers

    def text(self, s: str, color=TEXT, font=None) -> pygame.Surface:
        font = font or self.font
        key = (s, color, id(font))
        surf = self._text.get(key)
        if surf is None:
            if len(self._text) > 2048:
                self._text.clear()
            surf = self._text[key] = font.render(s, True, color)
        return surf

    def panel(self, w: int, h: int) -> pygame.Surface:
        key = (w, h)
        p = self._panel_cache.get(key)
        if p is None:
            p = pygame.Surface((w, h), pygame.SRCALPHA)
            p.fill(PANEL)
            self._panel_cache[key] = p
        return p

    # ------------------------------------------------------------------ frame

    def draw_world(self, surf: pygame.Surface, sc: Scene) -> bool:
        """The game's world and everything in it, without the HUD (what `draw` shows under its HUD); sets
        `offset` for `to_screen`. Returns whether there was a game to draw."""
        w, h = surf.get_size()
        surf.fill(OUTSIDE)
        if sc.view is None:
            return False
        self.units = sc.view.units
        cx, cy = sc.camera
        aw, ah = sc.world_size
        # the camera follows us but stops at the field's edges (no screenfuls of nothing)
        cx = min(max(cx / self.units, w / 2 - 40), aw - w / 2 + 40) if aw + 80 > w else aw / 2
        cy = min(max(cy / self.units, h / 2 - 40), ah - h / 2 + 40) if ah + 80 > h else ah / 2
        # world px -> screen px
        ox = w / 2 - cx
        oy = h / 2 - cy
        self.offset = (ox, oy)
        painter = self.painter(sc.view)
        painter.field(surf, sc, ox, oy, self)
        if sc.others is not None:
            painter.entities(surf, sc, ox, oy, self)
        if sc.ghost is not None:
            painter.ghost(surf, sc, ox, oy, self)
        self._tracers(surf, sc, ox, oy)
        if sc.me is not None:
            painter.me(surf, sc, ox, oy, self)
        self._markers(surf, sc, ox, oy)
        return True

    def draw(self, surf: pygame.Surface, sc: Scene, cursor: tuple[int, int] | None = None) -> None:
        if self.draw_world(surf, sc):
            self._hud(surf, sc)
        if cursor is not None and sc.status == "playing":
            x, y = cursor
            pygame.draw.circle(surf, TEXT, (x, y), 9, 1)
            pygame.draw.line(surf, TEXT, (x - 14, y), (x - 5, y))
            pygame.draw.line(surf, TEXT, (x + 5, y), (x + 14, y))
            pygame.draw.line(surf, TEXT, (x, y - 14), (x, y - 5))
            pygame.draw.line(surf, TEXT, (x, y + 5), (x, y + 14))
        if sc.toggles.net_graph:
            self._net_graph(surf, sc)
        if sc.toggles.help:
            self._help(surf, HELP_LOCKSTEP if sc.mode == "lockstep" else HELP)
        if sc.message:
            self._message(surf, sc)

    def _tracers(self, surf, sc: Scene, ox: float, oy: float) -> None:
        for t in sc.tracers:
            a = max(0.0, 1.0 - (sc.now - t.born) / TRACER_TIME)
            color = _mix(TRACER_OWN if t.own else TRACER_OTHER, BG, 0.25 + 0.75 * a)
            u = self.units
            pygame.draw.line(surf, color, (t.x0 / u + ox, t.y0 / u + oy), (t.x1 / u + ox, t.y1 / u + oy),
                             2 if t.own else 1)

    def _markers(self, surf, sc: Scene, ox: float, oy: float) -> None:
        for m in sc.markers:
            if math.isnan(m.x):
                continue
            age = (sc.now - m.born) / MARKER_TIME
            x, y = m.x / self.units + ox, m.y / self.units + oy
            if m.confirmed:
                # the server's word: a solid red X (bigger on a kill) and the damage
                s = (16 if m.kill else 11) + 6 * age
                color = _mix(CONFIRMED, BG, 1.0 - 0.6 * age)
                for dx, dy in ((1, 1), (1, -1)):
                    pygame.draw.line(surf, color, (x - dx * s, y - dy * s), (x - dx * s * 0.4, y - dy * s * 0.4), 3)
                    pygame.draw.line(surf, color, (x + dx * s * 0.4, y + dy * s * 0.4), (x + dx * s, y + dy * s), 3)
                label = self.text(("KILL " if m.kill else "") + f"-{m.damage}", CONFIRMED)
                surf.blit(label, (x + 14, y - 26 - 12 * age))
            else:
                # our own guess, before the server answers: a thin hollow ring
                pygame.draw.circle(surf, _mix(PREDICTED, BG, 1.0 - 0.7 * age), (round(x), round(y)),
                                   round(17 + 8 * age), 1)

    # ------------------------------------------------------------------ HUD

    def _hud(self, surf, sc: Scene) -> None:
        self.draw_health(surf, sc)
        self.draw_scoreboard(surf, sc.scoreboard, sc.score_columns)
        self.draw_feed(surf, sc.feed)
        self.draw_hud_lines(surf, sc.hud_lines)
        self._mode_line(surf, sc)

    def draw_hud_lines(self, surf, lines: list) -> None:
        """The game's own HUD text, bottom centre."""
        w, h = surf.get_size()
        for i, line in enumerate(reversed(lines)):
            t = self.text(line, TEXT, self.big if i == len(lines) - 1 and len(lines) > 1 else self.font)
            y = h - 40 - 30 * i
            surf.blit(self.panel(t.get_width() + 16, t.get_height() + 6), (w // 2 - t.get_width() // 2 - 8, y - 3))
            surf.blit(t, (w // 2 - t.get_width() // 2, y))

    def draw_health(self, surf, sc: Scene, dead_text: str = "you died") -> None:
        """The health bar (bottom left) of `sc.my_hp`, and `dead_text` in the middle when not `sc.my_alive`."""
        w, h = surf.get_size()
        if not sc.my_alive:
            msg = dead_text + (f" — respawn in {sc.respawn_in:.1f} s" if sc.respawn_in is not None else "")
            t = self.text(msg, WARN, self.big)
            # on its own panel, a third of the way down: clear of the name labels over the players around us
            x, y = w // 2 - t.get_width() // 2, h // 3 - t.get_height()
            surf.blit(self.panel(t.get_width() + 24, t.get_height() + 12), (x - 12, y - 6))
            surf.blit(t, (x, y))
        if sc.max_hp <= 0:
            return  # the game has no health
        bw = 240
        frac = max(0.0, min(1.0, sc.my_hp / max(sc.max_hp, 1)))
        surf.blit(self.panel(bw + 20, 44), (14, h - 58))
        pygame.draw.rect(surf, (70, 24, 24), pygame.Rect(24, h - 48, bw, 14))
        color = (90, 220, 110) if frac > 0.5 else (240, 200, 60) if frac > 0.25 else (240, 70, 60)
        pygame.draw.rect(surf, color, pygame.Rect(24, h - 48, round(bw * frac), 14))
        surf.blit(self.text(f"{sc.bar_label} {sc.my_hp}", TEXT), (26, h - 31))

    def draw_scoreboard(self, surf, board: list, columns: tuple = ()) -> None:
        """Top left: (name, *scores, highlighted) rows, at most 8, under the game's column names."""
        rows = board[:8]
        if rows:
            heads = [c[:6] for c in columns] or [f"s{i}" for i in range(len(rows[0]) - 2)]
            ph = 26 + 18 * len(rows)
            surf.blit(self.panel(170 + 60 * len(heads), ph), (10, 10))
            surf.blit(self.text(f"{'player':<16}" + "".join(f" {c:>6}" for c in heads), DIM, self.mono), (18, 16))
            for i, row in enumerate(rows):
                name, values, me = row[0], row[1:-1], row[-1]
                s = f"{name[:16]:<16}" + "".join(f" {v:6d}" for v in values)
                surf.blit(self.text(s, ME if me else TEXT, self.mono), (18, 34 + 18 * i))

    def draw_feed(self, surf, lines: list, top: int = 12) -> None:
        """Top right: the kill feed, newest last (the last six lines)."""
        w, _ = surf.get_size()
        for i, line in enumerate(lines[-6:]):
            t = self.text(line, TEXT)
            surf.blit(self.panel(t.get_width() + 12, 20), (w - t.get_width() - 22, top + 22 * i))
            surf.blit(t, (w - t.get_width() - 16, top + 3 + 22 * i))

    def _mode_line(self, surf, sc: Scene) -> None:
        w, _ = surf.get_size()
        tg = sc.toggles
        x = w // 2 - 170
        if sc.mode == "lockstep":
            t = self.text("LOCKSTEP   PRED / RECON n/a", ME)
            surf.blit(t, (x, 12))
            x += t.get_width() + 16
            t = self.text("SMOOTH" + (" on" if tg.interpolation else " OFF"), TEXT if tg.interpolation else WARN)
            surf.blit(t, (x, 12))
            x += t.get_width() + 16
        else:
            bits = [("PRED", tg.prediction), ("RECON", tg.reconciliation), ("INTERP", tg.interpolation)]
            for label, on in bits:
                t = self.text(label + (" on" if on else " OFF"), TEXT if on else WARN)
                surf.blit(t, (x, 12))
                x += t.get_width() + 16
        t = self.text(sc.lag_label, WARN if sc.lag_label != "no added lag" else DIM)
        surf.blit(t, (x, 12))
        y = 32
        for line, warn in sc.status_lines:
            t = self.text(line, WARN if warn else TEXT, self.mono)
            surf.blit(self.panel(t.get_width() + 12, 18), (w // 2 - t.get_width() // 2 - 6, y - 1))
            surf.blit(t, (w // 2 - t.get_width() // 2, y))
            y += 18
        if sc.notice:
            t = self.text(sc.notice, WARN)
            surf.blit(self.panel(t.get_width() + 12, 20), (w // 2 - t.get_width() // 2 - 6, y))
            surf.blit(t, (w // 2 - t.get_width() // 2, y + 3))
            y += 22
        hint = self.text("H help", DIM)
        surf.blit(hint, (w // 2 - hint.get_width() // 2, y))

    def _net_graph(self, surf, sc: Scene) -> None:
        w, h = surf.get_size()
        lines = sc.net_lines
        bars_h, lh = 40, 16
        pw = max([392] + [self.text(line, TEXT, self.mono).get_width() + 20 for line in lines])
        ph = lh * len(lines) + bars_h + 24
        x0, y0 = w - pw - 10, h - ph - 10
        surf.blit(self.panel(pw, ph), (x0, y0))
        bars = sc.net_bars[-(pw - 20) // 3:]
        if bars:
            top = max(max(b[0] for b in bars), 1)
            base = y0 + 16 + bars_h
            for i, (size, missing) in enumerate(bars):
                bx = x0 + 10 + 3 * i
                bh = max(1, round((bars_h - 4) * size / top))
                pygame.draw.line(surf, (90, 170, 255), (bx, base), (bx, base - bh), 2)
                if missing:
                    pygame.draw.line(surf, (255, 70, 70), (bx - 2, base), (bx - 2, base - bars_h + 2), 1)
            missing = "input filled" if sc.mode == "lockstep" else "lost"
            surf.blit(self.text(f"{sc.bars_label} (max {top}), red: {missing}", DIM, self.mono), (x0 + 10, y0 + 2))
        for i, line in enumerate(lines):
            surf.blit(self.text(line, TEXT, self.mono), (x0 + 10, y0 + bars_h + 20 + lh * i))

    def _help(self, surf, lines: list) -> None:
        w, h = surf.get_size()
        pw, ph = 400, 24 * len(lines) + 20
        x0, y0 = w // 2 - pw // 2, h // 2 - ph // 2
        surf.blit(self.panel(pw, ph), (x0, y0))
        for i, line in enumerate(lines):
            surf.blit(self.text(line, TEXT), (x0 + 16, y0 + 12 + 24 * i))

    def _message(self, surf, sc: Scene) -> None:
        w, h = surf.get_size()
        t = self.text(sc.message, WARN if sc.status == "lost" else TEXT, self.big)
        pw = t.get_width() + 40
        surf.blit(self.panel(pw, 60), (w // 2 - pw // 2, h // 2 - 30))
        surf.blit(t, (w // 2 - t.get_width() // 2, h // 2 - t.get_height() // 2))
