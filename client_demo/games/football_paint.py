"""Draws football with pygame: the pitch with its lines and goals, the two teams, the ball, ourselves."""
from __future__ import annotations

import math

import pygame

from netcode.games.football import F_AIM, F_CHARGE, F_FLAGS, FLAG_AWAY, FLAG_BALL, FLAG_PRESENT

from .paint import Painter

GRASS = (34, 92, 48)
GRASS_DARK = (30, 84, 44)
LINE = (220, 236, 220)
GOAL = (250, 250, 250)
HOME = (70, 150, 255)
AWAY = (240, 90, 80)
BALL = (250, 250, 240)
ME = (255, 230, 90)
DIM = (190, 210, 190)


class FootballPainter(Painter):
    """Football's painter (see client_demo/games/football.py for what decides the picture)."""

    def field(self, surf, sc, ox: float, oy: float, renderer) -> None:
        cfg = self.view.config
        w, h = cfg.width, cfg.height
        x0, y0 = round(ox), round(oy)
        stripe = max(40, w // 16)
        for i in range(0, w, stripe):
            pygame.draw.rect(surf, GRASS if (i // stripe) % 2 == 0 else GRASS_DARK,
                             pygame.Rect(x0 + i, y0, min(stripe, w - i), h))
        pygame.draw.rect(surf, LINE, pygame.Rect(x0, y0, w, h), 3)
        pygame.draw.line(surf, LINE, (x0 + w // 2, y0), (x0 + w // 2, y0 + h), 2)
        pygame.draw.circle(surf, LINE, (x0 + w // 2, y0 + h // 2), max(30, h // 8), 2)
        box_w, box_h = w // 8, cfg.goal_width * 2
        for side in (0, 1):
            bx = x0 if side == 0 else x0 + w - box_w
            pygame.draw.rect(surf, LINE, pygame.Rect(bx, y0 + (h - box_h) // 2, box_w, box_h), 2)
            gx = x0 - 24 if side == 0 else x0 + w
            pygame.draw.rect(surf, GOAL, pygame.Rect(gx, y0 + (h - cfg.goal_width) // 2, 24, cfg.goal_width), 3)

    def _player(self, surf, x, y, row, name, renderer, me=False) -> None:
        cfg = self.view.config
        r = cfg.player_radius
        color = AWAY if row[F_FLAGS] & FLAG_AWAY else HOME
        pygame.draw.circle(surf, color, (x, y), r)
        if me:
            pygame.draw.circle(surf, ME, (x, y), r + 3, 2)
        ang = int(row[F_AIM]) * (2 * math.pi / 4096)
        pygame.draw.line(surf, (255, 255, 255), (x, y), (x + math.cos(ang) * (r + 7), y + math.sin(ang) * (r + 7)), 2)
        charge = int(row[F_CHARGE])
        if charge:
            frac = min(1.0, charge / max(1, cfg.charge_ticks))
            pygame.draw.arc(surf, ME, pygame.Rect(x - r - 6, y - r - 6, 2 * r + 12, 2 * r + 12), 0,
                            2 * math.pi * frac, 3)
        label = renderer.text(name, DIM)
        surf.blit(label, (x - label.get_width() // 2, y - r - 20))

    def entities(self, surf, sc, ox: float, oy: float, renderer) -> None:
        seen = self.on_screen(surf, sc, ox, oy, renderer)
        if seen is None:
            return
        f, sx, sy, rows = seen
        cfg = self.view.config
        for i in rows.tolist():
            row = f.values[i]
            x, y = round(float(sx[i])), round(float(sy[i]))
            if row[F_FLAGS] & FLAG_BALL:
                pygame.draw.circle(surf, (20, 50, 28), (x + 3, y + 3), cfg.ball_radius)
                pygame.draw.circle(surf, BALL, (x, y), cfg.ball_radius)
                pygame.draw.circle(surf, (60, 60, 60), (x, y), cfg.ball_radius, 1)
            elif row[F_FLAGS] & FLAG_PRESENT:
                e = int(f.ids[i])
                self._player(surf, x, y, row, sc.names.get(e, f"player {e}"), renderer)

    def me(self, surf, sc, ox: float, oy: float, renderer) -> None:
        x, y = round(self.scale(sc.me[0]) + ox), round(self.scale(sc.me[1]) + oy)
        row = sc.my_row
        if row is None:
            pygame.draw.circle(surf, ME, (x, y), self.view.config.player_radius, 2)
            return
        row = row.copy()
        row[F_AIM] = sc.my_aim
        self._player(surf, x, y, row, sc.names.get(sc.my_slot, "you"), renderer, me=True)
