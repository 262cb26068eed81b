"""The generic painter: a game without a painter of its own is drawn as a field with dots (pygame)."""
from __future__ import annotations

import pygame

BG = (16, 18, 26)
GRID = (27, 31, 43)
BORDER = (90, 100, 130)
ME = (70, 200, 255)
OTHER = (240, 96, 72)
GHOST = (235, 235, 235)
GHOST_ME = (255, 220, 90)


class Painter:
    """Draws a Scene's world with ``renderer`` helpers: the field, the entities, our own, the ghost."""

    radius_px = 8

    def __init__(self, view):
        self.view = view

    def scale(self, v: float) -> float:
        return v / self.view.units

    def field(self, surf, sc, ox: float, oy: float, renderer) -> None:
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

    @staticmethod
    def on_screen(surf, sc, ox: float, oy: float, renderer):
        """(frame, screen x, screen y, rows on screen) of the others, or None when none is drawn."""
        f = sc.others
        if f is None or not len(f):
            return None
        w, h = surf.get_size()
        sx, sy, rows = renderer.on_screen(f.pos, ox, oy, w, h)
        return (f, sx, sy, rows) if len(rows) else None

    def entities(self, surf, sc, ox: float, oy: float, renderer) -> None:
        seen = self.on_screen(surf, sc, ox, oy, renderer)
        if seen is None:
            return
        f, sx, sy, rows = seen
        for x, y in zip(sx[rows].tolist(), sy[rows].tolist()):
            pygame.draw.circle(surf, OTHER, (round(x), round(y)), self.radius_px)

    def ghost(self, surf, sc, ox: float, oy: float, renderer) -> None:
        g = sc.ghost
        w, h = surf.get_size()
        sx, sy, rows = renderer.on_screen(g.pos, ox, oy, w, h)
        for x, y, e in zip(sx[rows].tolist(), sy[rows].tolist(), g.ids[rows].tolist()):
            me = e == sc.my_slot
            pygame.draw.circle(surf, GHOST_ME if me else GHOST, (round(x), round(y)), self.radius_px + 2, 2 if me else 1)

    def me(self, surf, sc, ox: float, oy: float, renderer) -> None:
        x, y = self.scale(sc.me[0]) + ox, self.scale(sc.me[1]) + oy
        pygame.draw.circle(surf, ME, (round(x), round(y)), self.radius_px)
        pygame.draw.circle(surf, (255, 255, 255), (round(x), round(y)), self.radius_px, 1)
