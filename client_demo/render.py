"""Draws a `Scene` with pygame: arena, walls, players, drones, tracers, hit markers, HUD, net graph.

Only this module and app.py import pygame; everything it draws was decided by session.py.
"""
from __future__ import annotations

import math

import numpy as np
import pygame

from netcode.sim import SUBPX
from netcode.statesync.schema import FLAG_ALIVE, FLAG_NPC

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
    "WASD move   mouse aim   click fire",
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

    def to_screen(self, x_subpx: float, y_subpx: float) -> tuple[float, float]:
        """Where a world point (sub-px) was drawn in the last frame."""
        return x_subpx / SUBPX + self.offset[0], y_subpx / SUBPX + self.offset[1]

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
        """The arena and everything in it, without the HUD (what `draw` shows under its HUD); sets
        `offset` for `to_screen`. Returns whether there was a game to draw."""
        w, h = surf.get_size()
        surf.fill(OUTSIDE)
        cx, cy = sc.camera
        aw, ah = sc.world_size
        # the camera follows us but stops at the arena's edges (no screenfuls of nothing)
        cx = min(max(cx / SUBPX, w / 2 - 40), aw - w / 2 + 40) if aw + 80 > w else aw / 2
        cy = min(max(cy / SUBPX, h / 2 - 40), ah - h / 2 + 40) if ah + 80 > h else ah / 2
        # world px -> screen px
        ox = w / 2 - cx
        oy = h / 2 - cy
        self.offset = (ox, oy)
        if not (sc.walls or sc.me is not None or sc.status == "playing"):
            return False
        self._arena(surf, sc, ox, oy)
        if sc.others is not None:
            self._entities(surf, sc, ox, oy)
        if sc.ghost is not None:
            self._ghost(surf, sc, ox, oy)
        self._tracers(surf, sc, ox, oy)
        if sc.me is not None:
            self._me(surf, sc, ox, oy)
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

    def _arena(self, surf, sc: Scene, ox: float, oy: float) -> None:
        w, h = surf.get_size()
        aw, ah = sc.world_size
        pygame.draw.rect(surf, BG, pygame.Rect(round(ox), round(oy), aw, ah))
        step = 128
        x0 = max(0, int(-ox) // step * step)
        for x in range(x0, min(aw, int(w - ox)) + 1, step):
            pygame.draw.line(surf, GRID, (x + ox, max(oy, 0)), (x + ox, min(oy + ah, h)))
        y0 = max(0, int(-oy) // step * step)
        for y in range(y0, min(ah, int(h - oy)) + 1, step):
            pygame.draw.line(surf, GRID, (max(ox, 0), y + oy), (min(ox + aw, w), y + oy))
        pygame.draw.rect(surf, BORDER, pygame.Rect(round(ox) - 2, round(oy) - 2, aw + 4, ah + 4), 2)
        for x0w, y0w, x1w, y1w in sc.walls:
            r = pygame.Rect(round(x0w + ox), round(y0w + oy), x1w - x0w, y1w - y0w)
            if r.right < 0 or r.bottom < 0 or r.left > w or r.top > h:
                continue
            pygame.draw.rect(surf, WALL, r)
            pygame.draw.rect(surf, WALL_EDGE, r, 2)

    def _screen(self, pos: np.ndarray, ox: float, oy: float, w: int, h: int, pad: int = 30):
        sx = pos[:, 0] / SUBPX + ox
        sy = pos[:, 1] / SUBPX + oy
        vis = (sx > -pad) & (sx < w + pad) & (sy > -pad) & (sy < h + pad)
        return sx, sy, np.flatnonzero(vis)

    def _entities(self, surf, sc: Scene, ox: float, oy: float) -> None:
        f = sc.others
        if not len(f):
            return
        w, h = surf.get_size()
        sx, sy, rows = self._screen(f.pos, ox, oy, w, h)
        if not len(rows):
            return
        flags = f.flags[rows]
        alive = (flags & FLAG_ALIVE) != 0
        npc = (flags & FLAG_NPC) != 0
        xs, ys = sx[rows].round().astype(int).tolist(), sy[rows].round().astype(int).tolist()
        aims = f.aim[rows].tolist()
        hps = f.hp[rows].tolist()
        ids = f.ids[rows].tolist()
        rp, rn = sc.player_radius, sc.npc_radius
        circle, line = pygame.draw.circle, pygame.draw.line
        for x, y, a, hp, is_npc, live, e in zip(xs, ys, aims, hps, npc.tolist(), alive.tolist(), ids):
            if is_npc:
                circle(surf, NPC if live else DIM, (x, y), rn)
                continue
            color = PLAYER if live else DIM
            circle(surf, color, (x, y), rp)
            ang = a * (2 * math.pi / 4096)
            line(surf, _mix(color, (255, 255, 255), 0.5), (x, y),
                 (x + math.cos(ang) * (rp + 8), y + math.sin(ang) * (rp + 8)), 3)
            frac = max(0.0, min(1.0, hp / max(sc.max_hp, 1)))
            pygame.draw.rect(surf, (60, 20, 20), pygame.Rect(x - rp, y - rp - 8, 2 * rp, 3))
            pygame.draw.rect(surf, (90, 220, 90), pygame.Rect(x - rp, y - rp - 8, round(2 * rp * frac), 3))
            label = self.text(sc_name(sc, e), DIM)
            surf.blit(label, (x - label.get_width() // 2, y - rp - 22))

    def _ghost(self, surf, sc: Scene, ox: float, oy: float) -> None:
        g = sc.ghost
        w, h = surf.get_size()
        sx, sy, rows = self._screen(g.pos, ox, oy, w, h)
        npc = (g.flags[rows] & FLAG_NPC) != 0
        for x, y, is_npc, e in zip(sx[rows].tolist(), sy[rows].tolist(), npc.tolist(), g.ids[rows].tolist()):
            me = e == sc.my_slot
            r = sc.npc_radius if is_npc else sc.player_radius
            pygame.draw.circle(surf, GHOST_ME if me else GHOST, (round(x), round(y)), r + 2, 2 if me else 1)

    def _tracers(self, surf, sc: Scene, ox: float, oy: float) -> None:
        for t in sc.tracers:
            a = max(0.0, 1.0 - (sc.now - t.born) / TRACER_TIME)
            color = _mix(TRACER_OWN if t.own else TRACER_OTHER, BG, 0.25 + 0.75 * a)
            pygame.draw.line(surf, color, (t.x0 / SUBPX + ox, t.y0 / SUBPX + oy),
                             (t.x1 / SUBPX + ox, t.y1 / SUBPX + oy), 2 if t.own else 1)

    def _me(self, surf, sc: Scene, ox: float, oy: float) -> None:
        x, y = sc.me[0] / SUBPX + ox, sc.me[1] / SUBPX + oy
        r = sc.player_radius
        p = (round(x), round(y))
        if not sc.my_alive:
            pygame.draw.circle(surf, ME_DARK, p, r, 2)
            return
        pygame.draw.circle(surf, ME, p, r)
        pygame.draw.circle(surf, (255, 255, 255), p, r, 1)
        ang = sc.my_aim * (2 * math.pi / 4096)
        pygame.draw.line(surf, (255, 255, 255), p, (x + math.cos(ang) * (r + 10), y + math.sin(ang) * (r + 10)), 3)

    def _markers(self, surf, sc: Scene, ox: float, oy: float) -> None:
        for m in sc.markers:
            if math.isnan(m.x):
                continue
            age = (sc.now - m.born) / MARKER_TIME
            x, y = m.x / SUBPX + ox, m.y / SUBPX + oy
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
        self.draw_scoreboard(surf, sc.scoreboard)
        self.draw_feed(surf, sc.feed)
        self._mode_line(surf, sc)

    def draw_health(self, surf, sc: Scene, dead_text: str = "you died") -> None:
        """The health bar (bottom left) of `sc.my_hp`, and `dead_text` in the middle when not `sc.my_alive`."""
        w, h = surf.get_size()
        bw = 240
        frac = max(0.0, min(1.0, sc.my_hp / max(sc.max_hp, 1)))
        surf.blit(self.panel(bw + 20, 44), (14, h - 58))
        pygame.draw.rect(surf, (70, 24, 24), pygame.Rect(24, h - 48, bw, 14))
        color = (90, 220, 110) if frac > 0.5 else (240, 200, 60) if frac > 0.25 else (240, 70, 60)
        pygame.draw.rect(surf, color, pygame.Rect(24, h - 48, round(bw * frac), 14))
        surf.blit(self.text(f"HP {sc.my_hp}", TEXT), (26, h - 31))
        if not sc.my_alive:
            msg = dead_text + (f" — respawn in {sc.respawn_in:.1f} s" if sc.respawn_in is not None else "")
            t = self.text(msg, WARN, self.big)
            surf.blit(t, (w // 2 - t.get_width() // 2, h // 2 - 90))

    def draw_scoreboard(self, surf, board: list) -> None:
        """Top left: (name, kills, deaths, highlighted) rows, at most 8."""
        rows = board[:8]
        if rows:
            ph = 26 + 18 * len(rows)
            surf.blit(self.panel(230, ph), (10, 10))
            surf.blit(self.text("player            K   D", DIM, self.mono), (18, 16))
            for i, (name, k, d, me) in enumerate(rows):
                s = f"{name[:16]:<16} {k:3d} {d:3d}"
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


def sc_name(sc: Scene, entity: int) -> str:
    return sc.names.get(entity, f"player {entity}")
