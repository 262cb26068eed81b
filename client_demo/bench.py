"""A scripted session without a network, for render tests and the frame-time benchmark.

`python -m client_demo.bench [N]` measures one frame of the client — snapshot decode,
interpolation, prediction, shot tests and drawing — with N entities on screen, under the
dummy video driver.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from netcode.games.arena import FLAG_ALIVE, FLAG_FIRED, FLAG_NPC, GAME, SUBPX, PlayerInput, SimConfig
from netcode.game import spec_of
from netcode.statesync import messages as msg
from netcode.statesync.events import Welcome
from netcode.wire.snapshot import EntityTable, encode_snapshot

from .session import ClientSession, Toggles

TICK_RATE = 60


class ScriptedMatch:
    """Feeds a ClientSession a Welcome and a moving crowd of `n` entities (us included) around our player,
    as real encoded SNAPSHOT messages (delta against the previous one), one per tick."""

    def __init__(self, n: int = 500, players: int = 12, seed: int = 0, toggles: Toggles | None = None,
                 spread=(600, 330), walk: bool = False):
        npcs = max(0, n - players - 1)  # n entities in all: us, `players` others and drones
        self.sim = SimConfig.arena(npc_count=npcs, max_players=max(players + 1, 16))
        self.session = ClientSession(("scripted", 0), "you", toggles=toggles or Toggles())
        self.slot = 0
        self.rng = np.random.default_rng(seed)
        cx, cy = 2048, 1400  # open floor between the walls of the standard arena
        ids = np.concatenate([np.arange(0, players + 1), np.arange(self.sim.max_players, self.sim.max_players + npcs)])
        self.ids = ids.astype(np.uint32)
        m = len(ids)
        self.pos = np.column_stack([cx + self.rng.uniform(-spread[0], spread[0], m),
                                    cy + self.rng.uniform(-spread[1], spread[1], m)]) * SUBPX
        self.pos[0] = (cx * SUBPX, cy * SUBPX)
        self.vel = self.rng.uniform(-4, 4, (m, 2)) * SUBPX / 2
        self.vel[0] = 0
        self.flags = np.where(ids >= self.sim.max_players, FLAG_NPC | FLAG_ALIVE, FLAG_ALIVE)
        self.aim = self.rng.integers(0, 4096, m)
        self.tick = 0
        self.now = 0.0
        self._prev: EntityTable | None = None
        w = Welcome(1, self.slot, 12345, 0, TICK_RATE, 1, 600, GAME, self.sim, spec_of(GAME), GAME.score_columns)
        self.session.client.welcome = w
        self.session.client.game = GAME
        self.session.client.codec = msg.InputCodec(GAME.inputs, GAME.action_field)
        self.session.on_events([w], 0.0)
        self.move = (0, 0)
        self.walk = walk  # False: we stand in the middle of the crowd, turning and firing

    def step(self) -> None:
        """One server tick: move the crowd, make a snapshot, deliver it; our input for the tick."""
        self.tick += 1
        self.now = self.tick / TICK_RATE + 0.05
        c = self.session.client
        t = self.tick
        if self.walk and t % 45 == 0:
            self.move = (int(self.rng.integers(-1, 2)), int(self.rng.integers(-1, 2)))
        fire = 1 if t % 12 == 0 else 0
        c.sent_inputs.append(msg.TickInput(t + 6, PlayerInput(self.move[0], self.move[1], (t * 13) % 4096, fire).pack()))
        self.pos[1:] += self.vel[1:]
        out = (np.abs(self.pos[1:] - self.pos[0]) > np.array([620, 350]) * SUBPX).any(axis=1)
        self.vel[1:][out] *= -1
        flags = self.flags.copy()
        flags[self.rng.random(len(flags)) < 0.01] |= FLAG_FIRED
        flags[0] = FLAG_ALIVE
        values = np.column_stack([self.pos.astype(np.int32), self.aim, np.full(len(self.ids), 100), flags])
        if self._prev is None:
            # our own row: where the prediction will put us (the scripted server agrees with it)
            values[0, 0:2] = self.pos[0]
        else:
            p = self.session.predictor
            st = p.history.get(t) if p is not None else None
            if st is not None:
                values[0, 0:2] = st[0, 0:2]
            else:
                values[0, 0:2] = self._prev.values[0, 0:2]
        table = EntityTable(self.ids, values.astype(np.int32))
        base_tick = t - 1 if self._prev is not None else None
        body = encode_snapshot(t, table, base_tick, self._prev)
        data = msg.encode_snapshot_message(t, 0.004, body)
        self._prev = table
        c._on_message(1, data, self.now)
        self.session.on_events(c.events(), self.now)

    def warm(self, ticks: int = 30) -> None:
        for _ in range(ticks):
            self.step()


def frame_benchmark(n: int = 500, frames: int = 300, size=(1280, 720), net_graph: bool = True) -> dict:
    """Per-frame time of snapshot handling + session logic + drawing with `n` entities in view."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from .app import _import_pygame
    from .render import Renderer

    pg = _import_pygame()
    pg.display.init()
    surface = pg.display.set_mode(size)
    renderer = Renderer(size)
    match = ScriptedMatch(n, toggles=Toggles(net_graph=net_graph))
    match.warm()
    times, logic, drawn = [], [], []
    for _ in range(frames):
        t0 = time.perf_counter()
        match.step()
        scene = match.session.frame(match.now + 0.008)
        t1 = time.perf_counter()
        renderer.draw(surface, scene)
        t2 = time.perf_counter()
        times.append(t2 - t0)
        logic.append(t1 - t0)
        w, h = size
        pos = scene.others.pos
        on = ((np.abs(pos[:, 0] - scene.camera[0]) < w / 2 * SUBPX) & (np.abs(pos[:, 1] - scene.camera[1]) < h / 2 * SUBPX))
        drawn.append(int(on.sum()) + 1)  # + ourselves
        match.session.note_frame(match.now, t2 - t0)
    pg.display.quit()
    t = np.array(times) * 1000
    return {"entities": n, "visible_mean": float(np.mean(drawn)), "frames": frames,
            "frame_ms_mean": float(t.mean()), "frame_ms_p50": float(np.percentile(t, 50)),
            "frame_ms_p99": float(np.percentile(t, 99)), "logic_ms_mean": float(np.mean(logic) * 1000),
            "render_ms_mean": float(t.mean() - np.mean(logic) * 1000),
            "fps_equivalent": 1000.0 / float(t.mean())}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    r = frame_benchmark(n)
    print(f"{r['entities']} entities ({r['visible_mean']:.0f} on screen): frame {r['frame_ms_mean']:.2f} ms mean, "
          f"p50 {r['frame_ms_p50']:.2f}, p99 {r['frame_ms_p99']:.2f} (logic {r['logic_ms_mean']:.2f} + render "
          f"{r['render_ms_mean']:.2f}) = {r['fps_equivalent']:.0f} fps")
    if not math.isfinite(r["frame_ms_mean"]):
        sys.exit(1)
