"""`netcode bench rewind`: hit agreement between what shooters see and what the server rules.

Bots strafe and shoot at each other through the seeded network simulator, in virtual time. Each
bot draws the others exactly as the pygame client does (netcode.interpolation), aims at a drawn
target from its predicted position (netcode.prediction) and sends the view it drew with the shot.
Its own verdict is a ray cast against the hitboxes it drew; the server's verdict comes back in
SHOT_RESULT. Runs at RTTs of 0, 50, 150 and 300 ms (±20 ms jitter), with and without 2 % loss,
with lag compensation on and off.

- agreement: of the shots the shooter's view says hit, the fraction the server confirms (same target);
- false hits: server hits on shots whose shooter's view missed, as a fraction of all judged shots.

Weapon damage is 0 in this scenario so nobody dies: a target that died between the view and the
shot is a legitimate disagreement, but it measures the game, not the rewind.
"""
from __future__ import annotations

import math

import numpy as np

from ..interpolation import Interpolator
from ..netsim import LinkConfig
from ..prediction import Predictor
from ..rewind import RewindConfig, bench_rewind_cost
from ..sim import BUTTON_FIRE, PlayerInput, SimConfig, cast_rays, entity_radii, walls_array
from ..sim.fixed import ANGLE_FULL, SUBPX
from ..statesync.client import StateSyncClient
from ..statesync.events import ShotResult, SnapshotReceived
from ..statesync.schema import FLAG_ALIVE, FLAG_FIRED, FLAG_NPC
from ..statesync.server import ServerConfig, StateSyncServer
from ..virtual import VirtualNetwork

RTTS_MS = (0, 50, 150, 300)


def _aim(dx: float, dy: float) -> int:
    return int(round(math.atan2(dy, dx) / (2 * math.pi) * ANGLE_FULL)) % ANGLE_FULL


class _Shooter:
    """One bot: client, interpolator, predictor, and its record of shots and verdicts."""

    def __init__(self, index: int, seed: int):
        self.client = StateSyncClient(("server", 0), name=f"s{index}", nonce=index + 1)
        self.index = index
        self.rng = np.random.default_rng(seed * 100 + index)
        self.interp: Interpolator | None = None
        self.pred: Predictor | None = None
        self.frames: dict[int, tuple] = {}  # input tick -> (frame ids, frame pos) the shot was aimed in
        self.client_verdict: dict[int, int] = {}  # tick -> target id or -1
        self.server_verdict: dict[int, int] = {}
        self.strafe = 1
        self.strafe_left = 0

    def attach(self, net: VirtualNetwork) -> None:
        self.client.connect(net.now)
        net.add(("bot", self.index), self)

    # a sans-IO endpoint wrapping the client
    def receive_datagram(self, data, addr, now):
        self.client.receive_datagram(data, addr, now)

    def datagrams_to_send(self, now):
        return self.client.datagrams_to_send(now)

    def update(self, now: float) -> None:
        c = self.client
        c.transport.update(now)
        c.on_events(c.transport.events(), now)
        for e in c.events():
            if type(e).__name__ == "Welcome":
                self.interp = Interpolator(e.tick_rate, e.snapshot_every)
                self.pred = Predictor(e.sim, e.slot)
                self.sim = SimConfig.from_dict(e.sim)
                self.radii = entity_radii(self.sim)
                self.walls = walls_array(self.sim)
            elif isinstance(e, SnapshotReceived) and self.interp is not None:
                self.interp.on_snapshot(e.tick, e.table, now)
                row = np.searchsorted(e.table.ids, c.welcome.slot)
                if row < len(e.table.ids) and e.table.ids[row] == c.welcome.slot:
                    x, y, aim, hp, flags = e.table.values[row].tolist()
                    self.pred.on_snapshot(e.tick, x, y, aim, hp, bool(flags & FLAG_ALIVE), now, e.input_tick,
                                          fired=bool(flags & FLAG_FIRED))
            elif isinstance(e, ShotResult):
                self.server_verdict[e.tick] = e.target
        if self.pred is None or not self.pred.ready:
            return
        frame = self.interp.sample(now)
        me = self.pred.predicted_state()
        inp = PlayerInput(self._strafe(), 0, 0, 0)
        if frame.mode == "interpolate" and me is not None and len(frame):
            others = (frame.ids != c.welcome.slot) & ((frame.flags & FLAG_ALIVE) != 0) & ((frame.flags & FLAG_NPC) == 0)
            if others.any():
                d = frame.pos[others] - np.array([me.x, me.y])
                i = int(np.argmin((d * d).sum(axis=1)))
                inp = PlayerInput(inp.move_x, 0, _aim(float(d[i, 0]), float(d[i, 1])), BUTTON_FIRE)
        c.next_input = inp
        c.view = frame.view
        for t in c.send_inputs(now):
            self.frames[t] = (frame.ids, frame.pos, frame.flags)
            self.pred.on_input(t, c.next_input)
        for shot in self.pred.take_shots():
            self._judge_locally(shot)

    def _strafe(self) -> int:
        self.strafe_left -= 1
        if self.strafe_left <= 0:
            self.strafe = -self.strafe
            self.strafe_left = int(self.rng.integers(20, 120))
        return self.strafe

    def _judge_locally(self, shot) -> None:
        """What the shooter's own screen says: the ray against the hitboxes it drew."""
        drawn = self.frames.get(shot.tick)
        if drawn is None:
            return
        ids, pos, flags = drawn
        slot = self.client.welcome.slot
        mask = (ids != slot) & ((flags & FLAG_ALIVE) != 0)
        origin = np.array([shot.origin], dtype=np.int64)
        aim = np.array([self._aim_of(shot.tick)], dtype=np.int64)
        hit, _ = cast_rays(origin, aim, self.sim.weapon_range * SUBPX, pos, self.radii[ids.astype(np.int64)],
                           mask, self.walls, bounds=(self.sim.width * SUBPX, self.sim.height * SUBPX))
        self.client_verdict[shot.tick] = int(ids[hit[0]]) if hit[0] >= 0 else -1

    def _aim_of(self, tick: int) -> int:
        for ti in reversed(self.client.sent_inputs):
            if ti.tick == tick:
                return ti.input.aim
        return 0


def run_agreement(rtt_ms: float, rewind: bool, loss: float, seconds: float = 20.0, bots: int = 8,
                  seed: int = 1) -> dict:
    """One scenario; returns agreement, false-hit rate and counts."""
    link = LinkConfig(latency=rtt_ms / 2000, jitter=0.010, loss=loss)
    net = VirtualNetwork(link, seed=seed, step=1 / 240)
    sim = SimConfig.arena(npc_count=0, seed=seed, width=1600, height=1600, weapon_damage=0)
    server = StateSyncServer(sim, ServerConfig(rewind=RewindConfig(enabled=rewind)), secret=b"rewind-bench-secret!")
    net.add(("server", 0), server)
    shooters = [_Shooter(i, seed) for i in range(bots)]
    for s in shooters:
        s.attach(net)
    net.advance(seconds)
    claimed = confirmed = judged = false_hits = 0
    for s in shooters:
        warm = 3.0 * sim.tick_rate  # the first seconds: joining, clock sync, interpolation warm-up
        for t, mine in s.client_verdict.items():
            theirs = s.server_verdict.get(t)
            if theirs is None or t < warm:
                continue  # the server fired no such shot (a lost input), or still warming up
            judged += 1
            if mine >= 0:
                claimed += 1
                confirmed += theirs == mine
            elif theirs >= 0:
                false_hits += 1
    totals = server.lagcomp.totals()
    return {"rtt_ms": rtt_ms, "rewind": rewind, "loss": loss, "shots_judged": judged, "view_hits": claimed,
            "confirmed": confirmed, "agreement": confirmed / claimed if claimed else float("nan"),
            "false_hits": false_hits, "false_hit_rate": false_hits / judged if judged else float("nan"),
            "clamped": totals.get("clamped", 0), "rejected_future": totals.get("rejected_future", 0)}


def bench(quick: bool = False, progress=None) -> dict:
    seconds = 5.0 if quick else 20.0
    runs = []
    for loss in (0.0, 0.02):
        for rtt in ((150,) if quick else RTTS_MS):
            for rewind in (True, False):
                runs.append(run_agreement(rtt, rewind, loss, seconds))
                if progress:
                    progress()
    metrics = {}
    for r in runs:
        tag = f"{'on' if r['rewind'] else 'off'}_{r['rtt_ms']}ms" + ("_loss2" if r["loss"] else "")
        metrics[f"agreement_{tag}"] = r["agreement"]
    on = [r for r in runs if r["rewind"]]
    metrics["false_hit_rate_on"] = sum(r["false_hits"] for r in on) / max(1, sum(r["shots_judged"] for r in on))
    off = [r for r in runs if not r["rewind"]]
    metrics["false_hit_rate_off"] = sum(r["false_hits"] for r in off) / max(1, sum(r["shots_judged"] for r in off))
    cost = bench_rewind_cost(n_players=128)
    metrics["rewind_us_per_shot_128p"] = cost["rewind_us_per_shot_128p"]
    return {"suite": "rewind", "metrics": metrics, "runs": runs,
            "scenario": {"bots": 8, "seconds": seconds, "jitter_ms": "±20 (RTT)", "loss": [0.0, 0.02],
                         "weapon_damage": 0}}
