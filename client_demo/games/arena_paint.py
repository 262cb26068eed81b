"""Draws the arena with pygame: the floor, walls, players with their aim and health, drones, ourselves."""
from __future__ import annotations

import math

import numpy as np
import pygame

from netcode.games.arena import F_AIM, F_FLAGS, F_HP, FLAG_ALIVE, FLAG_NPC

from .paint import Painter

WALL = (62, 70, 94)
WALL_EDGE = (110, 122, 158)
ME = (70, 200, 255)
ME_DARK = (20, 70, 100)
PLAYER = (240, 96, 72)
NPC = (132, 178, 116)
GHOST = (235, 235, 235)
GHOST_ME = (255, 220, 90)
DIM = (140, 148, 170)


def _mix(c, bg, a: float):
    return tuple(int(bg[i] + (c[i] - bg[i]) * a) for i in range(3))


class ArenaPainter(Painter):
    """The arena's painter (see client_demo/games/arena.py for what decides the picture)."""

    def field(self, surf, sc, ox: float, oy: float, renderer) -> None:
        super().field(surf, sc, ox, oy, renderer)
        w, h = surf.get_size()
        for x0w, y0w, x1w, y1w in self.view.config.walls:
            r = pygame.Rect(round(x0w + ox), round(y0w + oy), x1w - x0w, y1w - y0w)
            if r.right < 0 or r.bottom < 0 or r.left > w or r.top > h:
                continue
            pygame.draw.rect(surf, WALL, r)
            pygame.draw.rect(surf, WALL_EDGE, r, 2)

    def entities(self, surf, sc, ox: float, oy: float, renderer) -> None:
        seen = self.on_screen(surf, sc, ox, oy, renderer)
        if seen is None:
            return
        f, sx, sy, rows = seen
        v = f.values[rows]
        flags = v[:, F_FLAGS]
        alive = (flags & FLAG_ALIVE) != 0
        npc = (flags & FLAG_NPC) != 0
        xs, ys = sx[rows].round().astype(int).tolist(), sy[rows].round().astype(int).tolist()
        aims, hps, ids = v[:, F_AIM].tolist(), v[:, F_HP].tolist(), f.ids[rows].tolist()
        cfg = self.view.config
        rp, rn = cfg.player_radius, cfg.npc_radius
        max_hp = max(cfg.player_hp, 1)
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
            frac = max(0.0, min(1.0, hp / max_hp))
            pygame.draw.rect(surf, (60, 20, 20), pygame.Rect(x - rp, y - rp - 8, 2 * rp, 3))
            pygame.draw.rect(surf, (90, 220, 90), pygame.Rect(x - rp, y - rp - 8, round(2 * rp * frac), 3))
            label = renderer.text(sc.names.get(e, f"player {e}"), DIM)
            surf.blit(label, (x - label.get_width() // 2, y - rp - 22))

    def ghost(self, surf, sc, ox: float, oy: float, renderer) -> None:
        g = sc.ghost
        w, h = surf.get_size()
        sx, sy, rows = renderer.on_screen(g.pos, ox, oy, w, h)
        npc = (g.values[rows, F_FLAGS] & FLAG_NPC) != 0 if len(rows) else np.zeros(0, bool)
        cfg = self.view.config
        for x, y, is_npc, e in zip(sx[rows].tolist(), sy[rows].tolist(), npc.tolist(), g.ids[rows].tolist()):
            me = e == sc.my_slot
            r = cfg.npc_radius if is_npc else cfg.player_radius
            pygame.draw.circle(surf, GHOST_ME if me else GHOST, (round(x), round(y)), r + 2, 2 if me else 1)

    def me(self, surf, sc, ox: float, oy: float, renderer) -> None:
        x, y = self.scale(sc.me[0]) + ox, self.scale(sc.me[1]) + oy
        r = self.view.config.player_radius
        p = (round(x), round(y))
        if not sc.my_alive:
            pygame.draw.circle(surf, ME_DARK, p, r, 2)
            return
        pygame.draw.circle(surf, ME, p, r)
        pygame.draw.circle(surf, (255, 255, 255), p, r, 1)
        ang = sc.my_aim * (2 * math.pi / 4096)
        pygame.draw.line(surf, (255, 255, 255), p, (x + math.cos(ang) * (r + 10), y + math.sin(ang) * (r + 10)), 3)
