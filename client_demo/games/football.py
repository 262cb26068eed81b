"""Football as the demo client shows it: WASD runs (shift sprints), the mouse aims, holding the button
charges a kick; the score, the kick-off countdown, our stamina and charge on the HUD; goals in the feed.

Our player and the ball are predicted (netcode.games.football.prediction): both are drawn in our own
time frame, so a touch or a kick moves the ball at once; everyone else is interpolated in the past.
"""
from __future__ import annotations

import math

from netcode.games.football import F_AIM, F_CHARGE, F_FLAGS, F_STAMINA, FLAG_BALL, INPUTS, Goal

from ..scene import FEED_TIME
from .base import Controls, GameView, Me

TEAMS = ("home", "away")


class FootballView(GameView):
    """Football's client view (its painter: football_paint.FootballPainter)."""

    name = "football"
    painter = "client_demo.games.football_paint:FootballPainter"

    def __init__(self, game, config):
        super().__init__(game, config)
        self._heading = 0

    def input(self, c: Controls) -> int:
        moving = c.move_x or c.move_y
        if moving:
            self._heading = int(round(math.atan2(c.move_y, c.move_x) / (2 * math.pi) * 256)) % 256
        throttle = (3 if c.sprint else 2) if moving else 0
        return INPUTS.pack((self._heading, throttle, int(c.fire), c.aim & 4095))

    def me(self, row) -> Me:
        if row is None:
            return Me(True, 0, 0)
        return Me(True, int(row[F_STAMINA]), self.config.stamina, "stamina")

    def aim_of(self, row) -> int:
        return int(row[F_AIM])

    def entity_name(self, entity: int, names: dict) -> str:
        if entity == self.config.ball:
            return "the ball"
        return names.get(entity, f"player {entity}")

    def feed_line(self, item: list, name) -> str | None:
        if item[0] == "goal" and len(item) >= 4:
            team, scorer = int(item[2]), int(item[3])
            return f"GOAL {TEAMS[team]}" + (f": {name(scorer)}" if scorer >= 0 else " (own goal)")
        return None

    def world_effects(self, recent, now: float, follow, pos, name):
        feed = [self.feed_line(["goal", e.tick, e.team, e.scorer], name)
                for t, events in recent if now - t <= FEED_TIME for e in events or () if type(e) is Goal]
        return [], [], feed[-6:]

    def hud_lines(self, frame, me: int) -> list[str]:
        if frame is None:
            return []
        rows = [i for i in range(len(frame)) if frame.values[i, F_FLAGS] & FLAG_BALL]
        lines = []
        if rows:
            ball = frame.values[rows[0]]
            home, away = int(ball[F_CHARGE]), int(ball[F_STAMINA])
            kickoff = int(ball[F_AIM])
            lines.append(f"HOME {home} : {away} AWAY" + (f"   kick-off in {kickoff / self.config.tick_rate:.1f} s"
                                                          if kickoff else ""))
        return lines
