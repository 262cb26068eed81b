"""The arena as the demo client shows it: WASD and mouse aim, tracers, hit markers, a kill feed, health.

Others' shots appear (FLAG_FIRED + aim) when the render time reaches the tick they were fired; our own
are drawn the moment our prediction fires them, tested against the very picture whose view the input
carried (what the server rewinds to), and the server's verdict comes back as a confirmed hit marker.
"""
from __future__ import annotations

import math
from collections import Counter, deque

import numpy as np

from netcode.games.arena import (F_AIM, F_FLAGS, F_HP, F_X, F_Y, FLAG_ALIVE, FLAG_FIRED, FLAG_NPC, INPUTS, Hit,
                                 Kill, ShotFired)

from ..scene import FEED_TIME, MARKER_TIME, TRACER_TIME, HitMarker, Tracer
from .base import Controls, GameView, Me

_MAX_TRACERS = 200


class ArenaView(GameView):
    """The arena's client view (its painter: arena_paint.ArenaPainter)."""

    name = "arena"
    painter = "client_demo.games.arena_paint:ArenaPainter"

    def __init__(self, game, config):
        super().__init__(game, config)
        self._pending_fire: deque = deque()  # (tick, ids, xs, ys, aims) of others' shots not drawn yet
        self._drone_kills: Counter = Counter()  # killer -> drones downed since the last feed summary

    # ------------------------------------------------------------------ input, HUD

    def input(self, c: Controls) -> int:
        return INPUTS.pack((c.move_x, c.move_y, int(c.fire), c.aim & 4095))

    def me(self, row) -> Me:
        if row is None:
            return Me(True, 0, self.config.player_hp)
        return Me(bool(row[F_FLAGS] & FLAG_ALIVE), int(row[F_HP]), self.config.player_hp)

    def aim_of(self, row) -> int:
        return int(row[F_AIM])

    def entity_name(self, entity: int, names: dict) -> str:
        p = self.config.max_players
        if entity >= p:
            return f"drone {entity - p}"
        return names.get(entity, f"player {entity}")

    def respawn_ticks(self) -> int | None:
        return int(self.config.respawn_ticks)

    def respawn_in(self, world, slot: int, rate: float) -> float | None:
        if world.alive[slot]:
            return None
        return max(0, int(world.respawn[slot])) / rate

    # ------------------------------------------------------------------ ray tests of what is drawn

    def _radii(self, flags) -> np.ndarray:
        c = self.config
        return np.where(flags & FLAG_NPC, c.npc_radius * self.units, c.player_radius * self.units).astype(np.int64)

    def _cast(self, origin, aim: int, frame, exclude: int = -1) -> tuple[int, tuple[float, float]]:
        """(entity hit or -1, end point) of a ray from ``origin`` against what ``frame`` draws."""
        packed = INPUTS.pack((0, 0, 1, int(aim) & 4095))
        hit, end = self.game.local_action(self.config, frame.ids, frame.values, exclude, packed,
                                          origin=(int(origin[0]), int(origin[1])))
        return hit, end

    # ------------------------------------------------------------------ state sync

    def feed_line(self, item: list, name) -> str | None:
        if item[0] == "kill" and len(item) >= 4:
            killer, victim = int(item[2]), int(item[3])
            if victim >= self.config.max_players:  # a drone: hundreds of these would bury the players' kills
                self._drone_kills[killer] += 1
                return None
            return f"{name(killer)} > {name(victim)}"
        return None

    def feed_summary(self, name) -> str | None:
        if not self._drone_kills:
            return None
        top = self._drone_kills.most_common(3)
        total = sum(self._drone_kills.values())
        self._drone_kills.clear()
        return f"drones down: {total} (" + ", ".join(f"{name(k)} {n}" for k, n in top) + (
            ", ..." if len(top) == 3 and total > sum(n for _, n in top) else "") + ")"

    def on_feed(self, item: list, now: float, me: int, drawn_at) -> None:
        kind = item[0]
        if kind == "kill" and len(item) >= 4 and int(item[2]) == me:
            for mk in self.markers:
                if mk.confirmed and mk.target == int(item[3]):
                    mk.kill = True
        elif kind == "hit" and len(item) >= 5 and int(item[2]) == me:
            target = int(item[3])
            x, y = drawn_at(target)
            # one marker per target: a burst of hits reads as one growing number
            old = [mk for mk in self.markers if mk.confirmed and mk.target == target]
            damage = int(item[4]) + sum(mk.damage for mk in old)
            self.markers = [mk for mk in self.markers if not (mk.confirmed and mk.target == target)]
            self.markers.append(HitMarker(x, y, now, True, damage, target=target))

    def on_snapshot(self, tick: int, table, me: int) -> None:
        if not len(table):
            return
        fired = np.flatnonzero(table.values[:, F_FLAGS] & FLAG_FIRED)
        if len(fired):
            v = table.values[fired]
            self._pending_fire.append((tick, table.ids[fired].astype(np.int64), v[:, F_X].astype(np.int64),
                                       v[:, F_Y].astype(np.int64), v[:, F_AIM].astype(np.int64)))
        while len(self._pending_fire) > 64:
            self._pending_fire.popleft()

    def on_predicted(self, events: list, now: float, seen, me: int, inputs: dict) -> dict[int, int]:
        """Our shots as the prediction fires them, tested against the picture each input carried the view of."""
        local = {}
        shots = [e for e in events if type(e) is ShotFired]
        for shot in shots[-4:]:
            frame = seen(shot.tick)
            if frame is None:
                continue
            aim = INPUTS.field(inputs.get(shot.tick, 0), "aim")
            target, end = self._cast(shot.origin, aim, frame, me)
            local[shot.tick] = target
            self.tracers.append(Tracer(shot.origin[0], shot.origin[1], end[0], end[1], now, own=True, predicted=True))
            if target >= 0:
                r = frame.row(target)
                if r is not None:
                    self.markers.append(HitMarker(float(frame.pos[r, 0]), float(frame.pos[r, 1]), now, False))
        return local

    def effects(self, now: float, frame, me: int, own_predicted: bool):
        """Others' shots appear when the render time reaches the tick they were fired."""
        q = self._pending_fire
        upto = frame.render_tick if frame is not None and frame.mode != "latest" else float("inf")
        while q and q[0][0] <= upto:
            tick, ids, xs, ys, aims = q.popleft()
            if len(self.tracers) > _MAX_TRACERS or frame is None:
                continue
            for e, x, y, a in zip(ids.tolist(), xs.tolist(), ys.tolist(), aims.tolist()):
                if e == me and own_predicted:
                    continue  # our own shots were drawn when we fired them
                _, end = self._cast((x, y), a, frame, e)
                self.tracers.append(Tracer(x, y, end[0], end[1], now, own=e == me))
        return super().effects(now, frame, me, own_predicted)

    # ------------------------------------------------------------------ whole worlds (lockstep, replays)

    def world_effects(self, recent, now: float, follow: int | None, pos, name):
        """Tracers, our hit markers and the kill feed from ``recent`` = (time the step was shown, its events)."""
        tracers, feed = [], []
        drones: Counter = Counter()  # drone kills in the feed window, summed up in one line
        hits: dict[tuple[int, int], HitMarker] = {}
        recent = list(recent)
        kills = {(t, e.killer, e.victim) for t, events in recent for e in events or () if type(e) is Kill}
        for t, events in recent:
            age = now - t
            for e in events or ():
                k = type(e)
                if k is ShotFired and age < TRACER_TIME:
                    tracers.append(Tracer(e.origin[0], e.origin[1], e.end[0], e.end[1], t, own=e.shooter == follow))
                elif k is Kill and age <= FEED_TIME:
                    if e.victim >= self.config.max_players:
                        drones[e.killer] += 1
                    else:
                        feed.append(f"{name(e.killer)} > {name(e.victim)}")
                elif k is Hit and age < MARKER_TIME and (follow is None or e.shooter == follow):
                    # one marker per target: a burst of hits reads as one growing number
                    key = (e.shooter, e.target)
                    x, y = (float(pos[e.target, 0]), float(pos[e.target, 1])) if e.target < len(pos) else (
                        math.nan, math.nan)
                    old = hits.get(key)
                    hits[key] = HitMarker(x, y, t, True, e.damage + (old.damage if old else 0),
                                          kill=(t, e.shooter, e.target) in kills or bool(old and old.kill),
                                          target=e.target)
        if drones:
            self._drone_kills = drones
            feed.append(self.feed_summary(name))
        return tracers, list(hits.values()), feed[-6:]
