"""A whole `World` as a `Scene`: for views that hold the entire game state (the lockstep client, the
replay viewer) rather than a server's snapshots. No pygame, no I/O."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from netcode.interpolation import Frame
from netcode.sim import KIND_NPC, Hit, Kill, ShotFired, World
from netcode.statesync.schema import FLAG_ALIVE, FLAG_NPC

from .scene import FEED_TIME, MARKER_TIME, TRACER_TIME, HitMarker, Scene, Tracer, top_rows


def fill_from_world(sc: Scene, w: World, follow: int | None, recent: Iterable[tuple[float, list]], rate: float,
                    name: Callable[[int], str], slots: Iterable[int], pos: np.ndarray | None = None) -> None:
    """Fill `sc` (its `now` set) from world `w` seen as player `follow` (None: nobody): the arena, everyone
    else as a "latest" frame, tracers, our hit markers and the kill feed from `recent` = (time the step was
    shown, its sim events) on `sc.now`'s clock, and the scoreboard of the player `slots` in the game.
    `pos`: where to draw the entities (default `w.pos`; a smoothed copy between two steps)."""
    pos = w.pos if pos is None else pos
    cfg = w.config
    now = sc.now
    sc.world_size = (cfg.width, cfg.height)
    sc.walls = cfg.walls
    sc.player_radius, sc.npc_radius = cfg.player_radius, cfg.npc_radius
    sc.max_hp = cfg.player_hp
    p = cfg.max_players
    ids = np.flatnonzero(w.active).astype(np.int64)
    me_here = follow is not None and bool(w.active[follow])
    if me_here:
        sc.my_slot = follow
        sc.me = (float(pos[follow, 0]), float(pos[follow, 1]))
        sc.my_aim = int(w.aim[follow])
        sc.my_alive = bool(w.alive[follow])
        sc.my_hp = int(w.hp[follow])
        if not sc.my_alive:
            sc.respawn_in = max(0, int(w.respawn[follow])) / rate
        ids = ids[ids != follow]
    else:
        sc.my_alive = True
    flags = np.where(w.alive[ids], FLAG_ALIVE, 0) | np.where((ids >= p) | (w.kind[ids] == KIND_NPC), FLAG_NPC, 0)
    sc.others = Frame(float(w.tick), "latest", ids, pos[ids].astype(np.int64), w.aim[ids].astype(np.int32),
                      w.hp[ids].astype(np.int32), flags.astype(np.int32), (w.tick, 0))
    recent = list(recent)
    hits: dict[tuple[int, int], HitMarker] = {}
    kills = {(t, e.killer, e.victim) for t, events in recent for e in events or () if type(e) is Kill}
    for t, events in recent:
        age = now - t
        for e in events or ():
            k = type(e)
            if k is ShotFired and age < TRACER_TIME:
                sc.tracers.append(Tracer(e.origin[0], e.origin[1], e.end[0], e.end[1], t, own=e.shooter == follow))
            elif k is Kill and age <= FEED_TIME:
                sc.feed.append(f"{name(e.killer)} > {name(e.victim)}")
            elif k is Hit and age < MARKER_TIME and (follow is None or e.shooter == follow):
                # one marker per target: a burst of hits reads as one growing number
                key = (e.shooter, e.target)
                x, y = (float(pos[e.target, 0]), float(pos[e.target, 1])) if w.active[e.target] else (
                    math.nan, math.nan)
                old = hits.get(key)
                hits[key] = HitMarker(x, y, t, True, e.damage + (old.damage if old else 0),
                                      kill=(t, e.shooter, e.target) in kills or bool(old and old.kill), target=e.target)
    sc.markers = list(hits.values())
    sc.feed = sc.feed[-6:]
    sc.scoreboard = top_rows([(name(s), int(w.score[s]), int(w.deaths[s]), s == follow) for s in slots if w.active[s]])
